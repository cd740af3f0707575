// A small test runner: every public static method marked [Test] in this
// assembly runs on its own thread with a generous liveness timeout.
// Prints one line per test and closes with "N passed, N failed".
//   mono UrocketTests.exe --facts tests/abi/abi_facts.json [name-filter]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Threading;

namespace Urocket.Tests
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TestAttribute : Attribute
    {
        public int TimeoutSeconds = 60;
    }

    public class AssertionException : Exception
    {
        public AssertionException(string m) : base(m) { }
    }

    public static class Assert
    {
        public static void True(bool cond, string what)
        {
            if (!cond) throw new AssertionException(what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new AssertionException(string.Format("{0}: expected {1}, got {2}", what, expected, actual));
        }

        public static TEx Throws<TEx>(Action a, string what) where TEx : Exception
        {
            try { a(); }
            catch (Exception ex)
            {
                var inner = ex;
                while (inner is AggregateException && inner.InnerException != null)
                    inner = inner.InnerException;
                if (inner is TEx)
                    return (TEx)inner;
                throw new AssertionException(string.Format("{0}: expected {1}, got {2}: {3}",
                    what, typeof(TEx).Name, inner.GetType().Name, inner.Message));
            }
            throw new AssertionException(string.Format("{0}: expected {1}, nothing thrown", what, typeof(TEx).Name));
        }

        public static void Bytes(byte[] expected, byte[] actual, string what)
        {
            if (expected.Length != actual.Length)
                throw new AssertionException(string.Format("{0}: length {1} != {2}", what, expected.Length, actual.Length));
            for (int i = 0; i < expected.Length; i++)
                if (expected[i] != actual[i])
                    throw new AssertionException(string.Format("{0}: first difference at byte {1}", what, i));
        }
    }

    public static class TestRunner
    {
        public static string FactsPath;

        public static int Main(string[] args)
        {
            string filter = null;
            for (int i = 0; i < args.Length; i++)
            {
                if (args[i] == "--facts" && i + 1 < args.Length)
                    FactsPath = args[++i];
                else
                    filter = args[i];
            }
            var tests = Assembly.GetExecutingAssembly().GetTypes()
                .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
                .Where(m => m.GetCustomAttributes(typeof(TestAttribute), false).Length > 0)
                .Where(m => filter == null || (m.DeclaringType.Name + "." + m.Name).Contains(filter))
                .OrderBy(m => m.DeclaringType.Name).ThenBy(m => m.Name)
                .ToList();
            int passed = 0, failed = 0;
            foreach (var m in tests)
            {
                string name = m.DeclaringType.Name + "." + m.Name;
                var attr = (TestAttribute)m.GetCustomAttributes(typeof(TestAttribute), false)[0];
                Exception error = null;
                var sw = Stopwatch.StartNew();
                var t = new Thread(() =>
                {
                    try { m.Invoke(null, null); }
                    catch (TargetInvocationException ex) { error = ex.InnerException; }
                    catch (Exception ex) { error = ex; }
                }) { IsBackground = true, Name = name };
                t.Start();
                if (!t.Join(TimeSpan.FromSeconds(attr.TimeoutSeconds)))
                    error = new TimeoutException("no result after " + attr.TimeoutSeconds + " s");
                if (error == null)
                {
                    passed++;
                    Console.WriteLine("PASS {0} ({1} ms)", name, sw.ElapsedMilliseconds);
                }
                else
                {
                    failed++;
                    Console.WriteLine("FAIL {0}: {1}", name, error.GetType().Name + ": " + error.Message);
                    if (!(error is AssertionException))
                        Console.WriteLine(error.StackTrace);
                }
            }
            Console.WriteLine("{0} passed, {1} failed", passed, failed);
            return failed == 0 && passed > 0 ? 0 : 1;
        }
    }

    /// <summary>Just enough JSON for abi_facts.json: objects keep their order.</summary>
    public sealed class Json
    {
        readonly string s;
        int i;

        Json(string s) { this.s = s; }

        public static object Parse(string text)
        {
            var j = new Json(text);
            object v = j.Value();
            j.Space();
            if (j.i != j.s.Length) throw j.Error("trailing text");
            return v;
        }

        Exception Error(string what) { return new FormatException("JSON: " + what + " at " + i); }

        void Space() { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

        object Value()
        {
            Space();
            if (i >= s.Length) throw Error("unexpected end");
            char c = s[i];
            if (c == '{')
            {
                i++;
                var obj = new List<KeyValuePair<string, object>>();
                Space();
                if (s[i] == '}') { i++; return obj; }
                while (true)
                {
                    Space();
                    string key = (string)Value();
                    Space();
                    if (s[i++] != ':') throw Error("':' expected");
                    obj.Add(new KeyValuePair<string, object>(key, Value()));
                    Space();
                    char d = s[i++];
                    if (d == '}') return obj;
                    if (d != ',') throw Error("',' or '}' expected");
                }
            }
            if (c == '[')
            {
                i++;
                var list = new List<object>();
                Space();
                if (s[i] == ']') { i++; return list; }
                while (true)
                {
                    list.Add(Value());
                    Space();
                    char d = s[i++];
                    if (d == ']') return list;
                    if (d != ',') throw Error("',' or ']' expected");
                }
            }
            if (c == '"')
            {
                i++;
                var sb = new System.Text.StringBuilder();
                while (s[i] != '"')
                {
                    if (s[i] == '\\')
                    {
                        i++;
                        char e = s[i];
                        sb.Append(e == 'n' ? '\n' : e == 't' ? '\t' : e);
                    }
                    else sb.Append(s[i]);
                    i++;
                }
                i++;
                return sb.ToString();
            }
            int start = i;
            while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.')) i++;
            string word = s.Substring(start, i - start);
            if (word == "true") return true;
            if (word == "false") return false;
            if (word == "null") return null;
            ulong u;
            if (ulong.TryParse(word, out u)) return u;
            long l;
            if (long.TryParse(word, out l)) return l;
            throw Error("bad value '" + word + "'");
        }

        public static object Get(object obj, string key)
        {
            foreach (var kv in (List<KeyValuePair<string, object>>)obj)
                if (kv.Key == key)
                    return kv.Value;
            throw new KeyNotFoundException(key);
        }

        public static List<KeyValuePair<string, object>> Obj(object o) { return (List<KeyValuePair<string, object>>)o; }
        public static List<object> Arr(object o) { return (List<object>)o; }
    }
}

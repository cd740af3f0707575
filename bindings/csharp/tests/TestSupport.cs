// Helpers shared by the xunit tests: assertions that name what they check,
// the ABI facts file and a small JSON reader for it.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Reflection;
using System.Threading;

namespace Urocket.Tests
{
    public class AssertionException : Exception
    {
        public AssertionException(string m) : base(m) { }
    }

    public static class Check
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

    /// <summary>Collects a server's Error events, so that a handler that faults
    /// in a test where none should fails that test instead of only being logged.</summary>
    public sealed class ServerErrors
    {
        readonly System.Collections.Concurrent.ConcurrentQueue<string> seen =
            new System.Collections.Concurrent.ConcurrentQueue<string>();

        public static ServerErrors Watch(UrkServer server)
        {
            var e = new ServerErrors();
            server.Error += (sender, a) => e.seen.Enqueue("connection " + a.ConnectionId + ": " + a.Exception);
            return e;
        }

        /// <summary>Call after TestEnv.AssertDrained: a faulted handler reports
        /// before its connection is closed, so every fault is in by then.</summary>
        public void AssertNone()
        {
            if (!seen.IsEmpty)
                throw new AssertionException("the server reported " + seen.Count + " error(s): " + string.Join(" | ", seen));
        }
    }

    public static class TestEnv
    {
        /// <summary>Receive buffers a connection may hold beyond MaxHeldBuffers
        /// when its sender is paced: what the kernel's multishot receive fills
        /// while the pause (an async cancel) is on its way. An unpaced sender
        /// can overshoot by up to what TCP lets in meanwhile (the receive
        /// window): see the README's Known issues.</summary>
        public const int PauseSlack = 8;

        /// <summary>Waits (up to 15 s) until no reactor of the engine holds a
        /// connection or a receive buffer: what every test ends with, so a
        /// leaked buffer or connection fails the test that leaked it.</summary>
        public static void AssertDrained(Engine engine)
        {
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (true)
            {
                ulong live = 0, held = 0;
                for (int i = 0; i < engine.ReactorCount; i++)
                {
                    var st = engine.Reactor(i).Stats;
                    live += st.live_conns;
                    held += st.bufs_held;
                }
                if (live == 0 && held == 0)
                    return;
                if (DateTime.UtcNow > deadline)
                    throw new AssertionException(string.Format(
                        "engine not drained: live_conns {0}, bufs_held {1}", live, held));
                System.Threading.Thread.Sleep(20);
            }
        }

        /// <summary>tests/abi/abi_facts.json: URK_ABI_FACTS, else found by
        /// walking up from the test assembly to the repository.</summary>
        public static string FactsPath
        {
            get
            {
                string env = Environment.GetEnvironmentVariable("URK_ABI_FACTS");
                if (!string.IsNullOrEmpty(env))
                    return env;
                for (var d = new System.IO.DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
                {
                    string f = System.IO.Path.Combine(d.FullName, "tests", "abi", "abi_facts.json");
                    if (System.IO.File.Exists(f))
                        return f;
                }
                throw new AssertionException("tests/abi/abi_facts.json not found: set URK_ABI_FACTS");
            }
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

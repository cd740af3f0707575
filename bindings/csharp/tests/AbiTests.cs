// Layout, constant and signature conformance against tests/abi/abi_facts.json,
// which the C compiler produced from urocket.h (tests/abi/abi_facts.c).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class AbiTests
    {
        static object facts;

        static object Facts
        {
            get
            {
                if (facts == null)
                {
                    if (TestEnv.FactsPath == null)
                        throw new AssertionException("run with --facts tests/abi/abi_facts.json");
                    facts = Json.Parse(File.ReadAllText(TestEnv.FactsPath));
                }
                return facts;
            }
        }

        static readonly Assembly Binding = typeof(Native).Assembly;

        static Dictionary<string, Type> StructsByCName()
        {
            var map = new Dictionary<string, Type>();
            foreach (var t in Binding.GetTypes())
            {
                var a = (CNameAttribute)t.GetCustomAttributes(typeof(CNameAttribute), false).FirstOrDefault();
                if (a != null)
                    map.Add(a.Name, t);
            }
            return map;
        }

        static readonly Dictionary<string, Type> Scalars = new Dictionary<string, Type>
        {
            { "uint8_t", typeof(byte) }, { "char", typeof(byte) }, { "uint16_t", typeof(ushort) },
            { "uint32_t", typeof(uint) }, { "int32_t", typeof(int) }, { "int", typeof(int) },
            { "uint64_t", typeof(ulong) }, { "urk_conn_t", typeof(ulong) }, { "int64_t", typeof(long) },
            { "void", typeof(void) }, { "urk_post_fn", typeof(IntPtr) },
        };

        static readonly HashSet<string> Opaque = new HashSet<string>
        { "urk_ring_t", "urk_bufring_t", "urk_engine_t", "urk_reactor_t", "urk_loadgen_t" };

        /// <summary>The C# type a C parameter type must have in Native.</summary>
        static string Expected(string ctype, Dictionary<string, Type> structs)
        {
            string t = ctype.Replace("const ", "").Trim();
            int stars = t.Count(ch => ch == '*');
            string baseName = t.Replace("*", "").Trim();
            Type b;
            if (Opaque.Contains(baseName))
            {
                b = typeof(IntPtr);
                stars--; // a handle is an IntPtr
            }
            else if (baseName == "void" && stars >= 2)
            {
                b = typeof(IntPtr); // void ** (an out pointer) is IntPtr*
                stars--;
            }
            else if (structs.ContainsKey(baseName))
                b = structs[baseName];
            else if (!Scalars.TryGetValue(baseName, out b))
                throw new AssertionException("no C# mapping for C type " + ctype);
            return b.FullName + new string('*', stars);
        }

        [Fact]
        public static void LibraryVersionAndAbi()
        {
            Library.Initialize();
            Check.Equal((ulong)UrkConst.URK_ABI_VERSION, (ulong)Json.Get(Facts, "abi_version"), "facts abi_version");
            Check.Equal(UrkConst.URK_ABI_VERSION, Library.AbiVersion, "loaded library ABI");
            var v = Library.Version;
            Check.Equal((int)UrkConst.URK_VERSION_MAJOR, v.Major, "major");
            Check.Equal((int)UrkConst.URK_VERSION_MINOR, v.Minor, "minor");
            Check.Equal((int)UrkConst.URK_VERSION_PATCH, v.Build, "patch");
            Check.Equal(string.Format("{0}.{1}.{2}", v.Major, v.Minor, v.Build), Library.VersionString, "version string");
            Check.Equal(UrkConst.URK_VERSION_NUMBER, Native.urk_version(), "urk_version()");
            Check.True(Library.CapabilityNames.Contains("multishot_accept"), "kernel has multishot accept");
        }

        [Fact]
        public static void ConstantsMatchTheHeader()
        {
            var fields = typeof(UrkConst).GetFields(BindingFlags.Public | BindingFlags.Static)
                .Where(f => f.IsLiteral).ToDictionary(f => f.Name);
            var consts = Json.Obj(Json.Get(Facts, "constants"));
            foreach (var kv in consts)
            {
                FieldInfo f;
                Check.True(fields.TryGetValue(kv.Key, out f), "UrkConst lacks " + kv.Key);
                ulong actual = Convert.ToUInt64(f.GetRawConstantValue());
                Check.Equal((ulong)kv.Value, actual, kv.Key);
            }
            var extra = fields.Keys.Except(consts.Select(kv => kv.Key)).ToList();
            Check.True(extra.Count == 0, "UrkConst has constants the header lacks: " + string.Join(", ", extra));
            Check.True(consts.Count > 60, "sanity: the whole header was read");
        }

        [Fact]
        public static void StructLayoutsMatchTheHeader()
        {
            var structs = StructsByCName();
            var cstructs = Json.Obj(Json.Get(Facts, "structs"));
            int checkedFields = 0;
            foreach (var kv in cstructs)
            {
                Type t;
                Check.True(structs.TryGetValue(kv.Key, out t), "no C# struct for " + kv.Key);
                Check.Equal((int)(ulong)Json.Get(kv.Value, "size"), Marshal.SizeOf(t), kv.Key + " size");
                var cfields = Json.Arr(Json.Get(kv.Value, "fields"));
                var mfields = t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
                Check.Equal(cfields.Count, mfields.Length, kv.Key + " field count");
                foreach (var cf in cfields)
                {
                    string name = (string)Json.Get(cf, "name");
                    string ctype = (string)Json.Get(cf, "type");
                    var f = t.GetField(name);
                    Check.True(f != null, kv.Key + " lacks field " + name);
                    string where = kv.Key + "." + name;
                    Check.Equal((long)(ulong)Json.Get(cf, "offset"), Marshal.OffsetOf(t, name).ToInt64(), where + " offset");
                    var fo = (FieldOffsetAttribute)f.GetCustomAttributes(typeof(FieldOffsetAttribute), false).FirstOrDefault();
                    Check.True(fo != null && fo.Value == (int)(ulong)Json.Get(cf, "offset"), where + " [FieldOffset]");
                    int size = (int)(ulong)Json.Get(cf, "size");
                    var fixedBuf = (FixedBufferAttribute)f.GetCustomAttributes(typeof(FixedBufferAttribute), false).FirstOrDefault();
                    if (ctype.EndsWith("]"))
                    {
                        Check.True(fixedBuf != null, where + " should be a fixed buffer");
                        string elem = ctype.Substring(0, ctype.IndexOf('['));
                        int count = int.Parse(ctype.Substring(ctype.IndexOf('[') + 1).TrimEnd(']'));
                        Check.Equal(Scalars[elem], fixedBuf.ElementType, where + " element type");
                        Check.Equal(count, fixedBuf.Length, where + " length");
                        Check.Equal(size, Marshal.SizeOf(fixedBuf.ElementType) * fixedBuf.Length, where + " size");
                    }
                    else if (ctype.Contains("*"))
                    {
                        Check.Equal(typeof(IntPtr), f.FieldType, where + " type (pointer)");
                        Check.Equal(size, IntPtr.Size, where + " size");
                    }
                    else
                    {
                        Check.Equal(Scalars[ctype], f.FieldType, where + " type");
                        Check.Equal(size, Marshal.SizeOf(f.FieldType), where + " size");
                    }
                    checkedFields++;
                }
            }
            var extra = structs.Keys.Except(cstructs.Select(kv => kv.Key)).ToList();
            Check.True(extra.Count == 0, "C# structs the header lacks: " + string.Join(", ", extra));
            Check.True(checkedFields > 100, "sanity: every field compared");
        }

        [Fact]
        public static void FunctionSignaturesMatchTheHeader()
        {
            var structs = StructsByCName();
            var natives = typeof(Native).GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() != null)
                .ToDictionary(m => m.Name);
            var cfuncs = Json.Arr(Json.Get(Facts, "functions"));
            foreach (var cf in cfuncs)
            {
                string name = (string)Json.Get(cf, "name");
                MethodInfo m;
                Check.True(natives.TryGetValue(name, out m), "Native lacks " + name);
                string ret = (string)Json.Get(cf, "ret");
                string want = ret.Contains("*") ? typeof(IntPtr).FullName : Expected(ret, structs);
                Check.Equal(want, m.ReturnType.FullName, name + " return type");
                var cparams = Json.Arr(Json.Get(cf, "params"));
                var mparams = m.GetParameters();
                Check.Equal(cparams.Count, mparams.Length, name + " parameter count");
                for (int i = 0; i < cparams.Count; i++)
                    Check.Equal(Expected((string)Json.Get(cparams[i], "type"), structs),
                                 mparams[i].ParameterType.FullName,
                                 name + " parameter " + Json.Get(cparams[i], "name"));
            }
            var extra = natives.Keys.Except(cfuncs.Select(cf => (string)Json.Get(cf, "name"))).ToList();
            Check.True(extra.Count == 0, "Native declares functions the header lacks: " + string.Join(", ", extra));
        }

        [Fact]
        public static void AllNativeFunctionsAreSourceGenerated()
        {
            // No runtime marshalling anywhere: every import is declared with
            // LibraryImport (all blittable, so the generator emits a direct call).
            var classic = typeof(Native).GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() == null).Select(m => m.Name).ToList();
            Check.True(classic.Count == 0, "imports not declared with LibraryImport: " + string.Join(", ", classic));
            Check.True(typeof(Native).Assembly.GetCustomAttribute<DisableRuntimeMarshallingAttribute>() != null,
                       "[assembly: DisableRuntimeMarshalling]");
        }

        [Fact]
        public static void CallbacksMatchTheHeader()
        {
            var structs = StructsByCName();
            var names = new Dictionary<string, string>
            {
                { "on_open", "OnOpen" }, { "on_data", "OnData" }, { "on_writable", "OnWritable" },
                { "on_close", "OnClose" }, { "on_send_done", "OnSendDone" }, { "on_connect_failed", "OnConnectFailed" },
                { "on_eof", "OnEof" },
            };
            var cb = Json.Obj(Json.Get(Facts, "structs")).First(kv => kv.Key == "urk_callbacks_t").Value;
            int seen = 0;
            foreach (var cf in Json.Arr(Json.Get(cb, "fields")))
            {
                string ctype = (string)Json.Get(cf, "type");
                if (!ctype.Contains("(*)"))
                    continue;
                string name = (string)Json.Get(cf, "name");
                string method;
                Check.True(names.TryGetValue(name, out method), "no callback for " + name);
                var m = typeof(NativeCallbacks).GetMethod(method);
                Check.True(m != null, "NativeCallbacks lacks " + method);
                Check.True(m.GetCustomAttribute<UnmanagedCallersOnlyAttribute>() != null, method + " is [UnmanagedCallersOnly]");
                string ret = ctype.Substring(0, ctype.IndexOf("(*)")).Trim();
                Check.Equal(Expected(ret, structs), m.ReturnType.FullName, name + " return");
                string plist = ctype.Substring(ctype.IndexOf("(*)(") + 4).TrimEnd(')');
                var cparams = plist.Split(',').Select(p => p.Trim()).ToList();
                var mparams = m.GetParameters();
                Check.Equal(cparams.Count, mparams.Length, name + " parameter count");
                for (int i = 0; i < cparams.Count; i++)
                    Check.Equal(Expected(cparams[i], structs), mparams[i].ParameterType.FullName, name + " parameter " + i);
                seen++;
            }
            Check.Equal(names.Count, seen, "callbacks compared");
        }
    }
}

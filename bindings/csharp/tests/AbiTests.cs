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

namespace Urocket.Tests
{
    public static class AbiTests
    {
        static object facts;

        static object Facts
        {
            get
            {
                if (facts == null)
                {
                    if (TestRunner.FactsPath == null)
                        throw new AssertionException("run with --facts tests/abi/abi_facts.json");
                    facts = Json.Parse(File.ReadAllText(TestRunner.FactsPath));
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
            { "void", typeof(void) },
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

        [Test]
        public static void LibraryVersionAndAbi()
        {
            Library.Initialize();
            Assert.Equal((ulong)UrkConst.URK_ABI_VERSION, (ulong)Json.Get(Facts, "abi_version"), "facts abi_version");
            Assert.Equal(UrkConst.URK_ABI_VERSION, Library.AbiVersion, "loaded library ABI");
            var v = Library.Version;
            Assert.Equal((int)UrkConst.URK_VERSION_MAJOR, v.Major, "major");
            Assert.Equal((int)UrkConst.URK_VERSION_MINOR, v.Minor, "minor");
            Assert.Equal((int)UrkConst.URK_VERSION_PATCH, v.Build, "patch");
            Assert.Equal(string.Format("{0}.{1}.{2}", v.Major, v.Minor, v.Build), Library.VersionString, "version string");
            Assert.Equal(UrkConst.URK_VERSION_NUMBER, Native.urk_version(), "urk_version()");
            Assert.True(Library.CapabilityNames.Contains("multishot_accept"), "kernel has multishot accept");
        }

        [Test]
        public static void ConstantsMatchTheHeader()
        {
            var fields = typeof(UrkConst).GetFields(BindingFlags.Public | BindingFlags.Static)
                .Where(f => f.IsLiteral).ToDictionary(f => f.Name);
            var consts = Json.Obj(Json.Get(Facts, "constants"));
            foreach (var kv in consts)
            {
                FieldInfo f;
                Assert.True(fields.TryGetValue(kv.Key, out f), "UrkConst lacks " + kv.Key);
                ulong actual = Convert.ToUInt64(f.GetRawConstantValue());
                Assert.Equal((ulong)kv.Value, actual, kv.Key);
            }
            var extra = fields.Keys.Except(consts.Select(kv => kv.Key)).ToList();
            Assert.True(extra.Count == 0, "UrkConst has constants the header lacks: " + string.Join(", ", extra));
            Assert.True(consts.Count > 60, "sanity: the whole header was read");
        }

        [Test]
        public static void StructLayoutsMatchTheHeader()
        {
            var structs = StructsByCName();
            var cstructs = Json.Obj(Json.Get(Facts, "structs"));
            int checkedFields = 0;
            foreach (var kv in cstructs)
            {
                Type t;
                Assert.True(structs.TryGetValue(kv.Key, out t), "no C# struct for " + kv.Key);
                Assert.Equal((int)(ulong)Json.Get(kv.Value, "size"), Marshal.SizeOf(t), kv.Key + " size");
                var cfields = Json.Arr(Json.Get(kv.Value, "fields"));
                var mfields = t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
                Assert.Equal(cfields.Count, mfields.Length, kv.Key + " field count");
                foreach (var cf in cfields)
                {
                    string name = (string)Json.Get(cf, "name");
                    string ctype = (string)Json.Get(cf, "type");
                    var f = t.GetField(name);
                    Assert.True(f != null, kv.Key + " lacks field " + name);
                    string where = kv.Key + "." + name;
                    Assert.Equal((long)(ulong)Json.Get(cf, "offset"), Marshal.OffsetOf(t, name).ToInt64(), where + " offset");
                    var fo = (FieldOffsetAttribute)f.GetCustomAttributes(typeof(FieldOffsetAttribute), false).FirstOrDefault();
                    Assert.True(fo != null && fo.Value == (int)(ulong)Json.Get(cf, "offset"), where + " [FieldOffset]");
                    int size = (int)(ulong)Json.Get(cf, "size");
                    var fixedBuf = (FixedBufferAttribute)f.GetCustomAttributes(typeof(FixedBufferAttribute), false).FirstOrDefault();
                    if (ctype.EndsWith("]"))
                    {
                        Assert.True(fixedBuf != null, where + " should be a fixed buffer");
                        string elem = ctype.Substring(0, ctype.IndexOf('['));
                        int count = int.Parse(ctype.Substring(ctype.IndexOf('[') + 1).TrimEnd(']'));
                        Assert.Equal(Scalars[elem], fixedBuf.ElementType, where + " element type");
                        Assert.Equal(count, fixedBuf.Length, where + " length");
                        Assert.Equal(size, Marshal.SizeOf(fixedBuf.ElementType) * fixedBuf.Length, where + " size");
                    }
                    else if (ctype.Contains("*"))
                    {
                        Assert.Equal(typeof(IntPtr), f.FieldType, where + " type (pointer)");
                        Assert.Equal(size, IntPtr.Size, where + " size");
                    }
                    else
                    {
                        Assert.Equal(Scalars[ctype], f.FieldType, where + " type");
                        Assert.Equal(size, Marshal.SizeOf(f.FieldType), where + " size");
                    }
                    checkedFields++;
                }
            }
            var extra = structs.Keys.Except(cstructs.Select(kv => kv.Key)).ToList();
            Assert.True(extra.Count == 0, "C# structs the header lacks: " + string.Join(", ", extra));
            Assert.True(checkedFields > 100, "sanity: every field compared");
        }

        [Test]
        public static void FunctionSignaturesMatchTheHeader()
        {
            var structs = StructsByCName();
            var natives = typeof(Native).GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Where(m => (m.Attributes & MethodAttributes.PinvokeImpl) != 0)
                .ToDictionary(m => m.Name);
            var cfuncs = Json.Arr(Json.Get(Facts, "functions"));
            foreach (var cf in cfuncs)
            {
                string name = (string)Json.Get(cf, "name");
                MethodInfo m;
                Assert.True(natives.TryGetValue(name, out m), "Native lacks " + name);
                string ret = (string)Json.Get(cf, "ret");
                string want = ret.Contains("*") ? typeof(IntPtr).FullName : Expected(ret, structs);
                Assert.Equal(want, m.ReturnType.FullName, name + " return type");
                var cparams = Json.Arr(Json.Get(cf, "params"));
                var mparams = m.GetParameters();
                Assert.Equal(cparams.Count, mparams.Length, name + " parameter count");
                for (int i = 0; i < cparams.Count; i++)
                    Assert.Equal(Expected((string)Json.Get(cparams[i], "type"), structs),
                                 mparams[i].ParameterType.FullName,
                                 name + " parameter " + Json.Get(cparams[i], "name"));
            }
            var extra = natives.Keys.Except(cfuncs.Select(cf => (string)Json.Get(cf, "name"))).ToList();
            Assert.True(extra.Count == 0, "Native declares functions the header lacks: " + string.Join(", ", extra));
        }

        [Test]
        public static void CallbackDelegatesMatchTheHeader()
        {
            var structs = StructsByCName();
            var delegates = new Dictionary<string, Type>
            {
                { "on_open", typeof(UrkOnOpen) }, { "on_data", typeof(UrkOnData) },
                { "on_writable", typeof(UrkOnWritable) }, { "on_close", typeof(UrkOnClose) },
                { "on_send_done", typeof(UrkOnSendDone) }, { "on_connect_failed", typeof(UrkOnConnectFailed) },
            };
            var cb = Json.Obj(Json.Get(Facts, "structs")).First(kv => kv.Key == "urk_callbacks_t").Value;
            int seen = 0;
            foreach (var cf in Json.Arr(Json.Get(cb, "fields")))
            {
                string ctype = (string)Json.Get(cf, "type");
                if (!ctype.Contains("(*)"))
                    continue;
                string name = (string)Json.Get(cf, "name");
                Type d;
                Assert.True(delegates.TryGetValue(name, out d), "no delegate for " + name);
                var invoke = d.GetMethod("Invoke");
                string ret = ctype.Substring(0, ctype.IndexOf("(*)")).Trim();
                Assert.Equal(Expected(ret, structs), invoke.ReturnType.FullName, name + " return");
                string plist = ctype.Substring(ctype.IndexOf("(*)(") + 4).TrimEnd(')');
                var cparams = plist.Split(',').Select(p => p.Trim()).ToList();
                var mparams = invoke.GetParameters();
                Assert.Equal(cparams.Count, mparams.Length, name + " parameter count");
                for (int i = 0; i < cparams.Count; i++)
                {
                    // Callback parameters are pointers as IntPtr (no unsafe delegates).
                    string want = cparams[i].Contains("*") ? typeof(IntPtr).FullName : Expected(cparams[i], structs);
                    Assert.Equal(want, mparams[i].ParameterType.FullName, name + " parameter " + i);
                }
                seen++;
            }
            Assert.Equal(delegates.Count, seen, "callbacks compared");
        }
    }
}

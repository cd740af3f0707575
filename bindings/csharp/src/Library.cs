using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>
    /// The loaded native library: where it was found, its version, the ABI
    /// check, kernel capabilities. Every wrapper calls <see cref="Initialize"/>
    /// before its first native call, so a library with another ABI is refused
    /// before any struct crosses.
    /// </summary>
    /// <remarks>
    /// Where the library is looked for, in order (the first that loads wins):
    /// the file named by the <c>URK_LIBRARY</c> environment variable (then
    /// nothing else is tried); <c>liburocket.so</c> and <c>liburocket.so.0</c>
    /// next to the application; the NuGet package's
    /// <c>runtimes/linux-x64/native/</c> (below the application and in the
    /// host's native search directories); finally <c>liburocket.so.0</c> and
    /// <c>liburocket.so</c> through the system's search path
    /// (<c>LD_LIBRARY_PATH</c>, ld.so.cache). A failure throws
    /// <see cref="DllNotFoundException"/> naming every place tried.
    /// </remarks>
    public static class Library
    {
        /// <summary>URK_ABI_VERSION this binding was written against.</summary>
        public const uint ExpectedAbi = UrkConst.URK_ABI_VERSION;
        /// <summary>Environment variable naming the library file to load.</summary>
        public const string EnvironmentVariable = "URK_LIBRARY";

        static readonly object gate = new object();
        static volatile bool ready;
        static IntPtr loaded;
        static string loadedPath;
        static Exception failure;

#pragma warning disable CA2255 // a library registering the resolver for its own P/Invokes: the intended use
        [ModuleInitializer]
#pragma warning restore CA2255
        internal static void RegisterResolver()
        {
            NativeLibrary.SetDllImportResolver(typeof(Library).Assembly, Resolve);
        }

        static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            if (name != Native.Lib)
                return IntPtr.Zero;
            return Load();
        }

        /// <summary>Path of the loaded library (loads it if needed).</summary>
        public static string LoadedPath { get { Load(); return loadedPath; } }

        static IntPtr Load()
        {
            if (loaded != IntPtr.Zero)
                return loaded;
            lock (gate)
            {
                if (loaded != IntPtr.Zero)
                    return loaded;
                if (failure != null)
                    throw Rethrowable(failure);
                try
                {
                    var (h, p) = Probe(Environment.GetEnvironmentVariable(EnvironmentVariable), AppContext.BaseDirectory,
                                       AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") as string);
                    loadedPath = p;
                    loaded = h;
                    return h;
                }
                catch (Exception ex)
                {
                    failure = ex;
                    throw;
                }
            }
        }

        static Exception Rethrowable(Exception e)
        {
            if (e is AbiMismatchException)
                return new AbiMismatchException(e.Message);
            return new DllNotFoundException(e.Message);
        }

        /// <summary>Finds, loads and checks the library (see the class remarks);
        /// returns its handle and path. Internal for the tests, which may replace
        /// the system search (systemLoad: a soname to a handle, or zero).</summary>
        internal static (IntPtr Handle, string Path) Probe(string env, string baseDir, string hostDirs,
                                                           Func<string, IntPtr> systemLoad = null)
        {
            var tried = new List<string>();
            if (!string.IsNullOrEmpty(env))
            {
                if (TryLoadFile(env, tried, out IntPtr h))
                    return (Check(h, env), env);
                throw new DllNotFoundException("liburocket: " + EnvironmentVariable + " names a library that does not load: "
                                               + string.Join("; ", tried));
            }
            var files = new List<string>();
            if (!string.IsNullOrEmpty(baseDir))
            {
                files.Add(Path.Combine(baseDir, "liburocket.so"));
                files.Add(Path.Combine(baseDir, "liburocket.so.0"));
                files.Add(Path.Combine(baseDir, "runtimes", "linux-x64", "native", "liburocket.so"));
            }
            if (!string.IsNullOrEmpty(hostDirs))
                foreach (var d in hostDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                {
                    string f = Path.Combine(d, "liburocket.so");
                    if (!files.Contains(f))
                        files.Add(f);
                }
            foreach (var f in files)
                if (TryLoadFile(f, tried, out IntPtr h))
                    return (Check(h, f), f);
            foreach (var soname in new[] { "liburocket.so.0", "liburocket.so" })
            {
                IntPtr h;
                if (systemLoad != null)
                    h = systemLoad(soname);
                else if (!NativeLibrary.TryLoad(soname, out h))
                    h = IntPtr.Zero;
                if (h != IntPtr.Zero)
                    return (Check(h, soname + " (system search path)"), soname);
                tried.Add(soname + " on the system search path (LD_LIBRARY_PATH, ld.so.cache, /lib, /usr/lib): not found");
            }
            throw new DllNotFoundException("liburocket could not be found. Looked in: " + string.Join("; ", tried)
                + ". Set " + EnvironmentVariable + " to the library's path, or install liburocket.so.0.");
        }

        static bool TryLoadFile(string file, List<string> tried, out IntPtr h)
        {
            h = IntPtr.Zero;
            if (!File.Exists(file))
            {
                tried.Add(file + " (no such file)");
                return false;
            }
            try
            {
                h = NativeLibrary.Load(file);
                return true;
            }
            catch (Exception ex) when (ex is DllNotFoundException || ex is BadImageFormatException)
            {
                tried.Add(file + " (" + ex.Message + ")");
                return false;
            }
        }

        /// <summary>The ABI check, done on the raw exports before any P/Invoke binds.</summary>
        static unsafe IntPtr Check(IntPtr h, string where)
        {
            if (!NativeLibrary.TryGetExport(h, "urk_abi_version", out IntPtr abiFn) ||
                !NativeLibrary.TryGetExport(h, "urk_version", out IntPtr verFn))
            {
                NativeLibrary.Free(h);
                throw new AbiMismatchException(where + " is not liburocket (it lacks urk_abi_version/urk_version)");
            }
            uint abi = ((delegate* unmanaged<uint>)abiFn)();
            uint v = ((delegate* unmanaged<uint>)verFn)();
            string have = string.Format("{0}.{1}.{2}", v >> 16, (v >> 8) & 0xff, v & 0xff);
            if (abi != ExpectedAbi || (v >> 16) != UrkConst.URK_VERSION_MAJOR)
            {
                NativeLibrary.Free(h);
                throw new AbiMismatchException(string.Format(
                    "{0}: liburocket {1} (ABI {2}) loaded, this binding needs ABI {3} (liburocket {4}.x, built against {4}.{5}.{6})",
                    where, have, abi, ExpectedAbi, UrkConst.URK_VERSION_MAJOR, UrkConst.URK_VERSION_MINOR, UrkConst.URK_VERSION_PATCH));
            }
            return h;
        }

        /// <summary>Loads the library and checks its ABI and major version
        /// (DllNotFoundException or AbiMismatchException otherwise). Cheap
        /// after the first call.</summary>
        public static void Initialize()
        {
            if (ready)
                return;
            Load();
            ready = true;
        }

        /// <summary>(major, minor, patch) of the loaded library.</summary>
        public static Version Version
        {
            get
            {
                Initialize();
                uint v = Native.urk_version();
                return new Version((int)(v >> 16), (int)((v >> 8) & 0xff), (int)(v & 0xff));
            }
        }

        /// <summary>"0.1.0": the loaded library's version string.</summary>
        public static string VersionString { get { Initialize(); return Marshal.PtrToStringAnsi(Native.urk_version_string()); } }
        /// <summary>URK_ABI_VERSION of the loaded library.</summary>
        public static uint AbiVersion { get { Initialize(); return Native.urk_abi_version(); } }

        /// <summary>URK_CAP_* bits of the running kernel.</summary>
        public static unsafe ulong Capabilities
        {
            get
            {
                Initialize();
                ulong caps;
                UrkException.Check(Native.urk_probe(&caps), "urk_probe");
                return caps;
            }
        }

        /// <summary>Names of the capabilities present ("multishot_accept", ...).</summary>
        public static IList<string> CapabilityNames
        {
            get
            {
                var names = new List<string>();
                ulong caps = Capabilities;
                for (int bit = 0; bit < 64; bit++)
                {
                    ulong b = 1UL << bit;
                    if ((caps & b) == 0)
                        continue;
                    IntPtr p = Native.urk_cap_name(b);
                    if (p != IntPtr.Zero)
                        names.Add(Marshal.PtrToStringAnsi(p));
                }
                return names;
            }
        }
    }

    /// <summary>Conversions between urk_addr_t and strings / IPEndPoint.</summary>
    public static class Address
    {
        /// <summary>urk_addr_parse: numeric IPv4/IPv6 literal and port.</summary>
        public static unsafe UrkAddr Parse(string host, ushort port)
        {
            Library.Initialize();
            if (host == null)
                throw new ArgumentNullException("host");
            byte[] z = CString(host);
            UrkAddr a;
            fixed (byte* h = z)
                UrkException.Check(Native.urk_addr_parse(h, port, &a), "urk_addr_parse");
            return a;
        }

        /// <summary>urk_addr_format: "127.0.0.1:80" or "[::1]:80".</summary>
        public static unsafe string Format(UrkAddr addr)
        {
            byte* buf = stackalloc byte[64];
            int n = UrkException.Check(Native.urk_addr_format(&addr, buf, 64), "urk_addr_format");
            return Encoding.ASCII.GetString(ToArray(buf, n));
        }

        public static UrkAddr FromEndPoint(IPEndPoint ep)
        {
            return Parse(ep.Address.ToString(), (ushort)ep.Port);
        }

        /// <summary>Reads the sockaddr_in / sockaddr_in6 held in addr.</summary>
        public static unsafe IPEndPoint ToEndPoint(UrkAddr addr)
        {
            byte* b = addr.bytes;
            int family = b[0] | (b[1] << 8);
            int port = (b[2] << 8) | b[3];
            if (family == 2)
                return new IPEndPoint(new IPAddress(ToArray(b + 4, 4)), port);
            if (family == 10)
                return new IPEndPoint(new IPAddress(ToArray(b + 8, 16)), port);
            throw new ArgumentException("not an IPv4 or IPv6 address (family " + family + ")");
        }

        internal static byte[] CString(string s)
        {
            byte[] raw = Encoding.UTF8.GetBytes(s);
            byte[] z = new byte[raw.Length + 1];
            Buffer.BlockCopy(raw, 0, z, 0, raw.Length);
            return z;
        }

        static unsafe byte[] ToArray(byte* p, int n)
        {
            var a = new byte[n];
            for (int i = 0; i < n; i++)
                a[i] = p[i];
            return a;
        }
    }
}

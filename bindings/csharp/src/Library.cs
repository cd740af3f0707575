using System;
using System.Collections.Generic;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>
    /// The loaded native library: version, ABI check, kernel capabilities.
    /// Every wrapper calls <see cref="Initialize"/> before its first native call,
    /// so a library with another ABI is refused before any struct crosses.
    /// </summary>
    public static class Library
    {
        /// <summary>URK_ABI_VERSION this binding was written against.</summary>
        public const uint ExpectedAbi = UrkConst.URK_ABI_VERSION;

        static readonly object gate = new object();
        static volatile bool ready;

        /// <summary>Loads the library and checks its ABI and major version
        /// (AbiMismatchException otherwise). Cheap after the first call.</summary>
        public static void Initialize()
        {
            if (ready)
                return;
            lock (gate)
            {
                if (ready)
                    return;
                uint abi = Native.urk_abi_version();
                if (abi != ExpectedAbi)
                    throw new AbiMismatchException(string.Format(
                        "liburocket ABI {0} loaded, this binding needs ABI {1}", abi, ExpectedAbi));
                uint v = Native.urk_version();
                if ((v >> 16) != UrkConst.URK_VERSION_MAJOR)
                    throw new AbiMismatchException(string.Format(
                        "liburocket {0} loaded, this binding needs major version {1}",
                        VersionString, UrkConst.URK_VERSION_MAJOR));
                ready = true;
            }
        }

        /// <summary>(major, minor, patch) of the loaded library.</summary>
        public static Version Version
        {
            get
            {
                uint v = Native.urk_version();
                return new Version((int)(v >> 16), (int)((v >> 8) & 0xff), (int)(v & 0xff));
            }
        }

        public static string VersionString { get { return Marshal.PtrToStringAnsi(Native.urk_version_string()); } }
        public static uint AbiVersion { get { return Native.urk_abi_version(); } }

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

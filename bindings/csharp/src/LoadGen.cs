using System;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>urk_loadgen_opts_t.framing</summary>
    public enum Framing : ushort
    {
        Fixed = UrkConst.URK_FRAME_FIXED,
        Delimited = UrkConst.URK_FRAME_DELIM,
        Http = UrkConst.URK_FRAME_HTTP,
    }

    /// <summary>Options of a load generator run (urk_loadgen_opts_t).</summary>
    public sealed class LoadGenOptions
    {
        public uint Flags;                 // UrkConst.URK_LOAD_*
        public string Host = "127.0.0.1";  // numeric literal
        public ushort Port;
        public Framing Framing = Framing.Http;
        public uint Connections = 64;
        public uint Threads = 1;
        public uint ResponseLength;        // Framing.Fixed
        public byte[] Request;             // sent per request (copied)
        public byte[] Delimiter;           // Framing.Delimited (copied)
        public ulong DurationMs;           // 0: until MaxRequests
        public ulong MaxRequests;          // 0: until DurationMs
        public ulong Rate;                 // open loop: requests per second
        public ulong TimeoutMs;            // 0: 5000
        public int Cpu = -1;
    }

    /// <summary>An io_uring load generator (urk_loadgen_t).</summary>
    public sealed unsafe class LoadGen : UrkHandle
    {
        public LoadGen() { }

        public static LoadGen Create(LoadGenOptions options)
        {
            Library.Initialize();
            if (options == null) throw new ArgumentNullException("options");
            UrkLoadGenOpts o;
            UrkException.Check(Native.urk_loadgen_opts_init(&o), "urk_loadgen_opts_init");
            o.flags = options.Flags;
            o.port = options.Port;
            o.framing = (ushort)options.Framing;
            o.connections = options.Connections;
            o.threads = options.Threads;
            o.response_len = options.ResponseLength;
            o.request_len = options.Request == null ? 0u : (uint)options.Request.Length;
            o.delim_len = options.Delimiter == null ? 0u : (uint)options.Delimiter.Length;
            o.duration_ms = options.DurationMs;
            o.max_requests = options.MaxRequests;
            o.rate = options.Rate;
            o.timeout_ms = options.TimeoutMs;
            o.cpu = options.Cpu;
            byte[] host = options.Host == null ? null : Address.CString(options.Host);
            var lg = new LoadGen();
            IntPtr raw;
            // host, request and delim are copied by urk_loadgen_create.
            fixed (byte* h = host)
            fixed (byte* req = options.Request)
            fixed (byte* d = options.Delimiter)
            {
                o.host = (IntPtr)h;
                o.request = (IntPtr)req;
                o.delim = (IntPtr)d;
                UrkException.Check(Native.urk_loadgen_create(&o, &raw), "urk_loadgen_create");
            }
            lg.Adopt(raw);
            return lg;
        }

        protected override bool ReleaseHandle()
        {
            Native.urk_loadgen_destroy(handle);
            return true;
        }

        /// <summary>Runs to completion on this thread (plus Threads-1 helpers).</summary>
        public void Run()
        { bool a = false; try { UrkException.Check(Native.urk_loadgen_run(Enter(ref a)), "urk_loadgen_run"); } finally { Exit(a); } }

        /// <summary>Ends a run early. Any thread.</summary>
        public void Stop()
        { bool a = false; try { UrkException.Check(Native.urk_loadgen_stop(Enter(ref a)), "urk_loadgen_stop"); } finally { Exit(a); } }

        /// <summary>Totals so far; any thread, during or after a run.</summary>
        public UrkLoadGenResult Result
        {
            get
            {
                bool a = false;
                try { UrkLoadGenResult r; UrkException.Check(Native.urk_loadgen_result(Enter(ref a), &r), "urk_loadgen_result"); return r; }
                finally { Exit(a); }
            }
        }

        /// <summary>Latency in ns at quantile q (0..1).</summary>
        public ulong Percentile(double q)
        {
            if (!(q >= 0 && q <= 1)) throw new ArgumentOutOfRangeException("q");
            bool a = false;
            try
            {
                ulong ns;
                UrkException.Check(Native.urk_loadgen_percentile(Enter(ref a), (uint)Math.Round(q * 1000000), &ns), "urk_loadgen_percentile");
                return ns;
            }
            finally { Exit(a); }
        }

        /// <summary>Per-second samples of the run.</summary>
        public UrkLoadGenSecond[] Timeline()
        {
            bool a = false;
            try
            {
                IntPtr raw = Enter(ref a);
                int n = UrkException.Check(Native.urk_loadgen_timeline(raw, null, 0), "urk_loadgen_timeline");
                var seconds = new UrkLoadGenSecond[n];
                if (n > 0)
                    fixed (UrkLoadGenSecond* p = seconds)
                        n = UrkException.Check(Native.urk_loadgen_timeline(raw, p, (uint)n), "urk_loadgen_timeline");
                if (n < seconds.Length)
                    Array.Resize(ref seconds, n);
                return seconds;
            }
            finally { Exit(a); }
        }
    }
}

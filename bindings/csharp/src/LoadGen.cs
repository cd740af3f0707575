using System;
using System.Buffers;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
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
        /// <summary>A scenario (instead of <see cref="Request"/>): up to 32 kinds
        /// of request, chosen by weight (smooth weighted round robin: every run of
        /// sum(weights) requests holds each kind exactly Weight times) and counted
        /// apart (<see cref="LoadGen.GetRequestResult"/>). The bytes are copied
        /// by <see cref="LoadGen.Create"/>.</summary>
        public IReadOnlyList<LoadGenRequest> Requests;
        /// <summary>Connections open spread over this time instead of all at
        /// once, so the load grows over it (whole milliseconds).</summary>
        public TimeSpan RampUp;

        /// <summary><see cref="Host"/> and <see cref="Port"/> as one IPv4 or IPv6
        /// endpoint (reads back what they hold; Host must be a numeric address).</summary>
        public IPEndPoint EndPoint
        {
            get { return new IPEndPoint(IPAddress.Parse(Host), Port); }
            set
            {
                if (value == null) throw new ArgumentNullException(nameof(value));
                if (value.Port < 1 || value.Port > 65535)
                    throw new ArgumentOutOfRangeException(nameof(value), value.Port, "EndPoint's port must be 1..65535");
                Host = value.Address.ToString();
                Port = (ushort)value.Port;
            }
        }

        /// <summary><see cref="DurationMs"/> as a TimeSpan (whole milliseconds;
        /// TimeSpan.Zero: until MaxRequests).</summary>
        public TimeSpan Duration
        {
            get { return TimeSpan.FromMilliseconds(DurationMs); }
            set { DurationMs = ToMs(value, nameof(Duration)); }
        }

        /// <summary><see cref="TimeoutMs"/> as a TimeSpan (whole milliseconds;
        /// TimeSpan.Zero: the default, 5 s).</summary>
        public TimeSpan Timeout
        {
            get { return TimeSpan.FromMilliseconds(TimeoutMs); }
            set { TimeoutMs = ToMs(value, nameof(Timeout)); }
        }

        static ulong ToMs(TimeSpan t, string name)
        {
            if (t < TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(name, t, name + " must not be negative");
            return (ulong)t.Ticks / TimeSpan.TicksPerMillisecond;
        }
    }

    /// <summary>One kind of request of a scenario (urk_loadgen_request_t).</summary>
    /// <param name="Data">The bytes sent for one request (not empty).</param>
    /// <param name="Weight">Its share of the requests sent (at least 1).</param>
    public sealed record LoadGenRequest(ReadOnlyMemory<byte> Data, int Weight = 1);

    /// <summary>Totals of a run, or of one kind of request of a scenario
    /// (urk_loadgen_result_t). Latencies are in nanoseconds.</summary>
    public sealed class LoadGenResult
    {
        internal LoadGenResult(in UrkLoadGenResult r)
        {
            Raw = r;
            Requests = (long)r.requests;
            Responses = (long)r.responses;
            BytesOut = (long)r.bytes_out;
            BytesIn = (long)r.bytes_in;
            Elapsed = TimeSpan.FromTicks((long)(r.elapsed_ns / 100));
            CpuTime = TimeSpan.FromTicks((long)(r.cpu_ns / 100));
            ConnectErrors = (long)r.err_connect;
            ReadErrors = (long)r.err_read;
            WriteErrors = (long)r.err_write;
            Timeouts = (long)r.err_timeout;
            FramingErrors = (long)r.err_framing;
            Reconnects = (long)r.reconnects;
            NonSuccess = (long)r.non2xx;
            LatencyMinNs = (long)r.lat_min_ns;
            LatencyMeanNs = (long)r.lat_mean_ns;
            LatencyMaxNs = (long)r.lat_max_ns;
            LatencyP50Ns = (long)r.lat_p50_ns;
            LatencyP90Ns = (long)r.lat_p90_ns;
            LatencyP99Ns = (long)r.lat_p99_ns;
            LatencyP999Ns = (long)r.lat_p999_ns;
            LatencySumNs = (long)r.lat_sum_ns;
        }

        /// <summary>The native struct, as the library filled it.</summary>
        public UrkLoadGenResult Raw { get; }
        /// <summary>Requests sent (all bytes written).</summary>
        public long Requests { get; }
        /// <summary>Complete responses received.</summary>
        public long Responses { get; }
        /// <summary>Not split per kind of request (0 there).</summary>
        public long BytesOut { get; }
        /// <summary>Not split per kind of request (0 there).</summary>
        public long BytesIn { get; }
        public TimeSpan Elapsed { get; }
        /// <summary>CPU time of the generator's threads.</summary>
        public TimeSpan CpuTime { get; }
        public long ConnectErrors { get; }
        /// <summary>Includes peer closes mid-response.</summary>
        public long ReadErrors { get; }
        public long WriteErrors { get; }
        public long Timeouts { get; }
        public long FramingErrors { get; }
        /// <summary>All errors: connect, read, write, timeout, framing.</summary>
        public long Errors => ConnectErrors + ReadErrors + WriteErrors + Timeouts + FramingErrors;
        /// <summary>Connections the server ended cleanly (Connection: close,
        /// HTTP/1.0, ...) and that were replaced; not errors. Not split per kind.</summary>
        public long Reconnects { get; }
        /// <summary>HTTP responses with a status outside 200..299 (also in Responses).</summary>
        public long NonSuccess { get; }
        public long LatencyMinNs { get; }
        public long LatencyMeanNs { get; }
        public long LatencyMaxNs { get; }
        public long LatencyP50Ns { get; }
        public long LatencyP90Ns { get; }
        public long LatencyP99Ns { get; }
        public long LatencyP999Ns { get; }
        /// <summary>Sum of the recorded latencies (exact means of merged runs).</summary>
        public long LatencySumNs { get; }
        /// <summary>Latencies as TimeSpans (100 ns resolution; the *Ns values are exact).</summary>
        public TimeSpan LatencyMin => TimeSpan.FromTicks(LatencyMinNs / 100);
        public TimeSpan LatencyMean => TimeSpan.FromTicks(LatencyMeanNs / 100);
        public TimeSpan LatencyMax => TimeSpan.FromTicks(LatencyMaxNs / 100);
        public TimeSpan LatencyP50 => TimeSpan.FromTicks(LatencyP50Ns / 100);
        public TimeSpan LatencyP90 => TimeSpan.FromTicks(LatencyP90Ns / 100);
        public TimeSpan LatencyP99 => TimeSpan.FromTicks(LatencyP99Ns / 100);
        public TimeSpan LatencyP999 => TimeSpan.FromTicks(LatencyP999Ns / 100);
        /// <summary>Responses per second over the run.</summary>
        public double ResponsesPerSecond => Elapsed > TimeSpan.Zero ? Responses / Elapsed.TotalSeconds : 0;
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
            if (options.RampUp < TimeSpan.Zero || options.RampUp.TotalMilliseconds > uint.MaxValue)
                throw new ArgumentOutOfRangeException("options", options.RampUp, "RampUp must be between 0 and 2^32-1 ms");
            o.ramp_ms = (uint)options.RampUp.TotalMilliseconds;
            var kinds = options.Requests;
            int nkinds = kinds == null ? 0 : kinds.Count;
            if (kinds != null)
            {
                if (nkinds < 1 || nkinds > UrkConst.URK_LOADGEN_MAX_REQUESTS)
                    throw new ArgumentException(string.Format("Requests holds {0} kinds of request: 1..{1} allowed",
                        nkinds, UrkConst.URK_LOADGEN_MAX_REQUESTS), "options");
                if (options.Request != null)
                    throw new ArgumentException("set Request or Requests, not both", "options");
                for (int i = 0; i < nkinds; i++)
                {
                    var k = kinds[i];
                    if (k == null || k.Data.IsEmpty)
                        throw new ArgumentException(string.Format("Requests[{0}] has no bytes", i), "options");
                    if (k.Weight < 1)
                        throw new ArgumentException(string.Format("Requests[{0}].Weight is {1}: at least 1", i, k.Weight), "options");
                }
            }
            byte[] host = options.Host == null ? null : Address.CString(options.Host);
            var lg = new LoadGen();
            IntPtr raw;
            // host, request, delim and the scenario's bytes are copied by
            // urk_loadgen_create: they only need to stay pinned for the call.
            UrkLoadGenRequest* table = stackalloc UrkLoadGenRequest[nkinds];
            var pins = new MemoryHandle[nkinds];
            try
            {
                for (int i = 0; i < nkinds; i++)
                {
                    pins[i] = kinds[i].Data.Pin();
                    table[i].data = (IntPtr)pins[i].Pointer;
                    table[i].len = (uint)kinds[i].Data.Length;
                    table[i].weight = (uint)kinds[i].Weight;
                }
                o.requests = nkinds > 0 ? (IntPtr)table : IntPtr.Zero;
                o.nrequests = (uint)nkinds;
                fixed (byte* h = host)
                fixed (byte* req = options.Request)
                fixed (byte* d = options.Delimiter)
                {
                    o.host = (IntPtr)h;
                    o.request = (IntPtr)req;
                    o.delim = (IntPtr)d;
                    UrkException.Check(Native.urk_loadgen_create(&o, &raw), "urk_loadgen_create");
                }
            }
            finally
            {
                for (int i = 0; i < nkinds; i++)
                    pins[i].Dispose();
            }
            lg.Adopt(raw);
            lg.RequestKinds = nkinds;
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

        /// <summary>Runs to completion on a thread-pool thread (plus Threads-1
        /// helpers) and returns the totals. Cancelling <paramref name="cancellationToken"/>
        /// stops the run early (as <see cref="Stop"/>) and the task completes with the
        /// partial totals: it does not throw for a cancellation once the run has
        /// started, so what ran is never lost (check the token to tell a stopped run
        /// from a finished one). A token cancelled before the call throws
        /// OperationCanceledException and nothing runs. A LoadGen runs once.</summary>
        public Task<LoadGenResult> RunAsync(CancellationToken cancellationToken = default)
        {
            if (cancellationToken.IsCancellationRequested)
                return Task.FromCanceled<LoadGenResult>(cancellationToken);
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return Task.Run(() =>
            {
                // Stop only signals the running generator (an eventfd): safe from
                // the token's thread, and a stop before the run starts ends it at once.
                using (cancellationToken.UnsafeRegister(static s =>
                {
                    try { ((LoadGen)s).Stop(); }
                    catch (ObjectDisposedException) { }
                }, this))
                {
                    Run();
                }
                return GetResult();
            }, CancellationToken.None);
        }

        /// <summary>Ends a run early. Any thread.</summary>
        public void Stop()
        { bool a = false; try { UrkException.Check(Native.urk_loadgen_stop(Enter(ref a)), "urk_loadgen_stop"); } finally { Exit(a); } }

        /// <summary>The number of kinds of request of the scenario
        /// (<see cref="LoadGenOptions.Requests"/>); 0 without one.</summary>
        public int RequestKinds { get; private set; }

        /// <summary>Totals so far as the native struct (all 168 bytes, through
        /// urk_loadgen_result_ex); any thread, during or after a run.</summary>
        public UrkLoadGenResult Result
        {
            get
            {
                bool a = false;
                try
                {
                    UrkLoadGenResult r;
                    UrkException.Check(Native.urk_loadgen_result_ex(Enter(ref a), &r, (uint)sizeof(UrkLoadGenResult)), "urk_loadgen_result_ex");
                    return r;
                }
                finally { Exit(a); }
            }
        }

        /// <summary>Totals so far; any thread, during or after a run.</summary>
        public LoadGenResult GetResult() => new LoadGenResult(Result);

        /// <summary>The totals of kind <paramref name="index"/> of the scenario:
        /// its requests, responses, errors met while one of its requests was
        /// outstanding, NonSuccess and latency (bytes and reconnects are not split).</summary>
        public LoadGenResult GetRequestResult(int index)
        {
            uint i = KindIndex(index);
            bool a = false;
            try
            {
                UrkLoadGenResult r;
                UrkException.Check(Native.urk_loadgen_request_result(Enter(ref a), i, &r, (uint)sizeof(UrkLoadGenResult)), "urk_loadgen_request_result");
                return new LoadGenResult(r);
            }
            finally { Exit(a); }
        }

        /// <summary>HTTP responses by status code (ascending); empty for the
        /// fixed and delimited framings.</summary>
        public IReadOnlyDictionary<int, long> GetStatusCounts() => StatusCounts(-1);

        /// <summary>HTTP responses of kind <paramref name="index"/> of the scenario by status code.</summary>
        public IReadOnlyDictionary<int, long> GetStatusCounts(int index) => StatusCounts((int)KindIndex(index));

        /// <summary>The latency histogram: <see cref="HistogramBuckets"/> counts;
        /// see <see cref="HistogramBucketRange"/> for what bucket i holds.
        /// Histograms of several runs add bucket by bucket.</summary>
        public long[] GetHistogram() => Histogram(-1);

        /// <summary>The latency histogram of kind <paramref name="index"/> of the scenario.</summary>
        public long[] GetHistogram(int index) => Histogram((int)KindIndex(index));

        /// <summary>The number of buckets of a histogram (URK_LOADGEN_HIST_BUCKETS).</summary>
        public const int HistogramBuckets = UrkConst.URK_LOADGEN_HIST_BUCKETS;

        /// <summary>The latencies (ns, inclusive) histogram bucket <paramref name="bucket"/>
        /// holds: bucket i &lt; 128 holds i; above, with j = i - 128 and s = j / 128,
        /// [(128 + j % 128) &lt;&lt; s, ((129 + j % 128) &lt;&lt; s) - 1]. The last
        /// bucket also holds every latency beyond it.</summary>
        public static (long LowNs, long HighNs) HistogramBucketRange(int bucket)
        {
            if (bucket < 0 || bucket >= HistogramBuckets)
                throw new ArgumentOutOfRangeException("bucket", bucket, "a bucket is 0.." + (HistogramBuckets - 1));
            const int sub = 1 << UrkConst.URK_LOADGEN_HIST_SUB_BITS;
            if (bucket < sub)
                return (bucket, bucket);
            int j = bucket - sub, s = j / sub;
            return ((long)(sub + j % sub) << s, ((long)(sub + 1 + j % sub) << s) - 1);
        }

        uint KindIndex(int index)
        {
            if (index < 0 || index >= RequestKinds)
                throw new ArgumentOutOfRangeException("index", index, RequestKinds == 0
                    ? "this load generator has no scenario (LoadGenOptions.Requests)"
                    : "a request kind is 0.." + (RequestKinds - 1));
            return (uint)index;
        }

        IReadOnlyDictionary<int, long> StatusCounts(int index)
        {
            bool a = false;
            try
            {
                IntPtr raw = Enter(ref a);
                string fn = index < 0 ? "urk_loadgen_status" : "urk_loadgen_request_status";
                var result = new SortedDictionary<int, long>();
                int cap = 0;
                while (true)
                {
                    // During a run new codes may appear between the sizing call
                    // and the copy: retry until the copy held them all.
                    var codes = new uint[cap];
                    var counts = new ulong[cap];
                    int n;
                    fixed (uint* c = codes)
                    fixed (ulong* k = counts)
                        n = UrkException.Check(index < 0
                            ? Native.urk_loadgen_status(raw, c, k, (uint)cap)
                            : Native.urk_loadgen_request_status(raw, (uint)index, c, k, (uint)cap), fn);
                    if (n <= cap)
                    {
                        for (int i = 0; i < n; i++)
                            result.Add((int)codes[i], (long)counts[i]);
                        return result;
                    }
                    cap = n + 4;
                }
            }
            finally { Exit(a); }
        }

        long[] Histogram(int index)
        {
            bool a = false;
            try
            {
                IntPtr raw = Enter(ref a);
                var counts = new long[HistogramBuckets];
                fixed (long* k = counts)
                {
                    if (index < 0)
                        UrkException.Check(Native.urk_loadgen_histogram(raw, (ulong*)k, (uint)counts.Length), "urk_loadgen_histogram");
                    else
                        UrkException.Check(Native.urk_loadgen_request_histogram(raw, (uint)index, (ulong*)k, (uint)counts.Length), "urk_loadgen_request_histogram");
                }
                return counts;
            }
            finally { Exit(a); }
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

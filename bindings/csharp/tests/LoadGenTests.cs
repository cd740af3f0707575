// The load generator against small loopback HTTP servers written with
// System.Net.Sockets: status counts, reconnects, weighted scenarios counted
// per kind of request, histograms, and the options' validation.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class LoadGenTests
    {
        /// <summary>An HTTP/1.1 server on 127.0.0.1 (port 0) that answers each
        /// request (a head without body) with the status <c>status</c> picks
        /// from the request's text and its sequence number over all
        /// connections; it closes the connection after a response when
        /// <c>close</c> says so (sending Connection: close).</summary>
        sealed class TinyHttpServer : IDisposable
        {
            readonly TcpListener listener = new TcpListener(IPAddress.Loopback, 0);
            readonly Func<string, long, int> status;
            readonly Func<long, bool> close;
            readonly List<Socket> conns = new List<Socket>();
            long served;
            public long Served => Interlocked.Read(ref served);
            public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

            public TinyHttpServer(Func<string, long, int> status, Func<long, bool> close = null)
            {
                this.status = status;
                this.close = close ?? (_ => false);
                listener.Start();
                new Thread(AcceptLoop) { IsBackground = true }.Start();
            }

            void AcceptLoop()
            {
                try
                {
                    while (true)
                    {
                        var s = listener.AcceptSocket();
                        lock (conns) conns.Add(s);
                        new Thread(() => Serve(s)) { IsBackground = true }.Start();
                    }
                }
                catch (SocketException) { }
                catch (ObjectDisposedException) { }
            }

            void Serve(Socket s)
            {
                var pending = new StringBuilder();
                var buf = new byte[8192];
                try
                {
                    while (true)
                    {
                        int n = s.Receive(buf);
                        if (n == 0)
                            break;
                        pending.Append(Encoding.ASCII.GetString(buf, 0, n));
                        while (true)
                        {
                            string text = pending.ToString();
                            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                            if (end < 0)
                                break;
                            pending.Remove(0, end + 4);
                            long seq = Interlocked.Increment(ref served) - 1;
                            int code = status(text.Substring(0, end), seq);
                            bool bye = close(seq);
                            string body = code == 200 ? "ok" : "missing";
                            string reply = string.Format("HTTP/1.1 {0} {1}\r\nContent-Length: {2}\r\n{3}\r\n{4}",
                                code, code == 200 ? "OK" : "Not Found", body.Length, bye ? "Connection: close\r\n" : "", body);
                            s.Send(Encoding.ASCII.GetBytes(reply));
                            if (bye)
                            {
                                s.Shutdown(SocketShutdown.Both);
                                s.Close();
                                return;
                            }
                        }
                    }
                }
                catch (SocketException) { }
                catch (ObjectDisposedException) { }
                s.Close();
            }

            public void Dispose()
            {
                listener.Stop();
                lock (conns)
                    foreach (var s in conns)
                        s.Dispose();
            }
        }

        static readonly byte[] Get = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: t\r\n\r\n");

        [Fact]
        public static void TypedOptionsMirrorTheRawFields()
        {
            var o = new LoadGenOptions();
            o.EndPoint = new IPEndPoint(IPAddress.IPv6Loopback, 8081);
            Check.Equal("::1", o.Host, "Host from EndPoint");
            Check.Equal((ushort)8081, o.Port, "Port from EndPoint");
            o.Host = "127.0.0.2";
            Check.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 8081), o.EndPoint, "EndPoint from Host and Port");
            o.Duration = TimeSpan.FromSeconds(1.5);
            Check.Equal(1500UL, o.DurationMs, "DurationMs");
            o.TimeoutMs = 250;
            Check.Equal(TimeSpan.FromMilliseconds(250), o.Timeout, "Timeout from TimeoutMs");
            Check.Throws<ArgumentOutOfRangeException>(() => o.Duration = TimeSpan.FromSeconds(-1), "negative Duration");
            Check.Throws<ArgumentOutOfRangeException>(() => o.EndPoint = new IPEndPoint(IPAddress.Loopback, 0), "port 0");
            Check.Throws<ArgumentNullException>(() => o.EndPoint = null, "null EndPoint");
        }

        [Fact]
        public static void RunAsyncCompletesAndCancellationReturnsThePartialTotals()
        {
            using (var server = new TinyHttpServer((req, seq) => 200))
            {
                var o = new LoadGenOptions
                {
                    EndPoint = new IPEndPoint(IPAddress.Loopback, server.Port),
                    Request = Get, Connections = 2, MaxRequests = 300, Timeout = TimeSpan.FromSeconds(20),
                };
                using (var lg = LoadGen.Create(o))
                {
                    var t = lg.RunAsync();
                    Check.True(t.Wait(60000), "a run that ends by itself");
                    Check.Equal(300L, t.Result.Responses, "responses");
                    Check.Equal(0L, t.Result.Errors, "errors");
                    Check.True(t.Result.LatencyMax > TimeSpan.Zero && t.Result.LatencyP50 <= t.Result.LatencyMax, "latencies as TimeSpan");
                }

                // Ten minutes, cancelled once responses flow: the task completes
                // with what ran (no exception), long before the duration.
                o.MaxRequests = 0;
                o.Duration = TimeSpan.FromMinutes(10);
                using (var cts = new CancellationTokenSource())
                using (var lg = LoadGen.Create(o))
                {
                    var t = lg.RunAsync(cts.Token);
                    var deadline = DateTime.UtcNow.AddSeconds(30);
                    while (lg.GetResult().Responses < 100 && DateTime.UtcNow < deadline)
                        Thread.Sleep(20);
                    Check.True(lg.GetResult().Responses >= 100, "responses flow");
                    Check.True(!t.IsCompleted, "still running before the cancel");
                    cts.Cancel();
                    Check.True(t.Wait(30000), "the cancel stopped the run");
                    Check.True(t.Status == TaskStatus.RanToCompletion, "completes, not cancelled: " + t.Status);
                    Check.True(t.Result.Responses >= 100, "partial totals: " + t.Result.Responses);
                    Check.True(t.Result.Elapsed < TimeSpan.FromMinutes(5), "stopped early: " + t.Result.Elapsed);
                }

                // A token cancelled before the call: nothing runs.
                using (var lg = LoadGen.Create(o))
                {
                    var t = lg.RunAsync(new CancellationToken(true));
                    Check.True(t.IsCanceled, "cancelled before the start");
                    Check.Equal(0L, lg.GetResult().Requests, "nothing sent");
                }
            }
        }

        [Fact]
        public static void StatusCountsOfAlternating200And404()
        {
            // One connection at a time: responses are served and counted in
            // order, so 400 responses hold exactly 200 of each code. Every
            // 100th response closes its connection (Connection: close).
            using (var server = new TinyHttpServer((req, seq) => seq % 2 == 0 ? 200 : 404, seq => seq % 100 == 99))
            using (var lg = LoadGen.Create(new LoadGenOptions
            {
                Port = (ushort)server.Port, Request = Get, Connections = 1, MaxRequests = 400, TimeoutMs = 20000,
            }))
            {
                lg.Run();
                var r = lg.GetResult();
                Check.Equal(400L, r.Responses, "responses");
                Check.Equal(0L, r.Errors, "errors");
                Check.Equal(200L, r.NonSuccess, "non-2xx responses");
                Check.True(r.Reconnects >= 3 && r.Reconnects <= 4, "reconnects after Connection: close: " + r.Reconnects);
                var codes = lg.GetStatusCounts();
                Check.Equal("200,404", string.Join(",", codes.Keys), "status codes, ascending");
                Check.Equal(200L, codes[200], "200 responses");
                Check.Equal(200L, codes[404], "404 responses");
                Check.True(r.LatencySumNs >= r.LatencyMaxNs && r.LatencyMaxNs > 0, "latency sum");
                Check.Equal(r.LatencySumNs / 400, r.LatencyMeanNs, "mean = sum / responses");

                var hist = lg.GetHistogram();
                Check.Equal(UrkConst.URK_LOADGEN_HIST_BUCKETS, hist.Length, "histogram buckets");
                Check.Equal(400L, hist.Sum(), "one histogram sample per response");
                int lo = Array.FindIndex(hist, c => c > 0), hi = Array.FindLastIndex(hist, c => c > 0);
                Check.True(LoadGen.HistogramBucketRange(lo).LowNs <= r.LatencyMinNs
                           && r.LatencyMinNs <= LoadGen.HistogramBucketRange(lo).HighNs, "min latency in the lowest bucket");
                Check.True(LoadGen.HistogramBucketRange(hi).LowNs <= r.LatencyMaxNs
                           && r.LatencyMaxNs <= LoadGen.HistogramBucketRange(hi).HighNs, "max latency in the highest bucket");

                // Raw struct: the 0.2 tail came through urk_loadgen_result_ex.
                Check.Equal(200UL, lg.Result.non2xx, "raw non2xx");
                Check.Throws<ArgumentOutOfRangeException>(() => lg.GetRequestResult(0), "no scenario");
            }
        }

        [Fact]
        public static void WeightedScenarioCountedPerRequest()
        {
            var a = Encoding.ASCII.GetBytes("GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
            var b = Encoding.ASCII.GetBytes("GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
            using (var server = new TinyHttpServer((req, seq) => req.StartsWith("GET /b ", StringComparison.Ordinal) ? 404 : 200))
            using (var lg = LoadGen.Create(new LoadGenOptions
            {
                Port = (ushort)server.Port, Connections = 1, MaxRequests = 400, TimeoutMs = 20000,
                Requests = new[] { new LoadGenRequest(a, 3), new LoadGenRequest(b, 1) },
                RampUp = TimeSpan.FromMilliseconds(50),
            }))
            {
                // The options' bytes were copied: changing them must not change what is sent.
                Array.Clear(a);
                Array.Clear(b);
                Check.Equal(2, lg.RequestKinds, "request kinds");
                lg.Run();
                var total = lg.GetResult();
                Check.Equal(400L, total.Responses, "responses");
                Check.Equal(0L, total.Errors, "errors");
                // Smooth weighted round robin: every 4 requests hold 3 of /a and 1 of /b.
                var ra = lg.GetRequestResult(0);
                var rb = lg.GetRequestResult(1);
                Check.Equal(300L, ra.Responses, "/a responses");
                Check.Equal(100L, rb.Responses, "/b responses");
                Check.Equal(0L, ra.NonSuccess, "/a non-2xx");
                Check.Equal(100L, rb.NonSuccess, "/b non-2xx");
                Check.Equal(100L, total.NonSuccess, "total non-2xx");
                Check.Equal(total.Requests, ra.Requests + rb.Requests, "requests split over the kinds");
                Check.Equal(0L, ra.BytesIn, "bytes are not split per kind");

                var sa = lg.GetStatusCounts(0);
                var sb = lg.GetStatusCounts(1);
                Check.Equal(1, sa.Count, "/a status codes");
                Check.Equal(300L, sa[200], "/a 200s");
                Check.Equal(1, sb.Count, "/b status codes");
                Check.Equal(100L, sb[404], "/b 404s");
                var st = lg.GetStatusCounts();
                Check.Equal(300L, st[200], "total 200s");
                Check.Equal(100L, st[404], "total 404s");

                Check.Equal(300L, lg.GetHistogram(0).Sum(), "/a histogram samples");
                Check.Equal(100L, lg.GetHistogram(1).Sum(), "/b histogram samples");
                Check.Throws<ArgumentOutOfRangeException>(() => lg.GetRequestResult(2), "kind 2 of 2");
                Check.Throws<ArgumentOutOfRangeException>(() => lg.GetStatusCounts(-1), "kind -1");
            }
        }

        [Fact]
        public static void ScenarioOptionsAreValidated()
        {
            var one = new LoadGenRequest(Get);
            Func<LoadGenOptions, LoadGenOptions> opts = o => { o.Port = 9; o.MaxRequests = 1; return o; };
            Check.Throws<ArgumentException>(() => LoadGen.Create(opts(new LoadGenOptions { Requests = new LoadGenRequest[0] })), "no kinds");
            Check.Throws<ArgumentException>(() => LoadGen.Create(opts(new LoadGenOptions
            { Requests = Enumerable.Repeat(one, UrkConst.URK_LOADGEN_MAX_REQUESTS + 1).ToArray() })), "33 kinds");
            Check.Throws<ArgumentException>(() => LoadGen.Create(opts(new LoadGenOptions { Requests = new[] { one }, Request = Get })), "Request and Requests");
            Check.Throws<ArgumentException>(() => LoadGen.Create(opts(new LoadGenOptions { Requests = new[] { new LoadGenRequest(new byte[0]) } })), "empty data");
            Check.Throws<ArgumentException>(() => LoadGen.Create(opts(new LoadGenOptions { Requests = new[] { new LoadGenRequest(Get, 0) } })), "weight 0");
            Check.Throws<ArgumentOutOfRangeException>(() => LoadGen.Create(opts(new LoadGenOptions { Request = Get, RampUp = TimeSpan.FromSeconds(-1) })), "negative ramp");
            // 32 kinds is the limit, accepted.
            using (var lg = LoadGen.Create(opts(new LoadGenOptions { Requests = Enumerable.Repeat(one, UrkConst.URK_LOADGEN_MAX_REQUESTS).ToArray() })))
                Check.Equal(UrkConst.URK_LOADGEN_MAX_REQUESTS, lg.RequestKinds, "32 kinds");
        }

        [Fact]
        public static void HistogramBucketRanges()
        {
            Check.Equal((0L, 0L), LoadGen.HistogramBucketRange(0), "bucket 0");
            Check.Equal((127L, 127L), LoadGen.HistogramBucketRange(127), "bucket 127");
            Check.Equal((128L, 128L), LoadGen.HistogramBucketRange(128), "bucket 128");
            Check.Equal((256L, 257L), LoadGen.HistogramBucketRange(256), "bucket 256");
            // The buckets tile the range without gaps.
            for (int i = 1; i < LoadGen.HistogramBuckets; i++)
                Check.Equal(LoadGen.HistogramBucketRange(i - 1).HighNs + 1, LoadGen.HistogramBucketRange(i).LowNs, "bucket " + i);
            Check.Equal((1L << 44) - 1, LoadGen.HistogramBucketRange(LoadGen.HistogramBuckets - 1).HighNs, "last bucket ends below 2^44");
            Check.Throws<ArgumentOutOfRangeException>(() => LoadGen.HistogramBucketRange(LoadGen.HistogramBuckets), "bucket out of range");
        }
    }
}

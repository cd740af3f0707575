// Echo integrity over loopback through the engine: random payloads, several
// clients, backpressure, the client side (ConnectAsync), native mode and the
// load generator.
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class EchoTests
    {
        internal static async Task Echo(Connection conn)
        {
            var buffer = new byte[8192];
            while (true)
            {
                int n = await conn.ReadAsync(buffer);
                if (n == 0)
                    return;
                await conn.WriteAsync(new ReadOnlyMemory<byte>(buffer, 0, n));
            }
        }

        /// <summary>Sends payload from a second thread while reading the echo,
        /// so neither side can block the other; returns what came back.</summary>
        internal static byte[] RoundTrip(Socket s, byte[] payload)
        {
            Exception sendError = null;
            var sender = new Thread(() =>
            {
                try
                {
                    int off = 0;
                    while (off < payload.Length)
                        off += s.Send(payload, off, Math.Min(65536, payload.Length - off), SocketFlags.None);
                }
                catch (Exception ex) { sendError = ex; }
            });
            sender.Start();
            var back = new byte[payload.Length];
            int got = 0;
            while (got < back.Length)
            {
                int n = s.Receive(back, got, back.Length - got, SocketFlags.None);
                if (n == 0)
                    throw new AssertionException("server closed after " + got + " of " + back.Length + " bytes");
                got += n;
            }
            sender.Join();
            if (sendError != null)
                throw sendError;
            return back;
        }

        internal static Socket Connect(int port)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.ReceiveTimeout = 20000;
            s.SendTimeout = 20000;
            s.Connect(new IPEndPoint(IPAddress.Loopback, port));
            return s;
        }

        [Fact]
        public static void RandomPayloadsFromSeveralClients()
        {
            using (var server = UrkServer.Start(new EngineOptions { Reactors = 2, BufCount = 256 }, Echo))
            {
                var errors = new List<Exception>();
                var clients = new List<Thread>();
                for (int c = 0; c < 4; c++)
                {
                    int seed = 1000 + c;
                    var t = new Thread(() =>
                    {
                        try
                        {
                            var rng = new Random(seed);
                            using (var s = Connect(server.Port))
                                for (int i = 0; i < 25; i++)
                                {
                                    // Mostly small, sometimes far larger than one receive buffer.
                                    int len = rng.Next(4) == 0 ? rng.Next(1, 300000) : rng.Next(1, 2000);
                                    var payload = new byte[len];
                                    rng.NextBytes(payload);
                                    Check.Bytes(payload, RoundTrip(s, payload), "echo of " + len + " bytes");
                                }
                        }
                        catch (Exception ex) { lock (errors) errors.Add(ex); }
                    });
                    t.Start();
                    clients.Add(t);
                }
                foreach (var t in clients)
                    t.Join();
                if (errors.Count > 0)
                    throw errors[0];
                ulong accepted = server.Engine.Stats.accepted;
                Check.Equal(4UL, accepted, "connections accepted");
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void BackpressureKeepsEveryByte()
        {
            // A small send limit and a client that does not read for a while: the
            // server's writes wait (EAGAIN, then WRITABLE), reading pauses, nothing is lost.
            var opts = new EngineOptions { SendLimit = 32 * 1024, BufCount = 64, BufSize = 4096 };
            using (var server = UrkServer.Start(opts, Echo))
            {
            using (var s = Connect(server.Port))
            {
                var payload = new byte[3 * 1024 * 1024];
                new Random(7).NextBytes(payload);
                Exception sendError = null;
                var sender = new Thread(() =>
                {
                    try { s.Send(payload); } catch (Exception ex) { sendError = ex; }
                });
                sender.Start();
                Thread.Sleep(300); // let the server hit its send limit
                var back = new byte[payload.Length];
                int got = 0;
                while (got < back.Length)
                {
                    int n = s.Receive(back, got, back.Length - got, SocketFlags.None);
                    Check.True(n > 0, "stream ended early at " + got);
                    got += n;
                }
                sender.Join();
                Check.True(sendError == null, "send: " + sendError);
                Check.Bytes(payload, back, "3 MiB echo under backpressure");
            }
            TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void ClientConnectionsThroughTheEngine()
        {
            using (var server = UrkServer.Start(new EngineOptions { Reactors = 2 }, Echo))
            {
                var tasks = new List<Task>();
                for (int c = 0; c < 3; c++)
                    tasks.Add(ClientRun(server, 500 + c));
                Check.True(Task.WaitAll(tasks.ToArray(), 30000), "clients finished");
                Check.Equal(6UL, server.Engine.Reactor(0).Stats.connected + server.Engine.Reactor(1).Stats.connected
                             + server.Engine.Stats.accepted, "3 outgoing + 3 accepted");
                TestEnv.AssertDrained(server.Engine);
            }
        }

        static async Task ClientRun(UrkServer server, int seed)
        {
            var rng = new Random(seed);
            var conn = await server.ConnectAsync("127.0.0.1", (ushort)server.Port);
            for (int i = 0; i < 20; i++)
            {
                var payload = new byte[rng.Next(1, 100000)];
                rng.NextBytes(payload);
                await conn.WriteAsync(payload);
                await conn.FlushAsync();
                var back = new byte[payload.Length];
                Check.True(await conn.ReadExactlyAsync(back), "echo arrived");
                Check.Bytes(payload, back, "client echo");
            }
            conn.Close();
            Check.Equal(0, await conn.ReadAsync(new byte[1]), "end of stream after close");
        }

        [Fact]
        public static void SteadyReadsDoNotAllocate()
        {
            // Measured on the reactor thread around many request/response round
            // trips; the first round trips (handler start-up) are excluded.
            long before = -1, after = -1;
            int rounds = 0;
            var done = new ManualResetEventSlim();
            Func<Connection, Task> handler = async conn =>
            {
                var buffer = new byte[256];
                while (true)
                {
                    int n = await conn.ReadAsync(buffer);
                    if (n == 0)
                        return;
                    rounds++;
                    if (rounds == 100) before = GC.GetAllocatedBytesForCurrentThread();
                    if (rounds == 1100) { after = GC.GetAllocatedBytesForCurrentThread(); done.Set(); }
                    await conn.WriteAsync(new ReadOnlyMemory<byte>(buffer, 0, n));
                }
            };
            using (var server = UrkServer.Start(null, handler))
            using (var s = Connect(server.Port))
            {
                var ping = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 };
                var back = new byte[8];
                for (int i = 0; i < 1200 && !done.IsSet; i++)
                {
                    s.Send(ping);
                    int got = 0;
                    while (got < 8)
                        got += s.Receive(back, got, 8 - got, SocketFlags.None);
                }
                Check.True(done.Wait(10000), "1100 round trips");
            }
            double perRead = (after - before) / 1000.0;
            Console.WriteLine("    allocated {0:F1} bytes per read/write round trip on the reactor thread", perRead);
            Check.True(perRead < 64, "steady path allocates " + perRead + " bytes per round trip");
        }

        sealed class NativeEcho : NativeHandler
        {
            public override bool OnData(Reactor r, ulong conn, IntPtr data, uint len, uint buf)
            {
                // Copying send: the engine may release buf when we return.
                if (r.TrySend(conn, data, len, UrkConst.URK_SEND_FORCE) != 0)
                    r.Close(conn, true);
                return false;
            }
            public int Closed;
            public override void OnClose(Reactor r, ulong conn, int reason) { Interlocked.Increment(ref Closed); }
        }

        [Fact]
        public static void NativeModeEcho()
        {
            var handler = new NativeEcho();
            using (var engine = Engine.Create(new EngineOptions { Reactors = 1 }))
            {
                engine.Start(handler);
                var rng = new Random(3);
                using (var s = Connect(engine.Port))
                    for (int i = 0; i < 20; i++)
                    {
                        var payload = new byte[rng.Next(1, 50000)];
                        rng.NextBytes(payload);
                        Check.Bytes(payload, RoundTrip(s, payload), "native echo");
                    }
                // The peer's close reaches on_close while the reactor is
                // otherwise idle: no later event or Stop is needed for it.
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Volatile.Read(ref handler.Closed) == 0 && DateTime.UtcNow < deadline)
                    Thread.Sleep(5);
                Check.Equal(1, Volatile.Read(ref handler.Closed), "on_close ran before Stop");
                engine.Stop(100);
                Check.Equal(1, Volatile.Read(ref handler.Closed), "on_close ran once");
            }
        }

        [Fact]
        public static void LoadGeneratorAgainstTheServer()
        {
            using (var server = UrkServer.Start(null, Echo))
            using (var lg = LoadGen.Create(new LoadGenOptions
            {
                Port = (ushort)server.Port, Framing = Framing.Fixed, ResponseLength = 16,
                Request = new byte[16], Connections = 4, MaxRequests = 2000, TimeoutMs = 10000,
            }))
            {
                lg.Run();
                var r = lg.Result;
                Check.Equal(2000UL, r.responses, "responses");
                Check.Equal(2000UL, r.requests, "requests");
                Check.Equal(0UL, r.err_connect + r.err_read + r.err_write + r.err_timeout + r.err_framing, "errors");
                Check.Equal(32000UL, r.bytes_in, "bytes in");
                Check.True(lg.Percentile(0.5) > 0 && lg.Percentile(0.5) <= r.lat_max_ns, "median latency");
            }
        }
    }
}

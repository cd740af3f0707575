// The .NET-facing API: cancellation, zero-byte reads, thread-pool handlers,
// staged writes (one batch, no completion events), the Error event, options
// as .NET types, and no use of a connection or engine after the stop.
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class ApiTests
    {
        [Fact]
        public static void CancelledReadLeavesTheConnectionUsable()
        {
            var result = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c =>
            {
                try
                {
                    var buf = new byte[16];
                    using (var cts = new CancellationTokenSource())
                    {
                        var pending = c.ReadAsync(buf, cts.Token);
                        cts.CancelAfter(50);
                        try { await pending; result.TrySetResult("not cancelled"); return; }
                        catch (OperationCanceledException) { }
                    }
                    await c.WriteAsync(new byte[] { 1 });       // tell the client to send
                    int n = await c.ReadAsync(buf);
                    result.TrySetResult(n == 3 ? "ok" : "read " + n);
                }
                catch (Exception ex) { result.TrySetResult(ex.ToString()); }
            }))
            {
                using (var s = EchoTests.Connect(server.Port))
                {
                    var one = new byte[1];
                    Check.Equal(1, s.Receive(one), "signal");
                    s.Send(new byte[] { 7, 8, 9 });
                    Check.True(result.Task.Wait(20000), "handler finished");
                    Check.Equal("ok", result.Task.Result, "cancel then read");
                }
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void AlreadyCancelledTokensFailAtOnce()
        {
            var result = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, c =>
            {
                int cancelled = 0;
                var t = new CancellationToken(true);
                if (c.ReadAsync(new byte[1], t).IsCanceled) cancelled++;
                if (c.WriteAsync(new byte[1], t).IsCanceled) cancelled++;
                if (c.FlushAsync(t).IsCanceled) cancelled++;
                result.TrySetResult(cancelled);
                return Task.CompletedTask;
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                Check.True(result.Task.Wait(20000), "handler ran");
                Check.Equal(3, result.Task.Result, "read, write and flush cancelled");
                Check.True(server.ConnectAsync("127.0.0.1", 1, -1, new CancellationToken(true)).IsCanceled, "connect cancelled");
            }
        }

        [Fact]
        public static void ZeroByteReadWaitsAndConsumesNothing()
        {
            var result = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c =>
            {
                var zero = c.ReadAsync(Memory<byte>.Empty);
                bool waited = !zero.IsCompleted;
                await c.WriteAsync(new byte[] { 1 });             // only now does the client send
                int z = await zero;
                var buf = new byte[16];
                int n = await c.ReadAsync(buf);
                result.TrySetResult(string.Format("{0} {1} {2} {3}", waited, z, n, buf[0] + buf[1] + buf[2] + buf[3]));
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                var one = new byte[1];
                Check.Equal(1, s.Receive(one), "signal");
                s.Send(new byte[] { 1, 2, 3, 4 });
                Check.True(result.Task.Wait(20000), "handler finished");
                // waited, returned 0, then all 4 bytes were still there
                Check.Equal("True 0 4 10", result.Task.Result, "zero-byte read");
            }
        }

        [Fact]
        public static void ThreadPoolHandlersMayBlock()
        {
            // One reactor: with the reactor context a blocked handler would stall
            // the other connection; on the pool it only costs a pool thread.
            var release = new ManualResetEventSlim();
            var contexts = new List<string>();
            var opts = new ServerOptions { UseReactorContext = false };
            using (var server = UrkServer.Start(new EngineOptions { Reactors = 1 }, async c =>
            {
                var buf = new byte[8192];
                int n = await c.ReadAsync(buf);
                lock (contexts)
                    contexts.Add(SynchronizationContext.Current == null ? "none" : SynchronizationContext.Current.GetType().Name);
                if (n > 0 && buf[0] == 0xFF)
                    release.Wait(20000);                        // blocks this pool thread
                while (n > 0)
                {
                    await c.WriteAsync(buf.AsMemory(0, n));
                    await c.FlushAsync();
                    n = await c.ReadAsync(buf);
                }
            }, opts))
            {
                using (var blocker = EchoTests.Connect(server.Port))
                using (var s = EchoTests.Connect(server.Port))
                {
                    blocker.Send(new byte[] { 0xFF });
                    var rng = new Random(5);
                    for (int i = 0; i < 20; i++)
                    {
                        var payload = new byte[rng.Next(1, 200000)];
                        rng.NextBytes(payload);
                        payload[0] = 1;
                        Check.Bytes(payload, EchoTests.RoundTrip(s, payload), "echo beside a blocked handler");
                    }
                    release.Set();
                    var back = new byte[1];
                    Check.Equal(1, blocker.Receive(back), "blocked handler went on");
                }
                TestEnv.AssertDrained(server.Engine);
            }
            lock (contexts)
                Check.True(contexts.Count == 2 && contexts.TrueForAll(x => x == "none"), "no reactor context: " + string.Join(",", contexts));
        }

        [Fact]
        public static void WritesOfOneTurnAreOneBatchWithoutCompletionEvents()
        {
            const int writes = 200;
            var done = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
            long batches = -1;
            UrkServer server = null;
            server = UrkServer.Start(new EngineOptions { Reactors = 1 }, async c =>
            {
                var one = new byte[1];
                await c.ReadAsync(one);
                ulong before = server.Engine.Reactor(0).Stats.events;
                long batchesBefore = Interlocked.Read(ref server.Loop(0).SendBatchCalls);
                for (int i = 0; i < writes; i++)
                    await c.WriteAsync(new byte[] { (byte)i, (byte)(i >> 8) });
                await c.FlushAsync();
                batches = Interlocked.Read(ref server.Loop(0).SendBatchCalls) - batchesBefore;
                await c.ReadAsync(one); // the client got everything
                done.TrySetResult(server.Engine.Reactor(0).Stats.events - before);
            });
            try
            {
                using (var s = EchoTests.Connect(server.Port))
                {
                    s.Send(new byte[] { 1 });
                    var back = new byte[writes * 2];
                    int got = 0;
                    while (got < back.Length)
                    {
                        int n = s.Receive(back, got, back.Length - got, SocketFlags.None);
                        Check.True(n > 0, "stream ended early");
                        got += n;
                    }
                    for (int i = 0; i < writes; i++)
                        Check.True(back[2 * i] == (byte)i && back[2 * i + 1] == (byte)(i >> 8), "write " + i + " in order");
                    s.Send(new byte[] { 2 });
                    Check.True(done.Task.Wait(20000), "handler finished");
                    // Without staging there would be one SEND_DONE per write (200+).
                    Check.True(done.Task.Result < 10, "events during 200 writes: " + done.Task.Result);
                    Check.Equal(1L, batches, "urk_send_batch calls for 200 writes of one turn");
                }
                TestEnv.AssertDrained(server.Engine);
            }
            finally { server.Dispose(); }
        }

        [Fact]
        public static void HandlerExceptionsRaiseTheErrorEvent()
        {
            var seen = new TaskCompletionSource<UrkErrorEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, c => throw new InvalidTimeZoneException("boom")))
            {
                server.Error += (sender, e) => seen.TrySetResult(e);
                using (var s = EchoTests.Connect(server.Port))
                {
                    Check.True(seen.Task.Wait(20000), "Error raised");
                    Check.True(seen.Task.Result.Exception is InvalidTimeZoneException, "the handler's exception");
                    Check.True(seen.Task.Result.ConnectionId != 0, "names the connection");
                    var b = new byte[1];
                    try { Check.Equal(0, s.Receive(b), "connection aborted"); }
                    catch (SocketException) { } // RST
                }
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void AFaultedHandlerGivesItsUnreadBuffersBack()
        {
            // The handler reads one byte of 64 KiB, then throws: the rest sits in
            // provided buffers nobody will read, and must go back to the kernel.
            var seen = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var read = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c =>
            {
                var one = new byte[1];
                await c.ReadAsync(one);
                await read.Task;
                throw new InvalidTimeZoneException("boom");
            }))
            {
                server.Error += (sender, e) => seen.TrySetResult(true);
                using (var s = EchoTests.Connect(server.Port))
                {
                    s.Send(new byte[64 * 1024]);
                    Thread.Sleep(200); // let the rest arrive before the handler faults
                    read.SetResult(true);
                    Check.True(seen.Task.Wait(20000), "Error raised");
                }
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void DataAfterTheHandlerEndedGoesBackToTheKernel()
        {
            // Small buffers: one 64 KiB send arrives as many DATA events in one
            // poll batch. The handler ends inside the first (its read completes
            // inline), its connection is closed and released; the rest of that
            // batch must not be held for a reader that no longer exists.
            for (int round = 0; round < 2; round++) // the handler returns; the handler faults
            {
                using (var server = UrkServer.Start(new EngineOptions { Reactors = 1, BufCount = 256, BufSize = 1024 }, async c =>
                {
                    await c.ReadAsync(new byte[1]);
                    if (round == 1)
                        throw new InvalidTimeZoneException("ends by a fault");
                }))
                {
                    for (int i = 0; i < 4; i++)
                        using (var s = EchoTests.Connect(server.Port))
                        {
                            s.Send(new byte[64 * 1024]);
                            var buf = new byte[16];
                            try { while (s.Receive(buf) > 0) { } } catch (SocketException) { } // until our close or reset
                        }
                    TestEnv.AssertDrained(server.Engine);
                }
            }
        }

        [Fact]
        public static void OptionsAsDotNetTypes()
        {
            var o = new EngineOptions { EndPoint = new IPEndPoint(IPAddress.IPv6Loopback, 0), IdleTimeout = TimeSpan.FromSeconds(2.5) };
            Check.Equal("::1", o.Host, "host from EndPoint");
            Check.Equal(2500u, o.IdleTimeoutMs, "IdleTimeoutMs from TimeSpan");
            Check.Throws<ArgumentOutOfRangeException>(() => o.IdleTimeout = TimeSpan.FromSeconds(-1), "negative timeout");
            using (var server = UrkServer.Start(o, EchoTests.Echo))
            using (var s = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp))
            {
                s.Connect(new IPEndPoint(IPAddress.IPv6Loopback, server.Port));
                s.ReceiveTimeout = 20000;
                Check.Bytes(new byte[] { 1, 2, 3 }, EchoTests.RoundTrip(s, new byte[] { 1, 2, 3 }), "echo over ::1");
            }
        }

        [Fact]
        public static void ACallbackThatThrowsAfterTheStopIsReportedNotFatal()
        {
            // After a reactor's loop exits, work posted to it (continuations of
            // handlers still running, connection calls) runs on the thread pool.
            // An exception there must reach the Error event as it would on the
            // loop: escaping a pool thread would end the whole process.
            var ctx = new TaskCompletionSource<SynchronizationContext>(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var seen = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            var server = UrkServer.Start(null, async c =>
            {
                ctx.TrySetResult(SynchronizationContext.Current);
                await release.Task; // outlives the server
            });
            server.Error += (sender, e) =>
            {
                if (e.Exception.Message == "thrown by a callback posted after the stop")
                    seen.TrySetResult(e.Exception);
            };
            try
            {
                using (var s = EchoTests.Connect(server.Port))
                {
                    Check.True(ctx.Task.Wait(20000), "handler started");
                    Check.True(ctx.Task.Result != null, "handler runs under the reactor's context");
                    server.Dispose();
                    ctx.Task.Result.Post(_ => throw new InvalidOperationException("thrown by a callback posted after the stop"), null);
                    Check.True(seen.Task.Wait(20000), "the exception reached the Error event");
                }
            }
            finally
            {
                release.TrySetResult(true);
                server.Dispose();
            }
        }

        [Fact]
        public static void RacingCallersNeverSeeAStaleOperation()
        {
            // Writes, flushes and reads from several threads at once on one
            // connection: one wins each time, the others get "already pending".
            // The winner's result goes to AsTask's continuation on the pool; the
            // next winner must not reset the operation before that continuation
            // took it (a stale token there throws on a pool thread: the process
            // dies). Runs for a fixed number of operations, not for a time.
            var conn = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c => { conn.TrySetResult(c); await done.Task; }))
            using (var s = EchoTests.Connect(server.Port))
            {
                var faults = ServerErrors.Watch(server);
                Check.True(conn.Task.Wait(20000), "connected");
                var c = conn.Task.Result;
                var drain = new Thread(() => { var b = new byte[65536]; try { while (s.Receive(b) > 0) { } } catch (SocketException) { } });
                drain.Start();
                long completed = 0;
                var threads = new List<Thread>();
                for (int t = 0; t < 4; t++)
                {
                    int kind = t % 2;
                    var th = new Thread(() =>
                    {
                        var one = new byte[] { 1 };
                        for (int i = 0; i < 3000; i++)
                        {
                            try
                            {
                                if (kind == 0) c.WriteAsync(one).AsTask().Wait();
                                else c.FlushAsync().AsTask().Wait();
                                Interlocked.Increment(ref completed);
                            }
                            catch (InvalidOperationException) { } // another one is pending: expected
                        }
                    });
                    th.Start();
                    threads.Add(th);
                }
                foreach (var th in threads)
                    Check.True(th.Join(60000), "hammer thread finished");
                Check.True(Interlocked.Read(ref completed) > 0, "some operations completed");
                done.TrySetResult(true);
                s.Shutdown(SocketShutdown.Send);
                drain.Join(20000);
                TestEnv.AssertDrained(server.Engine);
                faults.AssertNone();
            }
        }

        [Fact]
        public static void NothingTouchesTheEngineAfterTheStop()
        {
            // Connections outlive the server: every call afterwards is an
            // exception or a no-op, never a call into a destroyed engine.
            var conns = new List<Connection>();
            var server = UrkServer.Start(new EngineOptions { Reactors = 2 }, async c =>
            {
                lock (conns) conns.Add(c);
                await c.ReadAsync(new byte[16]);             // ends when the server stops
            });
            var sockets = new List<Socket>();
            for (int i = 0; i < 8; i++)
                sockets.Add(EchoTests.Connect(server.Port));
            for (int i = 0; i < 500; i++)
            {
                lock (conns) if (conns.Count == 8) break;
                Thread.Sleep(10);
            }
            // Hammer the connections from other threads while the server stops.
            var stop = false;
            var hammers = new List<Thread>();
            for (int t = 0; t < 4; t++)
            {
                var th = new Thread(() =>
                {
                    while (!Volatile.Read(ref stop))
                    {
                        Connection[] snapshot;
                        lock (conns) snapshot = conns.ToArray();
                        foreach (var c in snapshot)
                        {
                            try { c.WriteAsync(new byte[] { 1 }).AsTask().Wait(); } catch (Exception) { }
                            try { c.Close(); } catch (Exception) { }
                        }
                    }
                });
                th.Start();
                hammers.Add(th);
            }
            Thread.Sleep(50);
            server.Dispose();
            Volatile.Write(ref stop, true);
            foreach (var th in hammers)
                th.Join();
            Connection any;
            lock (conns) any = conns[0];
            Check.Throws<ObjectDisposedException>(() => any.WriteAsync(new byte[] { 1 }).AsTask().Wait(), "write after stop");
            Check.Throws<ObjectDisposedException>(() => any.FlushAsync().AsTask().Wait(), "flush after stop");
            Check.Equal(0, any.ReadAsync(new byte[4]).AsTask().Result, "read after stop: end of stream");
            any.Close();
            any.Abort();
            any.Dispose();
            Check.Throws<ObjectDisposedException>(() => server.ConnectAsync("127.0.0.1", 1).Wait(), "connect after stop");
            Check.Throws<ObjectDisposedException>(() => { var p = server.Port; }, "engine after stop");
            foreach (var s in sockets)
                s.Dispose();
        }

        [Fact]
        public static async Task StopAsyncAndDisposeAsync()
        {
            var server = UrkServer.Start(null, EchoTests.Echo);
            using (var s = EchoTests.Connect(server.Port))
            {
                Check.Bytes(new byte[] { 5 }, EchoTests.RoundTrip(s, new byte[] { 5 }), "echo");
                var t1 = server.StopAsync(TimeSpan.FromSeconds(2));
                var t2 = server.StopAsync(TimeSpan.FromSeconds(2));
                await Task.WhenAll(t1, t2);
                await server.DisposeAsync(); // idempotent
                Check.True(server.Engine.IsClosed, "engine released");
                Check.Equal(0, s.Receive(new byte[1]), "FIN after the graceful stop");
            }
        }

        [Fact]
        public static void ReadToTheEndThenReply()
        {
            // Half-close: the client sends its request and FIN; the handler
            // reads to the end of the stream, then replies on the same connection.
            using (var server = UrkServer.Start(null, async c =>
            {
                var buf = new byte[4096];
                long total = 0;
                int n;
                while ((n = await c.ReadAsync(buf)) > 0)
                    total += n;
                await c.WriteAsync(System.Text.Encoding.ASCII.GetBytes("got " + total));
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                s.Send(new byte[100000]);
                s.Shutdown(SocketShutdown.Send);
                var reply = new byte[64];
                int got = 0, r;
                while ((r = s.Receive(reply, got, reply.Length - got, SocketFlags.None)) > 0)
                    got += r;
                Check.Equal("got 100000", System.Text.Encoding.ASCII.GetString(reply, 0, got), "reply after the peer's FIN");
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void PipeReadToTheEndThenReply()
        {
            using (var server = UrkServer.Start(null, async c =>
            {
                var input = c.Transport.Input;
                long total = 0;
                while (true)
                {
                    var res = await input.ReadAsync();
                    total += res.Buffer.Length;
                    input.AdvanceTo(res.Buffer.End);
                    if (res.IsCompleted)
                        break;
                }
                input.Complete();
                await c.Transport.Output.WriteAsync(System.Text.Encoding.ASCII.GetBytes("got " + total));
                c.Transport.Output.Complete();
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                s.Send(new byte[70000]);
                s.Shutdown(SocketShutdown.Send);
                var reply = new byte[64];
                int got = 0, r;
                while ((r = s.Receive(reply, got, reply.Length - got, SocketFlags.None)) > 0)
                    got += r;
                Check.Equal("got 70000", System.Text.Encoding.ASCII.GetString(reply, 0, got), "pipe reply after FIN");
                TestEnv.AssertDrained(server.Engine);
            }
        }
    }
}

// System.IO.Pipelines over connections: zero-copy PipeReader (buffers back
// on AdvanceTo, bounded holding, cancel, FIN and errors), NOCOPY PipeWriter
// with backpressure, AsStream.
using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class PipeTests
    {
        static async Task PipeEcho(Connection c)
        {
            var input = c.Transport.Input;
            var output = c.Transport.Output;
            while (true)
            {
                var r = await input.ReadAsync();
                foreach (var seg in r.Buffer)
                {
                    // An empty result (the FIN with nothing buffered) enumerates one
                    // empty segment, which TryGetArray reports as an (empty) array:
                    // nothing was copied, so only segments with data are checked.
                    if (seg.IsEmpty)
                        continue;
                    // The data stays in the engine's buffers: no managed array behind it.
                    if (MemoryMarshal.TryGetArray(seg, out ArraySegment<byte> _))
                        throw new InvalidOperationException("PipeReader handed out a copy");
                    seg.Span.CopyTo(output.GetSpan(seg.Length));
                    output.Advance(seg.Length);
                }
                input.AdvanceTo(r.Buffer.End);
                var f = await output.FlushAsync();
                if (r.IsCompleted || f.IsCompleted)
                    break;
            }
            await input.CompleteAsync();
            await output.CompleteAsync();
        }

        [Fact]
        public static void PipeEchoIsByteExact()
        {
            using (var server = UrkServer.Start(new EngineOptions { Reactors = 2, BufCount = 256 }, PipeEcho))
            {
                var faults = ServerErrors.Watch(server);
                var rng = new Random(11);
                for (int conn = 0; conn < 3; conn++)
                    using (var s = EchoTests.Connect(server.Port))
                        for (int i = 0; i < 15; i++)
                        {
                            int len = rng.Next(3) == 0 ? rng.Next(1, 1 << 20) : rng.Next(1, 3000);
                            var payload = new byte[len];
                            rng.NextBytes(payload);
                            Check.Bytes(payload, EchoTests.RoundTrip(s, payload), "pipe echo of " + len + " bytes");
                        }
                TestEnv.AssertDrained(server.Engine); // every handler has ended (its close comes after its fault report)
                faults.AssertNone();
            }
        }

        [Fact]
        public static void PipeEchoOnThePool()
        {
            using (var server = UrkServer.Start(null, PipeEcho, new ServerOptions { UseReactorContext = false }))
            {
                var faults = ServerErrors.Watch(server);
                var rng = new Random(12);
                using (var s = EchoTests.Connect(server.Port))
                    for (int i = 0; i < 15; i++)
                    {
                        var payload = new byte[rng.Next(1, 400000)];
                        rng.NextBytes(payload);
                        Check.Bytes(payload, EchoTests.RoundTrip(s, payload), "pipe echo on the pool");
                    }
                TestEnv.AssertDrained(server.Engine);
                faults.AssertNone();
            }
        }

        [Fact]
        public static void SlowReaderHoldsABoundedNumberOfBuffers()
        {
            // The reader examines everything but consumes nothing until the
            // test says go: receiving pauses at MaxHeldBuffers, the kernel keeps
            // the rest, nothing is lost. The client paces its first bytes (one
            // 4 KiB chunk, then wait until the engine received it) so that what
            // the pause can overshoot is what arrives while its cancel is on
            // the way: TestEnv.PauseSlack. A receive that never paused would
            // take a buffer per chunk until the client gives up (64 chunks).
            const int total = 4 << 20, chunk = 4096;
            const int maxHeld = 8;
            var held = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
            var go = new ManualResetEventSlim();
            var sum = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            UrkServer server = null;
            var opts = new ServerOptions { MaxHeldBuffers = maxHeld };
            server = UrkServer.Start(new EngineOptions { Reactors = 1, BufCount = 1024, BufSize = 4096 }, async c =>
            {
                var input = c.Transport.Input;
                long got = 0, check = 0;
                while (true)
                {
                    var r = await input.ReadAsync();
                    if (!go.IsSet)
                    {
                        if (r.Buffer.Length >= maxHeld * 4096 - 4096 || r.IsCompleted)
                        {
                            held.TrySetResult(server.Engine.Reactor(0).Stats.bufs_held);
                            await Task.Run(() => go.Wait(30000));
                        }
                        input.AdvanceTo(r.Buffer.Start, r.Buffer.End); // examined, not consumed
                        continue;
                    }
                    foreach (var seg in r.Buffer)
                        foreach (byte b in seg.Span)
                            check += b;
                    got += r.Buffer.Length;
                    input.AdvanceTo(r.Buffer.End);
                    if (got >= total || r.IsCompleted)
                        break;
                }
                sum.TrySetResult(check);
            }, opts);
            try
            {
                using (var s = EchoTests.Connect(server.Port))
                {
                    var payload = new byte[total];
                    new Random(13).NextBytes(payload);
                    long expect = 0;
                    foreach (byte b in payload) expect += b;
                    var stats = server.Engine.Reactor(0);
                    int sent = 0;
                    while (sent < 64 * chunk)
                    {
                        s.Send(payload, sent, chunk, SocketFlags.None);
                        sent += chunk;
                        // Received (counted by the engine) or, for 2 s, not: paused.
                        var until = DateTime.UtcNow.AddMilliseconds(2000);
                        while (stats.Stats.bytes_in < (ulong)sent && DateTime.UtcNow < until)
                            Thread.Sleep(1);
                        if (stats.Stats.bytes_in < (ulong)sent)
                            break;
                    }
                    Check.True(held.Task.Wait(20000), "reader saw a full window");
                    // Receiving paused: what the kernel filled before the pause took
                    // effect is held, the rest stays in the kernel.
                    ulong in1 = stats.Stats.bytes_in;
                    Thread.Sleep(300);
                    var st = stats.Stats;
                    Check.Equal(in1, st.bytes_in, "nothing received while paused");
                    Check.True(st.bytes_in < (ulong)sent, "the last chunk stays in the kernel: " + st.bytes_in + " of " + sent);
                    Check.True(st.bufs_held <= maxHeld + TestEnv.PauseSlack,
                               "held buffers: " + st.bufs_held + " (MaxHeldBuffers " + maxHeld + " + slack " + TestEnv.PauseSlack + ")");
                    var sender = Task.Run(() => s.Send(payload, sent, total - sent, SocketFlags.None));
                    go.Set();
                    Check.True(sum.Task.Wait(30000), "reader got everything");
                    Check.Equal(expect, sum.Task.Result, "checksum of 4 MiB");
                    sender.Wait(20000);
                }
                TestEnv.AssertDrained(server.Engine);
            }
            finally { server.Dispose(); }
        }

        [Fact]
        public static void FreeWriterBlocksAreBounded()
        {
            // Four clients that do not read yet each get 2 MiB flushed at once
            // through the PipeWriter: 512 blocks of 16 KiB in flight. Once all is
            // sent and they stay unused for a trim interval (1 s), the loop keeps
            // at most MaxFreeBlocks of them for reuse and gives the rest back.
            const int clients = 4, size = 2 << 20;
            int finished = 0;
            var all = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(new EngineOptions { Reactors = 1 }, async c =>
            {
                var one = new byte[1];
                await c.ReadAsync(one);
                var output = c.Transport.Output;
                for (int off = 0; off < size; off += ReactorLoop.BlockSize)
                {
                    var span = output.GetSpan(ReactorLoop.BlockSize);
                    for (int i = 0; i < ReactorLoop.BlockSize; i++)
                        span[i] = (byte)(off + i + one[0]);
                    output.Advance(ReactorLoop.BlockSize);
                }
                await output.FlushAsync();
                await c.ReadAsync(one); // the client got everything
                if (Interlocked.Increment(ref finished) == clients)
                    all.TrySetResult(true);
            }))
            {
                var socks = new List<Socket>();
                try
                {
                    for (int k = 0; k < clients; k++)
                    {
                        var s = EchoTests.Connect(server.Port);
                        socks.Add(s);
                        s.Send(new[] { (byte)k });
                    }
                    var buf = new byte[64 * 1024];
                    for (int k = 0; k < clients; k++)
                    {
                        int got = 0;
                        while (got < size)
                        {
                            int n = socks[k].Receive(buf);
                            Check.True(n > 0, "stream ended early");
                            for (int i = 0; i < n; i++)
                                if (buf[i] != (byte)(got + i + k))
                                    Check.True(false, "byte " + (got + i) + " of client " + k);
                            got += n;
                        }
                        socks[k].Send(new byte[] { 1 });
                    }
                    Check.True(all.Task.Wait(30000), "every handler finished");
                    var loop = server.Loop(0);
                    for (int i = 0; i < 200 && loop.LiveBlocks > ReactorLoop.MaxFreeBlocks; i++)
                        Thread.Sleep(50); // two trim intervals at most
                    Check.True(loop.LiveBlocks <= ReactorLoop.MaxFreeBlocks,
                               "writer blocks still allocated after the sends: " + loop.LiveBlocks);
                }
                finally
                {
                    foreach (var s in socks)
                        s.Dispose();
                }
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void CancelPendingReadAndCompletion()
        {
            var log = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var waiting = new TaskCompletionSource<PipeReader>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c =>
            {
                var input = c.Transport.Input;
                var pending = input.ReadAsync();
                waiting.TrySetResult(input);
                var r = await pending;
                string text = "canceled=" + r.IsCanceled;
                input.AdvanceTo(r.Buffer.Start);
                long n = 0;
                while (true)
                {
                    r = await input.ReadAsync();
                    n += r.Buffer.Length;
                    input.AdvanceTo(r.Buffer.End);
                    if (r.IsCompleted)
                        break;
                }
                log.TrySetResult(text + " bytes=" + n + " completed=True");
                input.Complete();
                c.Transport.Output.Complete();
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                Check.True(waiting.Task.Wait(20000), "reader waiting");
                waiting.Task.Result.CancelPendingRead();
                s.Send(new byte[1000]);
                s.Shutdown(SocketShutdown.Send); // FIN
                Check.True(log.Task.Wait(20000), "reader finished");
                Check.Equal("canceled=True bytes=1000 completed=True", log.Task.Result, "cancel, data, FIN");
                Check.Equal(0, s.Receive(new byte[1]), "Output.Complete closed gracefully");
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void ResetSurfacesAsAnError()
        {
            var outcome = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c =>
            {
                var input = c.Transport.Input;
                try
                {
                    while (true)
                    {
                        var r = await input.ReadAsync();
                        input.AdvanceTo(r.Buffer.End);
                        if (r.IsCompleted) { outcome.TrySetResult(null); return; }
                    }
                }
                catch (Exception ex) { outcome.TrySetResult(ex); }
            }))
            {
                var s = EchoTests.Connect(server.Port);
                s.Send(new byte[] { 1, 2, 3 });
                s.LingerState = new LingerOption(true, 0);
                s.Close(); // RST
                Check.True(outcome.Task.Wait(20000), "reader finished");
                var e = outcome.Task.Result as UrkException;
                Check.True(e != null && e.Errno == Errno.ECONNRESET, "ECONNRESET from ReadAsync: " + outcome.Task.Result);
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void WriterBackpressureAndNoCopy()
        {
            // 4 MiB through the PipeWriter against a 64 KiB send limit and a
            // client that starts reading late: FlushAsync waits, nothing is lost.
            const int total = 4 << 20;
            var payload = new byte[total];
            new Random(14).NextBytes(payload);
            var flushWaited = 0;
            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(new EngineOptions { SendLimit = 64 * 1024 }, async c =>
            {
                var output = c.Transport.Output;
                int off = 0;
                while (off < total)
                {
                    var mem = output.GetMemory(1);
                    if (MemoryMarshal.TryGetArray<byte>(mem, out _))
                        throw new InvalidOperationException("PipeWriter memory is a managed array");
                    int n = Math.Min(mem.Length, total - off);
                    payload.AsSpan(off, n).CopyTo(mem.Span);
                    output.Advance(n);
                    off += n;
                    var ft = output.FlushAsync();
                    if (!ft.IsCompleted)
                        flushWaited++;
                    await ft;
                }
                await output.CompleteAsync();
                done.TrySetResult(true);
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                Thread.Sleep(300);
                var back = new byte[total];
                int got = 0;
                while (got < total)
                {
                    int n = s.Receive(back, got, total - got, SocketFlags.None);
                    Check.True(n > 0, "ended early at " + got);
                    got += n;
                }
                Check.Equal(0, s.Receive(new byte[1]), "FIN after the data");
                Check.True(done.Task.Wait(20000), "writer finished");
                Check.Bytes(payload, back, "4 MiB through the PipeWriter");
                Check.True(flushWaited > 0, "FlushAsync waited for the peer at least once");
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void StreamEcho()
        {
            using (var server = UrkServer.Start(null, async c =>
            {
                using (var stream = c.AsStream())
                    await stream.CopyToAsync(stream);
            }))
            {
                using (var s = EchoTests.Connect(server.Port))
                {
                    var rng = new Random(15);
                    for (int i = 0; i < 10; i++)
                    {
                        var payload = new byte[rng.Next(1, 300000)];
                        rng.NextBytes(payload);
                        Check.Bytes(payload, EchoTests.RoundTrip(s, payload), "stream echo");
                    }
                }
                TestEnv.AssertDrained(server.Engine);
            }
        }

        [Fact]
        public static void TokenCancelsAPipeRead()
        {
            var result = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(null, async c =>
            {
                var input = c.Transport.Input;
                try
                {
                    using (var cts = new CancellationTokenSource(50))
                    {
                        try { await input.ReadAsync(cts.Token); result.TrySetResult("not cancelled"); return; }
                        catch (OperationCanceledException) { }
                    }
                    await c.Transport.Output.WriteAsync(new byte[] { 1 });
                    var r = await input.ReadAsync();
                    result.TrySetResult("read " + r.Buffer.Length);
                    input.AdvanceTo(r.Buffer.End);
                }
                catch (Exception ex) { result.TrySetResult(ex.ToString()); }
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                Check.Equal(1, s.Receive(new byte[1]), "signal");
                s.Send(new byte[] { 1, 2, 3 });
                Check.True(result.Task.Wait(20000), "handler finished");
                Check.Equal("read 3", result.Task.Result, "cancelled read, then data");
            }
        }
    }
}

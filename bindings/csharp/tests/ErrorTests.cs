// Error paths: bad arguments, stale connection ids, wrong threads and states
// raise the right exception, carrying errno, name and the library's message.
using System;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class ErrorTests
    {
        [Fact]
        public static void ExceptionCarriesErrnoNameAndMessage()
        {
            var ex = Check.Throws<UrkArgumentException>(() => Address.Parse("localhost", 80), "names are not resolved");
            Check.Equal(Errno.EINVAL, ex.Errno, "errno");
            Check.Equal("EINVAL", ex.Name, "name");
            Check.Equal("urk_addr_parse", ex.Function, "function");
            Check.True(ex.Message.Contains(UrkException.StrError(-Errno.EINVAL)), "message from urk_strerror: " + ex.Message);
            Check.Equal("URK_ESTALE_ID", UrkException.ErrName(-UrkConst.URK_ESTALE_ID), "shim code name");
            Check.Equal("UNKNOWN", UrkException.ErrName(-999999), "unknown code");
            Check.True(UrkException.From(int.MinValue, null) != null, "INT_MIN does not overflow");
        }

        [Fact]
        public static void ShimCodesMapToTheirExceptions()
        {
            Check.True(UrkException.From(-UrkConst.URK_ESTALE_ID, "x") is StaleConnectionException, "ESTALE_ID");
            Check.True(UrkException.From(-UrkConst.URK_ECLOSING, "x") is ConnectionClosingException, "ECLOSING");
            Check.True(UrkException.From(-UrkConst.URK_ENOTSUP, "x") is KernelNotSupportedException, "ENOTSUP");
            Check.True(UrkException.From(-UrkConst.URK_ESTATE, "x") is InvalidEngineStateException, "ESTATE");
            Check.True(UrkException.From(-UrkConst.URK_ETHREAD, "x") is WrongThreadException, "ETHREAD");
            Check.True(UrkException.From(-UrkConst.URK_EFRAMING, "x") is FramingException, "EFRAMING");
            Check.True(UrkException.From(-Errno.EAGAIN, "x") is WouldBlockException, "EAGAIN");
        }

        static unsafe int NullCalls(int which)
        {
            switch (which)
            {
                case 0: return Native.urk_ring_opts_init(null);
                case 1: return Native.urk_ring_create(null, null);
                default: return Native.urk_reactor_poll(IntPtr.Zero, null, 0, 0);
            }
        }

        [Fact]
        public static void BadArguments()
        {
            Check.Equal(-Errno.EINVAL, NullCalls(0), "NULL options");
            Check.Equal(-Errno.EINVAL, NullCalls(1), "NULL out");
            Check.Equal(-Errno.EINVAL, NullCalls(2), "NULL reactor");
            Check.Throws<UrkArgumentException>(() => Ring.Create(new RingOptions { SqEntries = 3 }), "sq entries not a power of two");
            Check.Throws<UrkArgumentException>(() => Engine.Create(new EngineOptions { Reactors = 65 }), "too many reactors");
            Check.Throws<UrkArgumentException>(() => Engine.Create(new EngineOptions { Host = "1.2.3" }), "bad host");
            Check.Throws<UrkArgumentException>(() => LoadGen.Create(new LoadGenOptions { Port = 0, Request = new byte[1], DurationMs = 1 }), "port 0");
            Check.Throws<ArgumentException>(() => UrkServer.Start(new EngineOptions { Flags = UrkConst.URK_ENGINE_RELEASE_ON_POLL }, null), "RELEASE_ON_POLL refused");
            using (var ring = Ring.Create())
            {
                Check.Throws<UrkException>(() => ring.PrepRecvMultishot(0, 77, 1), "no such buffer group");
                using (var br = BufRing.Create(ring, new BufRingOptions { Count = 4, Size = 64, GroupId = 1 }))
                {
                    var e1 = Check.Throws<UrkException>(() => br.Recycle(0), "recycling a buffer the kernel owns");
                    Check.Equal(Errno.EALREADY, e1.Errno, "EALREADY");
                    Check.Throws<UrkArgumentException>(() => br.Recycle(4), "bid out of range");
                    Check.Throws<UrkArgumentException>(() => br.Buffer(4), "buffer out of range");
                    var e2 = Check.Throws<UrkException>(() => BufRing.Create(ring, new BufRingOptions { Count = 4, Size = 64, GroupId = 1 }), "group taken");
                    Check.Equal(Errno.EEXIST, e2.Errno, "EEXIST");
                }
            }
        }

        /// <summary>Drives a pull-mode reactor from this thread until pred holds.</summary>
        static UrkEvent PollFor(Reactor r, Func<UrkEvent, bool> pred)
        {
            var events = new UrkEvent[16];
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (DateTime.UtcNow < deadline)
            {
                int n = r.Poll(events, 100);
                for (int i = 0; i < n; i++)
                {
                    if (events[i].type == UrkConst.URK_EV_DATA)
                        r.Release(events[i].buf);
                    if (pred(events[i]))
                        return events[i];
                }
            }
            throw new AssertionException("event did not arrive");
        }

        [Fact]
        public static void StaleIdsAndWrongThreads()
        {
            using (var engine = Engine.Create())
            {
                engine.Start();
                var r = engine.Reactor(0);
                ulong id;
                using (var s = EchoTests.Connect(engine.Port))
                {
                    id = PollFor(r, e => e.type == UrkConst.URK_EV_OPEN).conn;
                    r.Send(id, new byte[] { 1, 2, 3 });
                    Check.True(r.Flush() >= 1, "flush hands the send to the kernel");
                    var back = new byte[3];
                    int got = 0;
                    while (got < 3)
                        got += s.Receive(back, got, 3 - got, SocketFlags.None);
                    r.SetUser(id, 99);
                    Check.Equal(99UL, r.User(id), "user value");
                    Check.Equal("127.0.0.1", Address.ToEndPoint(r.Peer(id)).Address.ToString(), "peer");

                    // Another thread may wake the reactor but not use it.
                    Exception fromOther = null;
                    var t = new Thread(() =>
                    {
                        try { r.Wake(); r.Send(id, new byte[] { 1 }); }
                        catch (Exception ex) { fromOther = ex; }
                    });
                    t.Start();
                    t.Join();
                    Check.True(fromOther is WrongThreadException, "send from a non-owner thread: " + fromOther);
                }
                var closed = PollFor(r, e => e.type == UrkConst.URK_EV_CLOSED && e.conn == id);
                Check.Equal(99UL, closed.user, "CLOSED carries the user value");
                Check.Throws<StaleConnectionException>(() => r.Send(id, new byte[] { 1 }), "send on a closed id");
                Check.Throws<StaleConnectionException>(() => r.Close(id), "close on a closed id");
                Check.Throws<StaleConnectionException>(() => r.SetUser(id, 1), "set_user on a closed id");
                Check.Throws<StaleConnectionException>(() => r.Peer(id), "peer of a closed id");
                Check.Throws<StaleConnectionException>(() => r.Send(0, new byte[] { 1 }), "id 0 is never valid");
                Check.Equal<int>(-Errno.EINVAL, r.TrySend(id, IntPtr.Zero, 0), "zero length");
                Check.Throws<UrkArgumentException>(() => r.Release(12345), "release of a buffer not held");
                engine.Stop(0);
            }
        }

        [Fact]
        public static void SendPastTheLimitWouldBlockAndSendAfterCloseIsClosing()
        {
            // Raw reactor: with nothing polled, nothing queued drains, so the
            // second send is over the 64 KiB limit for certain.
            using (var engine = Engine.Create(new EngineOptions { Reactors = 1, SendLimit = 64 * 1024 }))
            {
                engine.Start();
                var r = engine.Reactor(0);
                using (var s = EchoTests.Connect(engine.Port))
                {
                    ulong id = PollFor(r, e => e.type == UrkConst.URK_EV_OPEN).conn;
                    var half = new byte[48 * 1024];
                    r.Send(id, half);
                    var wb = Check.Throws<WouldBlockException>(() => r.Send(id, half), "a send past SendLimit");
                    Check.Equal(Errno.EAGAIN, wb.Errno, "EAGAIN");
                    Check.True(wb.Message.Contains("urk_send"), "names the call: " + wb.Message);
                    // FORCE queues it anyway (the caller's promise to wait for WRITABLE).
                    r.Send(id, half, 0, half.Length, UrkConst.URK_SEND_FORCE);
                    r.Close(id);
                    Check.Throws<ConnectionClosingException>(() => r.Send(id, new byte[] { 1 }), "a send after close");
                    PollFor(r, e => e.type == UrkConst.URK_EV_CLOSED && e.conn == id);
                }
                engine.Stop(0);
            }

            // Server connection: WriteAsync after Close() (same turn, before the
            // engine can report the close) throws ConnectionClosingException.
            var result = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (var server = UrkServer.Start(new EngineOptions { Reactors = 1 }, async c =>
            {
                var one = new byte[1];
                await c.ReadAsync(one);
                c.Close();
                try
                {
                    await c.WriteAsync(new byte[] { 2 });
                    result.TrySetResult(null);
                }
                catch (Exception ex) { result.TrySetResult(ex); }
            }))
            {
                using (var s = EchoTests.Connect(server.Port))
                {
                    s.Send(new byte[] { 1 });
                    Check.True(result.Task.Wait(20000), "handler finished");
                    Check.True(result.Task.Result is ConnectionClosingException, "WriteAsync after Close: " + result.Task.Result);
                    Check.Equal(0, s.Receive(new byte[1]), "the peer sees FIN, not the late write");
                }
                TestEnv.AssertDrained(server.Engine);
            }
        }

        sealed class Nothing : NativeHandler { }

        [Fact]
        public static void PollingANativeEngineIsAStateError()
        {
            using (var engine = Engine.Create())
            {
                engine.Start(new Nothing());
                Check.Throws<InvalidEngineStateException>(() => engine.Reactor(0).Poll(new UrkEvent[4], 0), "poll in native mode");
                engine.Stop(0);
            }
        }

        [Fact]
        public static void ConnectionErrors()
        {
            var handlerSawEnd = new TaskCompletionSource<int>();
            Connection serverSide = null;
            using (var server = UrkServer.Start(null, async c =>
            {
                serverSide = c;
                var b = new byte[16];
                int total = 0, n;
                while ((n = await c.ReadAsync(b)) > 0)
                    total += n;
                handlerSawEnd.TrySetResult(total);
            }))
            {
                using (var s = EchoTests.Connect(server.Port))
                    s.Send(new byte[] { 1, 2, 3, 4, 5 });
                // The peer closed: the handler's read returns 0 (liveness, not speed).
                Check.True(handlerSawEnd.Task.Wait(10000), "handler saw the end of the stream");
                Check.Equal(5, handlerSawEnd.Task.Result, "bytes read before the end");
                for (int i = 0; i < 500 && !serverSide.IsClosed; i++)
                    Thread.Sleep(10);
                Check.True(serverSide.IsClosed, "connection reported closed");
                // Writing to a connection that is gone: the library refuses the stale id.
                Check.Throws<StaleConnectionException>(() => serverSide.WriteAsync(new byte[] { 1 }).AsTask().Wait(), "write after close");

                // Refused outgoing connection: ECONNREFUSED from the engine.
                int closedPort;
                var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
                l.Start();
                closedPort = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
                l.Stop();
                var e = Check.Throws<UrkException>(() => server.ConnectAsync("127.0.0.1", (ushort)closedPort).Wait(), "connect to a closed port");
                Check.Equal(Errno.ECONNREFUSED, e.Errno, "ECONNREFUSED");
            }
        }

        [Fact]
        public static void OneReadAtATime()
        {
            var result = new TaskCompletionSource<Exception>();
            using (var server = UrkServer.Start(null, c =>
            {
                var first = c.ReadAsync(new byte[4]);
                try { c.ReadAsync(new byte[4]); result.TrySetResult(null); }
                catch (Exception ex) { result.TrySetResult(ex); }
                return first.AsTask();
            }))
            using (var s = EchoTests.Connect(server.Port))
            {
                Check.True(result.Task.Wait(10000), "handler ran");
                Check.True(result.Task.Result is InvalidOperationException, "second concurrent read refused: " + result.Task.Result);
            }
        }
    }
}

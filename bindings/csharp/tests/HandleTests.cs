// Every handle type is created, used a little, and destroyed; disposal is
// idempotent and use after disposal is an exception, not a crash.
using System;
using System.Runtime.InteropServices;
using Urocket.Interop;

namespace Urocket.Tests
{
    public static class HandleTests
    {
        [Test]
        public static void RingCreateUseDestroy()
        {
            var ring = Ring.Create(new RingOptions { SqEntries = 64 });
            Assert.True(!ring.IsInvalid, "ring handle");
            Assert.True(ring.Fd >= 0, "ring fd");
            Assert.Equal(64u, ring.Info.sq_entries, "sq entries");
            ring.PrepNop(42);
            var cqes = new UrkCqe[4];
            int n = ring.Complete(cqes, 1, 5000000000L);
            Assert.Equal(1, n, "one completion");
            Assert.Equal(42UL, cqes[0].user_data, "user data");
            Assert.Equal(0, cqes[0].res, "nop result");
            Assert.True(ring.Stats.completed >= 1, "stats count the completion");
            ring.Dispose();
            ring.Dispose(); // idempotent
            Assert.True(ring.IsClosed, "closed");
            Assert.Throws<ObjectDisposedException>(() => ring.PrepNop(1), "use after dispose");
        }

        [Test]
        public static void BufRingKeepsItsRingAlive()
        {
            var ring = Ring.Create();
            var br = BufRing.Create(ring, new BufRingOptions { Count = 8, Size = 256, GroupId = 3 });
            Assert.Equal(3, br.Group, "group");
            Assert.Equal(8, br.Available, "all buffers start with the kernel");
            Assert.True(br.Buffer(7) != IntPtr.Zero, "buffer pointer");
            ring.Dispose(); // the buffer ring still holds a reference: nothing is freed yet
            Assert.Equal(8, br.Available, "buffer ring usable after its ring's Dispose");
            br.Dispose();   // now both go, buffer ring first
            Assert.Throws<ObjectDisposedException>(() => { var x = br.Available; }, "use after dispose");
        }

        [Test]
        public static void EngineCreateStartStopDestroy()
        {
            var engine = Engine.Create(new EngineOptions { Reactors = 2, BufCount = 64 });
            Assert.True(engine.Port > 0, "bound a port");
            Assert.Equal(2, engine.ReactorCount, "reactors");
            Assert.Equal(1, engine.Reactor(1).NativeIndex, "reactor index");
            engine.Start();
            engine.Stop(0);
            engine.Stop(0); // idempotent
            Assert.Equal(0UL, engine.Stats.accepted, "nothing accepted");
            engine.Dispose();
            engine.Dispose();
            Assert.Throws<ObjectDisposedException>(() => { var p = engine.Port; }, "use after dispose");
            Assert.Throws<ObjectDisposedException>(() => engine.Reactor(0).Wake(), "reactor after engine dispose");
        }

        [Test]
        public static void EngineDestroyedWithoutStart()
        {
            using (var engine = Engine.Create(new EngineOptions { Flags = UrkConst.URK_ENGINE_NO_LISTEN }))
                Assert.True(engine.ReactorCount == 1, "one reactor by default");
        }

        [Test]
        public static void LoadGenCreateDestroy()
        {
            var lg = LoadGen.Create(new LoadGenOptions
            {
                Port = 9, Framing = Framing.Fixed, ResponseLength = 4,
                Request = new byte[] { 1, 2, 3, 4 }, DurationMs = 100, Connections = 1,
            });
            Assert.Equal(0UL, lg.Result.requests, "no requests before a run");
            Assert.Equal(0, lg.Timeline().Length, "no timeline before a run");
            lg.Dispose();
            lg.Dispose();
            Assert.Throws<ObjectDisposedException>(() => lg.Run(), "use after dispose");
        }

        [Test]
        public static void ServerStartStop()
        {
            var server = UrkServer.Start(new EngineOptions { Reactors = 2 }, c => System.Threading.Tasks.Task.CompletedTask);
            Assert.True(server.Port > 0, "port");
            server.Stop(100);
            server.Stop(100);
            server.Dispose();
            Assert.True(server.Engine.IsClosed, "engine released");
        }

        [Test]
        public static void StopClosesConnectionsGracefully()
        {
            var readResult = new System.Threading.Tasks.TaskCompletionSource<int>();
            var server = UrkServer.Start(null, async c =>
            {
                await c.WriteAsync(new byte[] { 42 });
                readResult.TrySetResult(await c.ReadAsync(new byte[16])); // waits until Stop
            });
            using (var s = EchoTests.Connect(server.Port))
            {
                var b = new byte[4];
                Assert.Equal(1, s.Receive(b), "greeting");
                server.Stop(5000);
                Assert.True(readResult.Task.IsCompleted, "the handler's read ended during Stop");
                Assert.Equal(0, readResult.Task.Result, "end of stream");
                Assert.Equal(0, s.Receive(b), "FIN, not RST, after the queued data");
            }
        }

        [Test]
        public static void AddressRoundTrip()
        {
            var a = Address.Parse("127.0.0.1", 8080);
            Assert.Equal("127.0.0.1:8080", Address.Format(a), "v4");
            Assert.Equal("127.0.0.1:8080", Address.ToEndPoint(a).ToString(), "v4 endpoint");
            var b = Address.Parse("::1", 443);
            Assert.Equal("[::1]:443", Address.Format(b), "v6");
            Assert.Equal(443, Address.ToEndPoint(b).Port, "v6 port");
        }
    }
}

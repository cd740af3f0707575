// Every handle type is created, used a little, and destroyed; disposal is
// idempotent and use after disposal is an exception, not a crash.
using System;
using System.Runtime.InteropServices;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class HandleTests
    {
        [Fact]
        public static void RingCreateUseDestroy()
        {
            var ring = Ring.Create(new RingOptions { SqEntries = 64 });
            Check.True(!ring.IsInvalid, "ring handle");
            Check.True(ring.Fd >= 0, "ring fd");
            Check.Equal(64u, ring.Info.sq_entries, "sq entries");
            ring.PrepNop(42);
            var cqes = new UrkCqe[4];
            int n = ring.Complete(cqes, 1, 5000000000L);
            Check.Equal(1, n, "one completion");
            Check.Equal(42UL, cqes[0].user_data, "user data");
            Check.Equal(0, cqes[0].res, "nop result");
            Check.True(ring.Stats.completed >= 1, "stats count the completion");
            ring.Dispose();
            ring.Dispose(); // idempotent
            Check.True(ring.IsClosed, "closed");
            Check.Throws<ObjectDisposedException>(() => ring.PrepNop(1), "use after dispose");
        }

        [Fact]
        public static void BufRingKeepsItsRingAlive()
        {
            var ring = Ring.Create();
            var br = BufRing.Create(ring, new BufRingOptions { Count = 8, Size = 256, GroupId = 3 });
            Check.Equal(3, br.Group, "group");
            Check.Equal(8, br.Available, "all buffers start with the kernel");
            Check.True(br.Buffer(7) != IntPtr.Zero, "buffer pointer");
            ring.Dispose(); // the buffer ring still holds a reference: nothing is freed yet
            Check.Equal(8, br.Available, "buffer ring usable after its ring's Dispose");
            br.Dispose();   // now both go, buffer ring first
            Check.Throws<ObjectDisposedException>(() => { var x = br.Available; }, "use after dispose");
        }

        [Fact]
        public static void EngineCreateStartStopDestroy()
        {
            var engine = Engine.Create(new EngineOptions { Reactors = 2, BufCount = 64 });
            Check.True(engine.Port > 0, "bound a port");
            Check.Equal(2, engine.ReactorCount, "reactors");
            Check.Equal(1, engine.Reactor(1).NativeIndex, "reactor index");
            engine.Start();
            engine.Stop(0);
            engine.Stop(0); // idempotent
            Check.Equal(0UL, engine.Stats.accepted, "nothing accepted");
            engine.Dispose();
            engine.Dispose();
            Check.Throws<ObjectDisposedException>(() => { var p = engine.Port; }, "use after dispose");
            Check.Throws<ObjectDisposedException>(() => engine.Reactor(0).Wake(), "reactor after engine dispose");
        }

        [Fact]
        public static void EngineDestroyedWithoutStart()
        {
            using (var engine = Engine.Create(new EngineOptions { Flags = UrkConst.URK_ENGINE_NO_LISTEN }))
                Check.True(engine.ReactorCount == 1, "one reactor by default");
        }

        [Fact]
        public static void LoadGenCreateDestroy()
        {
            var lg = LoadGen.Create(new LoadGenOptions
            {
                Port = 9, Framing = Framing.Fixed, ResponseLength = 4,
                Request = new byte[] { 1, 2, 3, 4 }, DurationMs = 100, Connections = 1,
            });
            Check.Equal(0UL, lg.Result.requests, "no requests before a run");
            Check.Equal(0, lg.Timeline().Length, "no timeline before a run");
            lg.Dispose();
            lg.Dispose();
            Check.Throws<ObjectDisposedException>(() => lg.Run(), "use after dispose");
        }

        [Fact]
        public static void ServerStartStop()
        {
            var server = UrkServer.Start(new EngineOptions { Reactors = 2 }, c => System.Threading.Tasks.Task.CompletedTask);
            Check.True(server.Port > 0, "port");
            server.Stop(100);
            server.Stop(100);
            server.Dispose();
            Check.True(server.Engine.IsClosed, "engine released");
        }

        [Fact]
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
                Check.Equal(1, s.Receive(b), "greeting");
                server.Stop(5000);
                Check.True(readResult.Task.IsCompleted, "the handler's read ended during Stop");
                Check.Equal(0, readResult.Task.Result, "end of stream");
                Check.Equal(0, s.Receive(b), "FIN, not RST, after the queued data");
            }
        }

        [Fact]
        public static void AddressRoundTrip()
        {
            var a = Address.Parse("127.0.0.1", 8080);
            Check.Equal("127.0.0.1:8080", Address.Format(a), "v4");
            Check.Equal("127.0.0.1:8080", Address.ToEndPoint(a).ToString(), "v4 endpoint");
            var b = Address.Parse("::1", 443);
            Check.Equal("[::1]:443", Address.Format(b), "v6");
            Check.Equal(443, Address.ToEndPoint(b).Port, "v6 port");
        }
    }
}

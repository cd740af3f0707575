using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;
using static Urocket.AspNetCore.Tests.HttpTests;

namespace Urocket.AspNetCore.Tests;

/// <summary>Clients that reset, stop half way, trickle, or send too much: Kestrel's
/// rules must hold over the transport and nothing may leak.</summary>
public class ClientMisbehaviourTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static async Task AssertStillServes(TestApp app)
    {
        using var http = Client();
        Assert.Equal("Hello, World!", await http.GetStringAsync(new Uri(app.BaseUri, "/")));
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ClientResetsMidRequestBody(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        for (int round = 0; round < 5; round++)
        {
            var raw = await RawHttp.ConnectAsync(app);
            await raw.SendAsync("POST /sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n");
            await raw.SendAsync(new byte[100_000]);
            // Reset only once the handler is reading the body: a reset that arrives before
            // Kestrel has parsed the request discards it unseen (no handler runs at all).
            Assert.True(await app.State.UploadStarted.WaitAsync(Bound), "upload never started");
            raw.Reset();
            // The handler reading the body sees the reset as an exception, not a short body.
            Assert.True(await app.State.HandlerFailed.WaitAsync(Bound), "handler never saw the reset");
        }
        Assert.Empty(app.State.Uploads);
        await AssertStillServes(app);
        await app.WaitForNoConnectionsAsync();
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ClientResetsWhileTheHandlerWaits(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        var raw = await RawHttp.ConnectAsync(app);
        await raw.SendAsync("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n");
        await app.State.WaitForWaitingAsync(1, Bound);
        raw.Reset();
        // RequestAborted (fed by the transport's ConnectionClosed) wakes the handler.
        Assert.True(await app.State.HandlerFailed.WaitAsync(Bound), "RequestAborted never fired");
        Assert.IsAssignableFrom<OperationCanceledException>(app.State.HandlerExceptions.Single());
        await app.WaitForNoConnectionsAsync();
        Assert.Equal(1, app.State.ConnectionClosedFired);
        await AssertStillServes(app);
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task HalfARequestThenClose(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);

        // Half the headers, then FIN: the server closes without serving anything.
        await using (var raw = await RawHttp.ConnectAsync(app))
        {
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: t\r\nX-Half: ye");
            raw.Socket.Shutdown(SocketShutdown.Send);
            Assert.True(await raw.WaitForCloseAsync(Bound), "server kept a half request open");
        }

        // Half the body, then FIN: the handler sees a truncated body as an error.
        await using (var raw = await RawHttp.ConnectAsync(app))
        {
            await raw.SendAsync("POST /sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + new string('x', 500));
            raw.Socket.Shutdown(SocketShutdown.Send);
            Assert.True(await app.State.HandlerFailed.WaitAsync(Bound), "handler did not see the truncated body");
            // Kestrel reports it as RequestAborted (the token passed to ReadAsync) or as a bad request.
            var e = app.State.HandlerExceptions.Single();
            Assert.True(e is OperationCanceledException or Microsoft.AspNetCore.Http.BadHttpRequestException, e.ToString());
            Assert.True(await raw.WaitForCloseAsync(Bound), "server kept a half body open");
        }
        Assert.Empty(app.State.Uploads);
        await app.WaitForNoConnectionsAsync();
        await AssertStillServes(app);
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task SlowlorisIsDroppedByKestrelTimeouts(string transport)
    {
        await using var app = await TestApp.StartAsync(transport, new()
        {
            Kestrel = k => k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(2),
        });
        await using var raw = await RawHttp.ConnectAsync(app);
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: t\r\n");
        var closed = raw.WaitForCloseAsync(Bound);
        var sw = Stopwatch.StartNew();
        // One header byte every 100 ms, never finishing the headers.
        while (!closed.IsCompleted && sw.Elapsed < Bound)
        {
            try { await raw.SendAsync("X-Slow-Header: "u8.ToArray().AsMemory(0, 1)); }
            catch (SocketException) { break; }
            await Task.WhenAny(closed, Task.Delay(100));
        }
        Assert.True(await closed, "the slow client was never dropped");
        await AssertStillServes(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task OversizedHeaderGets431AndOversizedBodyGets413(string transport)
    {
        await using var app = await TestApp.StartAsync(transport, new()
        {
            Kestrel = k =>
            {
                k.Limits.MaxRequestHeadersTotalSize = 8 * 1024;
                k.Limits.MaxRequestBodySize = 64 * 1024;
            },
        });
        await using (var raw = await RawHttp.ConnectAsync(app))
        {
            await raw.SendAsync($"GET / HTTP/1.1\r\nHost: t\r\nX-Big: {new string('a', 40 * 1024)}\r\n\r\n");
            var r = await raw.ReadResponseAsync();
            Assert.Equal(431, r!.Status);
            Assert.True(await raw.WaitForCloseAsync(Bound));
        }
        await using (var raw = await RawHttp.ConnectAsync(app))
        {
            await raw.SendAsync("POST /sha256 HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n");
            var r = await raw.ReadResponseAsync();
            Assert.Equal(413, r!.Status);
        }
        await AssertStillServes(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ShutdownWithOneHundredRequestsInFlight(string transport)
    {
        var app = await TestApp.StartAsync(transport, new() { ShutdownTimeout = TimeSpan.FromSeconds(3) });
        using var http = Client();
        // Half wait on gate A (released once shutdown has begun: they must complete),
        // half on gate B (never released: shutdown's timeout aborts them).
        var requests = Enumerable.Range(0, 100).Select(async i =>
        {
            var uri = new Uri(i % 2 == 0 ? app.BaseUri : app.BaseUriV6, i < 50 ? "/wait?gate=a" : "/wait?gate=b");
            try
            {
                var resp = await http.GetAsync(uri);
                return (i, ok: resp.StatusCode == HttpStatusCode.OK && await resp.Content.ReadAsStringAsync() == "released", error: (Exception?)null);
            }
            catch (HttpRequestException e) { return (i, ok: false, error: (Exception?)e); }
        }).ToArray();
        await app.State.WaitForWaitingAsync(100, Bound);

        var stop = app.StopAsync();
        await Task.Delay(200); // shutdown has begun: no new requests
        app.State.GateA.SetResult();
        await stop.WaitAsync(Bound);
        var results = await Task.WhenAll(requests).WaitAsync(Bound);

        foreach (var (i, ok, error) in results)
        {
            if (i < 50)
                Assert.True(ok, $"request {i} was in flight at shutdown and released: it must complete ({error})");
            else
                Assert.False(ok); // aborted: the client sees the connection close, not a hang
        }
        app.AssertTransportClean();
        AssertNoErrors(app);
        await app.DisposeAsync();
    }

    private static long Rss()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task NothingGrowsWithoutBound(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        using var http = Client(maxConnections: 16);
        var body = new byte[256 * 1024];
        new Random(3).NextBytes(body);

        async Task Round()
        {
            await Task.WhenAll(Enumerable.Range(0, 16).Select(async c =>
            {
                for (int i = 0; i < 10; i++)
                {
                    var r = await http.PostAsync(new Uri(app.BaseUri, "/echo"), new ByteArrayContent(body));
                    Assert.Equal(body.Length, (await r.Content.ReadAsByteArrayAsync()).Length);
                }
            }));
            for (int i = 0; i < 10; i++)
            {
                var raw = await RawHttp.ConnectAsync(app);
                await raw.SendAsync("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n");
                await raw.SendAsync(body.AsMemory(0, 100_000));
                if (i % 2 == 0) raw.Reset();
                else { raw.Socket.Shutdown(SocketShutdown.Send); await raw.WaitForCloseAsync(Bound); await raw.DisposeAsync(); }
            }
        }

        // RSS settles as the GC sizes its heap and the memory pools fill: compare two
        // equal stretches after a warm-up; a leak keeps growing in the second one too.
        for (int i = 0; i < 5; i++) await Round();
        long first = Rss();
        for (int i = 0; i < 10; i++) await Round();
        long second = Rss();
        for (int i = 0; i < 10; i++) await Round();
        http.Dispose();
        await app.WaitForNoConnectionsAsync();
        long third = Rss();
        // 10 rounds move ~850 MB and 260 connections through the server.
        Assert.True(third - second < 24L << 20,
            $"RSS grew by {(second - first) >> 20} MiB, then by {(third - second) >> 20} MiB more");
        if (app.UrocketStats() is { } s)
            Assert.True(s.OpenConnections == 0 && s.EngineLiveConnections == 0 && s.EngineBuffersHeld == 0 && s.EngineSendQueuedBytes == 0, s.ToString());
        await app.StopAsync();
        app.AssertTransportClean();
        AssertNoErrors(app);
    }
}

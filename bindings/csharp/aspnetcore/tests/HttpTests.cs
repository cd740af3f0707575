using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace Urocket.AspNetCore.Tests;

/// <summary>Ordinary HTTP traffic: every test runs on each transport.</summary>
public class HttpTests
{
    internal static HttpClient Client(int maxConnections = int.MaxValue) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = maxConnections, UseProxy = false })
        { Timeout = TimeSpan.FromSeconds(120) };

    internal static void AssertNoErrors(TestApp app) =>
        Assert.True(!app.Logs.Errors().Any(), string.Join("\n", app.Logs.Errors()));

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task GetOnIpv4AndIpv6Loopback(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        Assert.NotEqual(0, app.Port);
        Assert.NotEqual(0, app.PortV6);
        using var http = Client();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("Hello, World!", await http.GetStringAsync(new Uri(app.BaseUri, "/")));
            Assert.Equal("Hello, World!", await http.GetStringAsync(new Uri(app.BaseUriV6, "/")));
        }
        var json = await http.GetAsync(new Uri(app.BaseUri, "/json"));
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"message\":\"Hello, World!\"}", await json.Content.ReadAsStringAsync());

        // The connection's endpoints as the app sees them.
        var v4 = await http.GetStringAsync(new Uri(app.BaseUri, "/endpoints"));
        Assert.StartsWith($"127.0.0.1:{app.Port} 127.0.0.1:", v4);
        var v6 = await http.GetStringAsync(new Uri(app.BaseUriV6, "/endpoints"));
        Assert.StartsWith($"::1:{app.PortV6} ::1:", v6);
        Assert.NotEqual("0", v6.Split(':').Last());
        if (transport == Transports.Urocket)
        {
            // Really served by uRocket: its connection ids, its counters.
            Assert.StartsWith("UR", await http.GetStringAsync(new Uri(app.BaseUri, "/conn")));
            var stats = app.UrocketStats()!.Value;
            Assert.Equal(2, stats.Listeners);
            Assert.True(stats.Accepted >= 2, stats.ToString());
        }
        await app.StopAsync();
        app.AssertTransportClean();
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task BindsAnyAddress(string transport)
    {
        await using (var app = await TestApp.StartAsync(transport, new() { BindAddress = IPAddress.Any }))
        {
            using var http = Client();
            Assert.Equal("Hello, World!", await http.GetStringAsync(new Uri(app.BaseUri, "/")));
        }
        await using (var app = await TestApp.StartAsync(transport, new() { BindAddress = IPAddress.IPv6Any }))
        {
            using var http = Client();
            Assert.Equal("Hello, World!", await http.GetStringAsync(new Uri(app.BaseUriV6, "/")));
        }
    }

    /// <summary>Writes a body in random-sized pieces without a Content-Length (chunked).</summary>
    private sealed class TrickleContent(byte[] data, int seed) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var rng = new Random(seed);
            int off = 0;
            while (off < data.Length)
            {
                int n = Math.Min(data.Length - off, rng.Next(1, 256 * 1024));
                await stream.WriteAsync(data.AsMemory(off, n));
                await stream.FlushAsync();
                off += n;
            }
        }
        protected override bool TryComputeLength(out long length) { length = 0; return false; }
    }

    // HttpClient sends an HTTP/1.1 request body completely before it reads any of the response
    // (SocketsHttpHandler serializes the two unless Expect: 100-continue). Against a server that
    // streams the body back, a large echo then deadlocks once the echoed bytes fill the socket
    // buffers (the client's receive buffer does not grow while nobody reads it): on either
    // transport, sometimes. So HttpClient echoes bodies that fit in those buffers, and the large
    // ones go through a raw client that reads the response while it is still sending.
    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task EchoRandomBodiesByteExact(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        using var http = Client();
        var rng = new Random(11);
        foreach (int size in new[] { 0, 1, 4095, 65537 })
        {
            var data = new byte[size];
            rng.NextBytes(data);
            using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(app.BaseUri, "/echo"))
            { Content = new TrickleContent(data, size) };
            using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            var back = await resp.Content.ReadAsByteArrayAsync();
            Assert.Equal(size, back.Length);
            Assert.True(data.AsSpan().SequenceEqual(back), $"echo of {size} bytes differs");
        }
        foreach (int size in new[] { 1 << 20, 3 * (1 << 20) + 5, 8 << 20 })
            foreach (bool chunked in new[] { false, true })
            {
                var data = new byte[size];
                rng.NextBytes(data);
                await using var raw = await RawHttp.ConnectAsync(app);
                var back = await raw.EchoDuplexAsync("/echo", data, chunked, seed: size);
                Assert.Equal(200, back.Status);
                Assert.Equal(size, back.Body.Length);
                Assert.True(data.AsSpan().SequenceEqual(back.Body),
                            $"echo of {size} bytes ({(chunked ? "chunked" : "Content-Length")}) differs");
            }
        Assert.Empty(app.State.HandlerExceptions);
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task UploadsLargerThanTheTransportBuffers(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        using var http = Client();
        var rng = new Random(5);
        foreach (int size in new[] { 16 * 1024 + 1, 5 * (1 << 20) + 13 })
        {
            var data = new byte[size];
            rng.NextBytes(data);
            var content = new ByteArrayContent(data);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            var resp = await http.PostAsync(new Uri(app.BaseUriV6, "/sha256"), content);
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            Assert.Equal($"{size} {Convert.ToHexString(SHA256.HashData(data))}", await resp.Content.ReadAsStringAsync());
        }
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task TwoHundredConcurrentKeepAliveClients(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        const int clients = 200, requests = 4;
        var ids = await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            using var http = Client(maxConnections: 1);
            var seen = new HashSet<string>();
            for (int i = 0; i < requests; i++)
            {
                var uri = new Uri(c % 2 == 0 ? app.BaseUri : app.BaseUriV6, "/conn");
                seen.Add(await http.GetStringAsync(uri));
            }
            Assert.Single(seen); // every request of a client went over one kept-alive connection
            return seen.Single();
        }));
        Assert.Equal(clients, ids.Distinct().Count());
        Assert.True(app.State.TotalConnections >= clients);
        AssertNoErrors(app);
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task PipelinedRequestsOnARawSocket(string transport)
    {
        await using var app = await TestApp.StartAsync(transport);
        await using var raw = await RawHttp.ConnectAsync(app);
        var sb = new StringBuilder();
        for (int i = 0; i < 32; i++)
        {
            if (i == 10)
                sb.Append("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
            else
                sb.Append($"GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n");
        }
        await raw.SendAsync(sb.ToString()); // all 32 requests in one write
        for (int i = 0; i < 32; i++)
        {
            var r = await raw.ReadResponseAsync() ?? throw new Exception($"closed before response {i}");
            Assert.Equal(200, r.Status);
            Assert.Equal(i == 10 ? "hello world" : i.ToString(), r.Text);
        }
        // A closing request ends the connection after its response.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        Assert.Equal("Hello, World!", (await raw.ReadResponseAsync())!.Text);
        Assert.Null(await raw.ReadResponseAsync());
        AssertNoErrors(app);
    }
}

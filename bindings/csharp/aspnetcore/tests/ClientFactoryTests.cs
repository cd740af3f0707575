using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace Urocket.AspNetCore.Tests;

/// <summary>UrocketConnectionFactory (outgoing connections) against Kestrel on each transport.</summary>
public class ClientFactoryTests
{
    private static async Task<string> ExchangeAsync(ConnectionContext c, string request)
    {
        await c.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(request));
        var sb = new StringBuilder();
        while (true)
        {
            var r = await c.Transport.Input.ReadAsync();
            foreach (var seg in r.Buffer)
                sb.Append(Encoding.ASCII.GetString(seg.Span));
            c.Transport.Input.AdvanceTo(r.Buffer.End);
            if (r.IsCompleted)
                return sb.ToString(); // the server closed after "Connection: close"
        }
    }

    [Theory, MemberData(nameof(Transports.All), MemberType = typeof(Transports))]
    public async Task ConnectsOverIpv4AndIpv6(string serverTransport)
    {
        await using var app = await TestApp.StartAsync(serverTransport);
        await using var factory = new UrocketConnectionFactory(new UrocketTransportOptions { Reactors = 1 });
        foreach (var ep in new[] { new IPEndPoint(IPAddress.Loopback, app.Port), new IPEndPoint(IPAddress.IPv6Loopback, app.PortV6) })
        {
            for (int i = 0; i < 3; i++)
            {
                var c = await factory.ConnectAsync(ep);
                Assert.Equal(ep, c.RemoteEndPoint);
                var text = await ExchangeAsync(c, $"GET /n/{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
                Assert.EndsWith($"\r\n\r\n1\r\n{i}\r\n0\r\n\r\n", text); // chunked: Kestrel does not buffer for a length
                await c.DisposeAsync();
            }
        }
        await app.WaitForNoConnectionsAsync();
        HttpTests.AssertNoErrors(app);
    }

    [Fact]
    public async Task RefusedConnectionNamesThePeer()
    {
        // A port nobody listens on: bind one, note it, close it.
        int port;
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)s.LocalEndPoint!).Port;
        }
        await using var factory = new UrocketConnectionFactory(new UrocketTransportOptions { Reactors = 1 });
        var e = await Assert.ThrowsAsync<IOException>(async () => await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)));
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        await Assert.ThrowsAsync<NotSupportedException>(async () => await factory.ConnectAsync(new UnixDomainSocketEndPoint("/tmp/x")));
    }
}

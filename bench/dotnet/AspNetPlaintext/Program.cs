// ASP.NET Core minimal API for the benchmark: GET / answers with the body of
// bench/servers/response.h ("Hello, World!", Content-Length: 13, no
// Content-Type). Kestrel cannot send that response byte for byte: it always
// adds a Date header (cached, refreshed once a second); the Server header is
// turned off (AddServerHeader = false). Everything else matches. The listen
// backlog is 4096 on both transports, as for the other benchmark servers.
//
//   aspnet_plaintext [--host 127.0.0.1] [--port 8080] [--transport sockets|urocket]
//                    [--reactors N]
//
// Prints "listening on HOST:PORT ..." once Kestrel is bound (port 0 picks a
// free port and the line shows it); exits 0 on SIGTERM/SIGINT after
// Kestrel's graceful stop.
using System;
using System.Buffers;
using System.IO;
using System.Linq;
using System.Net;
using System.Runtime;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
#if UROCKET_TRANSPORT
using Urocket.AspNetCore;
#endif

static class AspNetPlaintext
{
    static readonly byte[] Body = "Hello, World!"u8.ToArray();

    static async Task<int> Main(string[] args)
    {
        string host = "127.0.0.1", transport = "sockets";
        int port = 8080, reactors = 1;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i]
                : throw new ArgumentException($"{a} needs a value");
            try
            {
                switch (a)
                {
                    case "--host": host = Next(); break;
                    case "--port": port = int.Parse(Next()); break;
                    case "--transport": transport = Next(); break;
                    case "--reactors": reactors = int.Parse(Next()); break;
                    case "-h":
                    case "--help":
                        Console.WriteLine("usage: aspnet_plaintext [--host H] [--port P] " +
                                          "[--transport sockets|urocket] [--reactors N]");
                        Console.WriteLine("uRocket transport: " + (HasUrocket ? "compiled in" : "not compiled in"));
                        return 0;
                    default: throw new ArgumentException($"unknown argument {a}");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine($"aspnet_plaintext: {e.Message}");
                return 2;
            }
        }
        if (port < 0 || port > 65535 || reactors < 1 || reactors > 64)
        {
            Console.Error.WriteLine("aspnet_plaintext: --port must be 0..65535 and --reactors 1..64");
            return 2;
        }
        if (!IPAddress.TryParse(host, out var address))
        {
            Console.Error.WriteLine($"aspnet_plaintext: --host {host} is not an IP address");
            return 2;
        }
        if (transport != "sockets" && transport != "urocket")
        {
            Console.Error.WriteLine($"aspnet_plaintext: --transport must be sockets or urocket, not {transport}");
            return 2;
        }
        if (transport == "urocket" && !HasUrocket)
        {
            Console.Error.WriteLine("aspnet_plaintext: built without the uRocket transport " +
                                    "(Urocket.AspNetCore was not found when bench/Makefile published it)");
            return 2;
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = Array.Empty<string>() });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Listen(address, port);
        });
        // The listen backlog every other server uses (Kestrel's Sockets
        // default is 512, which drops SYNs when wrk opens 2048 at once).
        if (transport == "sockets")
            builder.WebHost.UseSockets(o => o.Backlog = 4096);
#if UROCKET_TRANSPORT
        if (transport == "urocket")
            builder.WebHost.UseUrocket(o => o.Reactors = (byte)reactors);   // byte widens to any integer option type
#endif

        var app = builder.Build();
        app.MapGet("/", (HttpContext ctx) =>
        {
            ctx.Response.ContentLength = Body.Length;
            ctx.Response.BodyWriter.Write(Body);   // Kestrel flushes when the handler ends
            return Task.CompletedTask;
        });

        try
        {
            await app.StartAsync();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"aspnet_plaintext: cannot listen on {host}:{port}: {e.Message}");
            return 1;
        }
        var bound = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? $"http://{host}:{port}";
        var uri = new Uri(bound);
        Console.WriteLine($"listening on {uri.Host}:{uri.Port} (ASP.NET Core Kestrel, transport={transport}, " +
                          $"gc={(GCSettings.IsServerGC ? "server" : "workstation")}, " +
                          $"aot={(RuntimeFeature.IsDynamicCodeSupported ? "no" : "yes")})");
        Console.Out.Flush();
        await app.WaitForShutdownAsync();
        return 0;
    }

#if UROCKET_TRANSPORT
    const bool HasUrocket = true;
#else
    const bool HasUrocket = false;
#endif
}

using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Urocket.AspNetCore;
using Xunit;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Urocket.AspNetCore.Tests;

/// <summary>The transports every test runs on.</summary>
public static class Transports
{
    public const string Sockets = "sockets";
    public const string Urocket = "urocket";

    #if HAVE_UROCKET
    public static TheoryData<string> All => new() { Sockets, Urocket };
#else
    public static TheoryData<string> All => new() { Sockets };
#endif
}

/// <summary>Options for one test server.</summary>
public sealed class TestAppOptions
{
    public bool Ipv6 { get; set; } = true;
    public IPAddress? BindAddress { get; set; }
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
    public Action<KestrelServerOptions>? Kestrel { get; set; }
#if HAVE_UROCKET
    /// <summary>Applied after the tests' defaults (2 reactors).</summary>
    public Action<UrocketTransportOptions>? Urocket { get; set; }
#endif
}

/// <summary>
/// A minimal-API app on Kestrel, bound to port 0 on 127.0.0.1 and [::1], on the
/// transport under test. Counts open connections with connection middleware (so a
/// leak shows up on either transport) and records log entries at Warning and above.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    public string Transport { get; }
    public WebApplication App { get; }
    public int Port { get; private set; }
    public int PortV6 { get; private set; }
    public Uri BaseUri => new($"http://127.0.0.1:{Port}");
    public Uri BaseUriV6 => new($"http://[::1]:{PortV6}");
    public LogSink Logs { get; }
    public AppState State { get; }

    private int stopped;

    private TestApp(string transport, WebApplication app, LogSink logs, AppState state)
    {
        Transport = transport;
        App = app;
        Logs = logs;
        State = state;
    }

    public static async Task<TestApp> StartAsync(string transport, TestAppOptions? options = null)
    {
        options ??= new TestAppOptions();
        var logs = new LogSink();
        var state = new AppState();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(logs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
#if HAVE_UROCKET
        if (transport == Transports.Urocket)
            builder.WebHost.UseUrocket(o =>
            {
                o.Reactors = 2;
                options.Urocket?.Invoke(o);
            });
        else
#endif
        if (transport != Transports.Sockets)
            throw new ArgumentException($"unknown transport '{transport}'", nameof(transport));
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (options.BindAddress != null)
            {
                k.Listen(options.BindAddress, 0, lo => lo.Use(state.TrackConnections));
            }
            else
            {
                k.Listen(IPAddress.Loopback, 0, lo => lo.Use(state.TrackConnections));
                if (options.Ipv6)
                    k.Listen(IPAddress.IPv6Loopback, 0, lo => lo.Use(state.TrackConnections));
            }
            options.Kestrel?.Invoke(k);
        });
        var app = builder.Build();
        MapEndpoints(app, state);
        await app.StartAsync();
        var result = new TestApp(transport, app, logs, state);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var a in addresses)
        {
            var uri = new Uri(a);
            if (uri.Port == 0)
                throw new InvalidOperationException($"Kestrel reported port 0 for {a}");
            if (uri.HostNameType == UriHostNameType.IPv6) result.PortV6 = uri.Port;
            else result.Port = uri.Port;
        }
        return result;
    }

    private static void MapEndpoints(WebApplication app, AppState state)
    {
        app.MapGet("/", () => "Hello, World!");
        app.MapGet("/json", () => Results.Json(new Message("Hello, World!"), TestJson.Default.Message));
        app.MapGet("/conn", (HttpContext ctx) => ctx.Connection.Id);
        app.MapGet("/n/{i:int}", (int i) => i.ToString());
        app.MapGet("/endpoints", (HttpContext ctx) =>
            $"{ctx.Connection.LocalIpAddress}:{ctx.Connection.LocalPort} {ctx.Connection.RemoteIpAddress}:{ctx.Connection.RemotePort}");

        // Streams the request body back as it arrives (chunked response).
        app.MapPost("/echo", async (HttpContext ctx) =>
        {
            try
            {
                ctx.Response.ContentType = "application/octet-stream";
                // No cancellation token here: cancelling a body read leaves Kestrel's body
                // reader mid-read, and Kestrel then logs an error draining it. A reset or
                // truncated body fails the read anyway.
                await ctx.Request.BodyReader.CopyToAsync(ctx.Response.BodyWriter);
            }
            catch (Exception e) { state.Record(e); }
        });

        // Consumes the whole body and answers "<length> <sha256 hex>".
        app.MapPost("/sha256", async (HttpContext ctx) =>
        {
            try
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long total = 0;
                var buf = new byte[7919]; // odd size: reads straddle the transport's buffers
                int n;
                while ((n = await ctx.Request.Body.ReadAsync(buf, ctx.RequestAborted)) > 0)
                {
                    sha.AppendData(buf, 0, n);
                    if (total == 0) state.UploadStarted.Release();
                    total += n;
                }
                state.Uploads.Add(total);
                return Results.Text($"{total} {Convert.ToHexString(sha.GetHashAndReset())}");
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
            {
                state.Record(e); // e.g. 413 from MaxRequestBodySize: answer with Kestrel's status
                return Results.StatusCode(e.StatusCode);
            }
            catch (Exception e)
            {
                state.Record(e);
                return Results.Empty;
            }
        });

        // {mib} MiB of BigPattern with Content-Length, written 64 KiB at a time (each write
        // flushes, so the transport's backpressure paces the handler).
        app.MapGet("/big/{mib:int}", async (HttpContext ctx, int mib) =>
        {
            long total = (long)mib << 20;
            ctx.Response.ContentLength = total;
            ctx.Response.ContentType = "application/octet-stream";
            Interlocked.Increment(ref state.BigStarted);
            var chunk = new byte[64 * 1024];
            try
            {
                for (long off = 0; off < total; off += chunk.Length)
                {
                    BigPattern(off, chunk);
                    await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
                    Interlocked.Add(ref state.BigBytes, chunk.Length);
                }
            }
            catch (Exception e) { state.Record(e); }
        });

        // Answers once the test releases gate A, without reading the request body.
        app.MapPost("/stall", async (HttpContext ctx) =>
        {
            Interlocked.Increment(ref state.Waiting);
            state.WaitingChanged.Release();
            try
            {
                await state.GateA.Task.WaitAsync(ctx.RequestAborted);
                return Results.Text("released");
            }
            catch (Exception e)
            {
                state.Record(e);
                return Results.Empty;
            }
        });

        // Held open until the test releases the gate or the request is aborted.
        app.MapGet("/wait", async (HttpContext ctx) =>
        {
            Interlocked.Increment(ref state.Waiting);
            state.WaitingChanged.Release();
            try
            {
                var which = ctx.Request.Query["gate"] == "b" ? state.GateB : state.GateA;
                await which.Task.WaitAsync(ctx.RequestAborted);
                return Results.Text("released");
            }
            catch (Exception e)
            {
                state.Record(e);
                return Results.Empty;
            }
        });
    }

    /// <summary>The content of /big at offset off (fills dst).</summary>
    public static void BigPattern(long off, Span<byte> dst)
    {
        for (int i = 0; i < dst.Length; i++)
        {
            long x = off + i;
            dst[i] = (byte)(x * 7 + (x >> 13));
        }
    }

    /// <summary>The uRocket transport's counters (null on the Sockets transport).</summary>
    public UrocketTransportStats? UrocketStats() => App.Services.GetService<UrocketTransportFactory>()?.GetStats();

    /// <summary>After StopAsync: the transport holds nothing (on uRocket: no listener bound,
    /// no connection open, the engines ended with no live connection, held buffer or
    /// queued byte).</summary>
    public void AssertTransportClean()
    {
        if (Volatile.Read(ref State.OpenConnections) != 0)
            throw new Xunit.Sdk.XunitException($"{State.OpenConnections} connections still open after stop");
        if (UrocketStats() is { } s && s != new UrocketTransportStats(0, s.Accepted, 0, 0, 0, 0))
            throw new Xunit.Sdk.XunitException($"uRocket transport not clean after stop: {s}");
    }

    /// <summary>Waits (bounded) until the server has no open connections.</summary>
    public async Task WaitForNoConnectionsAsync(TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (Volatile.Read(ref State.OpenConnections) != 0)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{State.OpenConnections} connections still open on {Transport}");
            await Task.Delay(20);
        }
    }

    public async Task StopAsync(CancellationToken token = default)
    {
        if (Interlocked.Exchange(ref stopped, 1) == 0)
            await App.StopAsync(token);
    }

    public async ValueTask DisposeAsync()
    {
        State.GateA.TrySetResult();
        State.GateB.TrySetResult();
        await StopAsync();
        await App.DisposeAsync();
    }
}

public sealed record Message(string message);

[System.Text.Json.Serialization.JsonSerializable(typeof(Message))]
internal partial class TestJson : System.Text.Json.Serialization.JsonSerializerContext { }

/// <summary>What the app observed, for the tests to assert on.</summary>
public sealed class AppState
{
    public int OpenConnections;
    public int TotalConnections;
    public int ConnectionClosedFired;
    public int Waiting;
    public int BigStarted;
    public long BigBytes;
    public readonly SemaphoreSlim WaitingChanged = new(0);
    public readonly TaskCompletionSource GateA = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public readonly TaskCompletionSource GateB = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public readonly ConcurrentQueue<Exception> HandlerExceptions = new();
    public readonly ConcurrentBag<long> Uploads = new();
    public readonly SemaphoreSlim HandlerFailed = new(0);
    public readonly SemaphoreSlim UploadStarted = new(0);

    public void Record(Exception e)
    {
        HandlerExceptions.Enqueue(e);
        HandlerFailed.Release();
    }

    public ConnectionDelegate TrackConnections(ConnectionDelegate next) => async ctx =>
    {
        Interlocked.Increment(ref OpenConnections);
        Interlocked.Increment(ref TotalConnections);
        using var reg = ctx.ConnectionClosed.Register(() => Interlocked.Increment(ref ConnectionClosedFired));
        try { await next(ctx); }
        finally { Interlocked.Decrement(ref OpenConnections); }
    };

    public async Task WaitForWaitingAsync(int count, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (Volatile.Read(ref Waiting) < count)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await WaitingChanged.WaitAsync(left))
                throw new TimeoutException($"only {Waiting} of {count} requests reached the handler");
        }
    }
}

/// <summary>Collects log entries at Warning and above.</summary>
public sealed class LogSink : ILoggerProvider
{
    public readonly ConcurrentQueue<(LogLevel Level, string Category, string Message, Exception? Exception)> Entries = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    /// <summary>Entries at Error or above: an exception escaped somewhere. One is left out:
    /// when a client resets mid-body while the app reads it, Kestrel (on its own Sockets
    /// transport too) logs that draining the body failed because a read was in progress.</summary>
    public IEnumerable<string> Errors() =>
        Entries.Where(e => e.Level >= LogLevel.Error &&
                           !e.Message.Contains("automatic draining of the request body failed because the body reader is in an invalid state"))
               .Select(e => $"{e.Level} {e.Category}: {e.Message} {e.Exception}");

    private sealed class Logger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                sink.Entries.Enqueue((logLevel, category, formatter(state, exception), exception));
        }
    }
}

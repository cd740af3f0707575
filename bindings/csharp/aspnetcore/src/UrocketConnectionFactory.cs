using System;
using System.Buffers;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Urocket.Interop;

namespace Urocket.AspNetCore;

/// <summary>
/// Outgoing connections through the engine, as <see cref="ConnectionContext"/>s with the
/// same zero-copy <c>Transport</c> as the server side: <c>ConnectAsync(new
/// IPEndPoint(...))</c>, then read and write the pipes; disposing the context closes the
/// connection. One listener-less engine (started on first use) carries every connection;
/// dispose the factory to stop it.
/// </summary>
public sealed class UrocketConnectionFactory : IConnectionFactory, IAsyncDisposable
{
    private readonly UrocketTransportOptions options;
    private readonly MemoryPool<byte> pool;
    private readonly object gate = new();
    private UrkServer? server;
    private bool disposed;

    public UrocketConnectionFactory(IOptions<UrocketTransportOptions> options, IMemoryPoolFactory<byte>? poolFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.options.Validate();
        pool = poolFactory?.Create() ?? MemoryPool<byte>.Shared;
    }

    public UrocketConnectionFactory(UrocketTransportOptions? options = null)
        : this(Options.Create(options ?? new UrocketTransportOptions())) { }

    private UrkServer Engine()
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return server ??= UrkServer.Start(new EngineOptions
            {
                Flags = UrkConst.URK_ENGINE_NO_LISTEN | (options.Sqpoll ? UrkConst.URK_ENGINE_SQPOLL : 0),
                Reactors = (uint)options.Reactors,
                BufCount = (uint)options.BufferCount,
                BufSize = (uint)options.BufferSize,
                MaxConns = (uint)options.MaxConnectionsPerReactor,
                SendLimit = options.EngineSendLimit(UrocketTransportOptions.DefaultSendLimit),
            }, null, new ServerOptions { UseReactorContext = false, MaxHeldBuffers = options.HeldBuffers() });
        }
    }

    /// <summary>Connects to an IPv4 or IPv6 endpoint. A refused or unreachable peer throws
    /// <see cref="System.IO.IOException"/> naming it.</summary>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not IPEndPoint ip)
            throw new NotSupportedException($"uRocket connects to IP endpoints only, not {endpoint.GetType().Name} '{endpoint}'");
        Connection conn;
        try
        {
            conn = await Engine().ConnectAsync(ip, -1, cancellationToken).ConfigureAwait(false);
        }
        catch (UrkException e)
        {
            throw new System.IO.IOException($"uRocket: cannot connect to {ip}: {e.Message}", e);
        }
        return new UrocketConnection(conn, local: null, pool, ownsConnection: true);
    }

    /// <summary>Stops the engine: connections still open are closed.</summary>
    public async ValueTask DisposeAsync()
    {
        UrkServer? s;
        lock (gate)
        {
            disposed = true;
            s = server;
            server = null;
        }
        if (s != null)
            await s.StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
    }
}

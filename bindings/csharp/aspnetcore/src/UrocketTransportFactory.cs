using System;
using System.Buffers;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Urocket.AspNetCore;

/// <summary>Counters of every uRocket listener of one factory (one app), for health checks
/// and tests: after a graceful stop every "live" figure is zero.</summary>
public readonly record struct UrocketTransportStats(
    int Listeners,
    long Accepted,
    long OpenConnections,
    long EngineLiveConnections,
    long EngineBuffersHeld,
    long EngineSendQueuedBytes);

/// <summary>Kestrel's transport factory for uRocket: binds IPv4/IPv6 endpoints (loopback,
/// a given address, any-address; port 0 picks a free port) on an engine per endpoint.</summary>
public sealed class UrocketTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly UrocketTransportOptions options;
    private readonly ILogger logger;
    private readonly IMemoryPoolFactory<byte>? poolFactory;
    private readonly IOptions<KestrelServerOptions>? kestrel;
    private readonly List<UrocketConnectionListener> listeners = new();

    /// <param name="options">The transport's options.</param>
    /// <param name="loggerFactory">Where the transport logs.</param>
    /// <param name="poolFactory">Kestrel's memory pool factory.</param>
    /// <param name="kestrel">Kestrel's options: unless <see cref="UrocketTransportOptions.SendLimit"/>
    /// is set, their <c>Limits.MaxResponseBufferSize</c> is each connection's send limit.</param>
    public UrocketTransportFactory(IOptions<UrocketTransportOptions> options, ILoggerFactory? loggerFactory = null,
                                   IMemoryPoolFactory<byte>? poolFactory = null, IOptions<KestrelServerOptions>? kestrel = null)
    {
        this.kestrel = kestrel;
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.options.Validate();
        logger = loggerFactory?.CreateLogger("Urocket.AspNetCore") ?? NullLogger.Instance;
        this.poolFactory = poolFactory;
    }

    /// <summary>True for IP endpoints; Unix sockets and file handles are left to another transport.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not IPEndPoint ip)
            throw new NotSupportedException($"uRocket binds IP endpoints only, not {endpoint.GetType().Name} '{endpoint}'");
        cancellationToken.ThrowIfCancellationRequested();
        MemoryPool<byte> pool = poolFactory?.Create() ?? MemoryPool<byte>.Shared;
        // Read at bind time: Kestrel's options are complete once it binds.
        long? maxResponse = kestrel != null ? kestrel.Value.Limits.MaxResponseBufferSize : UrocketTransportOptions.DefaultSendLimit;
        var listener = UrocketConnectionListener.Bind(ip, options, options.EngineSendLimit(maxResponse), pool, logger);
        lock (listeners)
            listeners.Add(listener);
        return new ValueTask<IConnectionListener>(listener);
    }

    /// <summary>Totals over every listener this factory bound; a disposed listener counts with
    /// the engine figures it had when its engine stopped (all zero unless something leaked).</summary>
    public UrocketTransportStats GetStats()
    {
        UrocketConnectionListener[] ls;
        lock (listeners)
            ls = listeners.ToArray();
        long accepted = 0, open = 0, live = 0, held = 0, queued = 0;
        int bound = 0;
        foreach (var l in ls)
        {
            var s = l.GetStats();
            bound += s.Listeners;
            accepted += s.Accepted;
            open += s.OpenConnections;
            live += s.EngineLiveConnections;
            held += s.EngineBuffersHeld;
            queued += s.EngineSendQueuedBytes;
        }
        return new UrocketTransportStats(bound, accepted, open, live, held, queued);
    }
}

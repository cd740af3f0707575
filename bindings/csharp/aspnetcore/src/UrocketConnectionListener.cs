using System;
using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Urocket.Interop;

namespace Urocket.AspNetCore;

/// <summary>
/// One bound endpoint: an engine (two for the IPv6 any-address: the engine's IPv6 sockets
/// are IPv6-only, so "[::]" also gets an IPv4 "0.0.0.0" engine on the same port, matching
/// the dual-mode socket Kestrel's Sockets transport uses). Accepted connections queue up
/// for <see cref="AcceptAsync"/>.
/// </summary>
internal sealed class UrocketConnectionListener : IConnectionListener
{
    private const int ErrnoAddressInUse = 98;
    private const int ErrnoAddressNotAvailable = 99;

    private readonly Channel<UrocketConnection> accepted =
        Channel.CreateUnbounded<UrocketConnection>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly ConcurrentDictionary<UrocketConnection, byte> live = new();
    private readonly UrocketTransportOptions options;
    private readonly MemoryPool<byte> pool;
    private readonly ILogger logger;
    private readonly List<UrkServer> servers = new();
    private volatile bool unbound;
    private long acceptedCount;
    private int disposed;
    private UrkReactorStatsTotals final;
    private uint sendLimit;

    /// <summary>The engine's per-connection send limit (bytes).</summary>
    internal uint SendLimit => sendLimit;

    private UrocketConnectionListener(UrocketTransportOptions options, MemoryPool<byte> pool, ILogger logger)
    {
        this.options = options;
        this.pool = pool;
        this.logger = logger;
        EndPoint = new IPEndPoint(IPAddress.None, 0);
    }

    public EndPoint EndPoint { get; private set; }

    internal static UrocketConnectionListener Bind(IPEndPoint endpoint, UrocketTransportOptions options, uint sendLimit,
                                                   MemoryPool<byte> pool, ILogger logger)
    {
        var l = new UrocketConnectionListener(options, pool, logger) { sendLimit = sendLimit };
        try
        {
            int port = l.Start(endpoint.Address, endpoint.Port, endpoint);
            if (endpoint.Address.Equals(IPAddress.IPv6Any))
                l.Start(IPAddress.Any, port, endpoint);
            l.EndPoint = new IPEndPoint(endpoint.Address, port);
        }
        catch
        {
            l.StopEngines();
            throw;
        }
        logger.LogDebug("uRocket listening on {EndPoint} with {Reactors} reactor(s)", l.EndPoint, options.Reactors);
        return l;
    }

    private int Start(IPAddress address, int port, IPEndPoint requested)
    {
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && (address.IsIPv6LinkLocal || address.ScopeId != 0))
            throw new NotSupportedException($"uRocket cannot bind the scoped IPv6 address {requested}");
        var engineOptions = new EngineOptions
        {
            Host = address.ToString(),
            Port = checked((ushort)port),
            Backlog = options.Backlog,
            Reactors = (uint)options.Reactors,
            BufCount = (uint)options.BufferCount,
            BufSize = (uint)options.BufferSize,
            MaxConns = (uint)options.MaxConnectionsPerReactor,
            SendLimit = sendLimit,
            Flags = options.Sqpoll ? UrkConst.URK_ENGINE_SQPOLL : 0,
        };
        UrkServer server;
        try
        {
            // Continuations on the thread pool: Kestrel's code must not run on (and
            // block) a reactor thread. Held receive buffers follow MaxReadBufferSize.
            server = UrkServer.Start(engineOptions, HandleAsync, new ServerOptions
            {
                UseReactorContext = false,
                MaxHeldBuffers = options.HeldBuffers(),
            });
        }
        catch (UrkException e) when (e.Errno == ErrnoAddressInUse)
        {
            throw new AddressInUseException($"uRocket: {requested} is already in use ({e.Message})", e);
        }
        catch (UrkException e) when (e.Errno == ErrnoAddressNotAvailable)
        {
            throw new System.IO.IOException($"uRocket: {requested} is not an address of this host ({e.Message})", e);
        }
        catch (UrkException e)
        {
            throw new System.IO.IOException($"uRocket: cannot listen on {requested}: {e.Message}", e);
        }
        server.Error += (_, e) => logger.LogError(e.Exception, "uRocket engine: {Message} (connection {Id:X})", e.Exception.Message, e.ConnectionId);
        lock (servers)
            servers.Add(server);
        return server.Port;
    }

    // Runs on the connection's reactor thread, once per accepted connection; the engine
    // connection is released when the returned task ends.
    private Task HandleAsync(Connection conn)
    {
        if (unbound)
        {
            conn.Abort();
            return Task.CompletedTask;
        }
        UrocketConnection c;
        try
        {
            c = new UrocketConnection(conn, EndPoint, pool);
        }
        catch (Exception e)
        {
            logger.LogError(e, "uRocket: could not set up an accepted connection");
            conn.Abort();
            return Task.CompletedTask;
        }
        live.TryAdd(c, 0);
        Interlocked.Increment(ref acceptedCount);
        if (!accepted.Writer.TryWrite(c))
            _ = DisposeUnacceptedAsync(c); // unbound meanwhile
        return FinishAsync(c);
    }

    private async Task FinishAsync(UrocketConnection c)
    {
        try { await c.Finished.ConfigureAwait(false); }
        finally { live.TryRemove(c, out _); }
    }

    private static async Task DisposeUnacceptedAsync(UrocketConnection c)
    {
        c.Abort(new ConnectionAbortedException("The uRocket listener was unbound before Kestrel accepted the connection."));
        await c.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (await accepted.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (accepted.Reader.TryRead(out var c))
                    return c;
            }
        }
        catch (ChannelClosedException) { }
        return null; // unbound or disposed
    }

    /// <summary>Stops handing out connections; ones that arrive from now on are refused
    /// with a reset (the engine keeps its listening socket until the listener is disposed).</summary>
    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        unbound = true;
        accepted.Writer.TryComplete();
        while (accepted.Reader.TryRead(out var c))
            await DisposeUnacceptedAsync(c).ConfigureAwait(false);
    }

    /// <summary>Kestrel disposes the listener after its connections closed or were aborted.
    /// Anything still open is reset; then the engines stop.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        await UnbindAsync().ConfigureAwait(false);
        foreach (var c in live.Keys)
            c.Abort(new ConnectionAbortedException("The uRocket listener is shutting down."));
        var all = Task.WhenAll(Array.ConvertAll(ToArray(live.Keys), c => c.Finished));
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false) != all)
            logger.LogWarning("uRocket: {Count} connection(s) were not disposed by Kestrel; stopping the engine under them", live.Count);
        // FinishAsync removes a finished connection in a continuation that may run after
        // this one: remove them here, so the counts are exact once the listener is disposed.
        foreach (var c in ToArray(live.Keys))
            if (c.Finished.IsCompleted)
                live.TryRemove(c, out _);
        await Task.Run(StopEngines).ConfigureAwait(false); // UrkServer.Stop joins the reactor threads
    }

    private static T[] ToArray<T>(ICollection<T> c)
    {
        var a = new T[c.Count];
        c.CopyTo(a, 0);
        return a;
    }

    private void StopEngines()
    {
        UrkServer[] ss;
        lock (servers)
        {
            ss = servers.ToArray();
            servers.Clear();
        }
        var totals = new UrkReactorStatsTotals();
        foreach (var s in ss)
        {
            try
            {
                // Closes the connections queued are processed by the reactors a moment later:
                // wait (briefly) for the engine to settle, then record what it still held.
                var deadline = DateTime.UtcNow.AddSeconds(2);
                UrkReactorStatsTotals t;
                while (true)
                {
                    t = new UrkReactorStatsTotals();
                    t.Add(s.Engine);
                    if ((t.Live == 0 && t.Held == 0 && t.Queued == 0) || DateTime.UtcNow > deadline)
                        break;
                    Thread.Sleep(5);
                }
                totals.Live += t.Live;
                totals.Held += t.Held;
                totals.Queued += t.Queued;
                s.Stop(drainMs: 1000);
            }
            catch (Exception e)
            {
                logger.LogError(e, "uRocket: stopping an engine failed");
            }
        }
        final = totals;
    }

    internal UrocketTransportStats GetStats()
    {
        UrkServer[] ss;
        lock (servers)
            ss = servers.ToArray();
        var totals = ss.Length == 0 ? final : new UrkReactorStatsTotals();
        if (ss.Length != 0)
            foreach (var s in ss)
                totals.Add(s.Engine);
        return new UrocketTransportStats(ss.Length == 0 ? 0 : 1, Interlocked.Read(ref acceptedCount), live.Count,
                                         totals.Live, totals.Held, totals.Queued);
    }

    private struct UrkReactorStatsTotals
    {
        public long Live, Held, Queued;

        public void Add(Engine e)
        {
            for (int i = 0; i < e.ReactorCount; i++)
            {
                var s = e.Reactor(i).Stats;
                Live += (long)s.live_conns;
                Held += (long)s.bufs_held;
                Queued += (long)s.send_queued;
            }
        }
    }
}

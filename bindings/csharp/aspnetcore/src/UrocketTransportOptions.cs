using System;

namespace Urocket.AspNetCore;

/// <summary>Settings of the uRocket transport (<c>UseUrocket(o => ...)</c>). Each bound
/// endpoint gets its own engine with these settings.</summary>
public sealed class UrocketTransportOptions
{
    /// <summary>Reactor threads per engine (1..64); each owns an io_uring and its
    /// connections. Default: half the processors, at least 1, at most 16.</summary>
    public int Reactors { get; set; } = Math.Clamp(Environment.ProcessorCount / 2, 1, 16);

    /// <summary>Use an SQPOLL kernel thread per reactor (costs a core while busy).</summary>
    public bool Sqpoll { get; set; }

    /// <summary>Listen backlog. Default 4096 (the engine's).</summary>
    public int Backlog { get; set; } = 4096;

    /// <summary>Provided receive buffers per reactor (a power of two); 0: the engine's default (1024).</summary>
    public int BufferCount { get; set; }

    /// <summary>Bytes per provided receive buffer; 0: the engine's default (4096).</summary>
    public int BufferSize { get; set; }

    /// <summary>Connections per reactor; 0: the engine's default (65536).</summary>
    public int MaxConnectionsPerReactor { get; set; }

    /// <summary>Bytes received but not yet consumed by Kestrel after which the transport
    /// stops receiving on the connection (like the Sockets transport's MaxReadBufferSize;
    /// the kernel keeps the rest, and TCP flow control slows the sender). Counted in the
    /// engine's receive buffers: at least 16, at most a quarter of <see cref="BufferCount"/>.
    /// Default 64 KiB (16 buffers of 4 KiB): the receive buffers are shared by every
    /// connection of a reactor (1024 of them by default), so a few uploads that Kestrel
    /// does not read yet must not take the ring from everyone else. The pause takes effect
    /// asynchronously: a connection can hold up to about 32 buffers more than this (what
    /// the kernel filled before the pause reached it). null: a quarter of the ring.</summary>
    public long? MaxReadBufferSize { get; set; } = 64 * 1024;

    /// <summary>Bytes the engine queues per connection before Kestrel's <c>FlushAsync</c>
    /// waits for the peer to drain them (backpressure). null (the default): Kestrel's
    /// <c>Limits.MaxResponseBufferSize</c> (64 KiB unless configured; when that is null,
    /// "unlimited", 4 GiB), which is what Kestrel's Sockets transport applies too, so a slow
    /// downloader costs about that much memory per connection; for outgoing connections
    /// (<see cref="UrocketConnectionFactory"/>), 64 KiB. 0: the engine's default (4 MiB).
    /// One write is always accepted whole, so a connection can queue this plus one write.</summary>
    public int? SendLimit { get; set; }

    /// <summary>Kestrel's default <c>Limits.MaxResponseBufferSize</c>.</summary>
    internal const int DefaultSendLimit = 64 * 1024;

    /// <summary>The engine's send limit: the explicit <see cref="SendLimit"/>, else the
    /// response buffer limit Kestrel is configured with.</summary>
    internal uint EngineSendLimit(long? kestrelMaxResponseBufferSize)
    {
        if (SendLimit is int explicitLimit)
            return (uint)explicitLimit; // 0: the engine's own default
        if (kestrelMaxResponseBufferSize is not long k)
            return uint.MaxValue; // Kestrel's "unlimited"
        return (uint)Math.Clamp(k, 1, uint.MaxValue); // 0 in Kestrel: every write waits
    }

    internal int HeldBuffers()
    {
        long size = BufferSize == 0 ? 4096 : BufferSize, count = BufferCount == 0 ? 1024 : BufferCount;
        long most = Math.Max(16, count / 4);
        long want = MaxReadBufferSize is long max ? (max + size - 1) / size : most;
        return (int)Math.Clamp(want, 16, most);
    }

    internal void Validate()
    {
        if (Reactors < 1 || Reactors > 64)
            throw new ArgumentOutOfRangeException(nameof(Reactors), Reactors, "Reactors must be 1..64");
        if (Backlog < 1)
            throw new ArgumentOutOfRangeException(nameof(Backlog), Backlog, "Backlog must be positive");
        if (BufferCount < 0 || (BufferCount & (BufferCount - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(BufferCount), BufferCount, "BufferCount must be 0 or a power of two");
        if (BufferSize < 0)
            throw new ArgumentOutOfRangeException(nameof(BufferSize), BufferSize, "BufferSize must not be negative");
        if (MaxConnectionsPerReactor < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxConnectionsPerReactor), MaxConnectionsPerReactor, "must not be negative");
        if (SendLimit < 0)
            throw new ArgumentOutOfRangeException(nameof(SendLimit), SendLimit, "SendLimit must not be negative");
        if (MaxReadBufferSize < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxReadBufferSize), MaxReadBufferSize, "must not be negative");
    }
}

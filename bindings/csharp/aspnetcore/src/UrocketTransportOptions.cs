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
    /// stops receiving on the connection (like the Sockets transport's MaxReadBufferSize).
    /// Counted in the engine's receive buffers: at least 16, at most a quarter of
    /// <see cref="BufferCount"/> (so one connection cannot take a reactor's whole ring).
    /// Default 1 MiB; null: that quarter.</summary>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes the engine queues per connection before a write waits for the peer
    /// to drain them (backpressure); 0: the engine's default (4 MiB).</summary>
    public int SendLimit { get; set; }

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

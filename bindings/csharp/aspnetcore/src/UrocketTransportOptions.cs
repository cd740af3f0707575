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
    /// stops reading from the connection (like the Sockets transport's MaxReadBufferSize).
    /// Default 1 MiB; null: no limit.</summary>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes written by Kestrel but not yet handed to the engine after which
    /// Kestrel's FlushAsync waits. Default 64 KiB; null: no limit.</summary>
    public long? MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>Bytes the engine queues per connection before a write waits for the peer
    /// to drain them (backpressure); 0: the engine's default (4 MiB).</summary>
    public int SendLimit { get; set; }

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
        if (MaxWriteBufferSize < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxWriteBufferSize), MaxWriteBufferSize, "must not be negative");
    }
}

using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO.Pipelines;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Urocket.AspNetCore;

/// <summary>
/// One engine connection as Kestrel sees it. <see cref="Transport"/> is the binding's
/// zero-copy duplex pipe: Kestrel's parser reads the engine's receive buffers in place
/// (each goes back to the kernel when AdvanceTo consumes it), and what Kestrel writes is
/// sent from the writer's native blocks (URK_SEND_NOCOPY). The engine runs with
/// continuations on the thread pool, so Kestrel's code never runs on a reactor thread.
///
/// Semantics follow Kestrel's Sockets transport: the peer's FIN ends the input, a reset
/// fails reads with <see cref="ConnectionResetException"/>, either fires
/// <see cref="ConnectionClosed"/>; when Kestrel completes both pipes the connection is
/// closed gracefully (the bytes written, then FIN); <see cref="Abort(ConnectionAbortedException)"/>
/// resets it (RST).
/// </summary>
internal sealed class UrocketConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IMemoryPoolFeature
{
    private static long nextId = Random.Shared.NextInt64(1L << 40);

    private readonly Connection conn;
    private readonly TaskCompletionSource finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FeatureCollection features = new();
    private IDictionary<object, object?>? items;
    private int aborted;
    private int disposed;

    public UrocketConnection(Connection conn, EndPoint? local, MemoryPool<byte> pool)
    {
        this.conn = conn;
        MemoryPool = pool;
        ConnectionId = "UR" + Interlocked.Increment(ref nextId).ToString("X11");
        LocalEndPoint = local;
        RemoteEndPoint = PeerOf(conn);
        ConnectionClosed = conn.ConnectionClosed;
        var t = conn.Transport;
        Transport = new DuplexPipe(new TransportReader(t.Input, this), new TransportWriter(t.Output, this));

        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
    }

    // A peer that reset before the accept completed has no address any more.
    private static EndPoint? PeerOf(Connection conn)
    {
        try { return conn.RemoteEndPoint; }
        catch (ArgumentException) { return null; }
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features => features;
    public override IDuplexPipe Transport { get; set; }
    public override IDictionary<object, object?> Items
    {
        get => items ??= new ConnectionItems();
        set => items = value;
    }
    public override CancellationToken ConnectionClosed { get; set; }

    /// <summary>The pool Kestrel rents its own buffers from (the transport's pipes use
    /// the engine's buffers and native blocks instead).</summary>
    public MemoryPool<byte> MemoryPool { get; }

    /// <summary>Completes once Kestrel has disposed the connection.</summary>
    public Task Finished => finished.Task;

    private bool Aborted => Volatile.Read(ref aborted) != 0;

    /// <summary>Engine errors as Kestrel expects transport errors: after our abort a
    /// <see cref="ConnectionAbortedException"/>, else (reset, closed under a write, the
    /// engine stopping) a <see cref="ConnectionResetException"/>. Kestrel logs both at
    /// debug level, as it does for the Sockets transport's.</summary>
    private Exception Translate(Exception e) => Aborted || e is ObjectDisposedException
        ? new ConnectionAbortedException("The uRocket connection was aborted or its engine stopped.", e)
        : new ConnectionResetException(e.Message, e);

    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.Exchange(ref aborted, 1) != 0)
            return;
        conn.Abort(); // RST; the engine's close then ends pending reads and flushes
        Transport.Input.CancelPendingRead();
    }

    public override ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            // Completing both ends closes the connection gracefully (if still open) and
            // gives unread buffers back; the engine handler then releases the connection.
            Transport.Input.Complete();
            Transport.Output.Complete();
            finished.TrySetResult();
        }
        return ValueTask.CompletedTask;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>The binding's reader with engine errors translated for Kestrel.</summary>
    private sealed class TransportReader(PipeReader inner, UrocketConnection owner) : PipeReader
    {
        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<ReadResult> t;
            try { t = inner.ReadAsync(cancellationToken); }
            catch (Exception e) when (e is UrkException || e is ObjectDisposedException) { throw owner.Translate(e); }
            return t.IsCompletedSuccessfully ? t : Wait(t);
        }

        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> Wait(ValueTask<ReadResult> t)
        {
            try { return await t.ConfigureAwait(false); }
            catch (Exception e) when (e is UrkException || e is ObjectDisposedException) { throw owner.Translate(e); }
        }

        public override bool TryRead(out ReadResult result)
        {
            try { return inner.TryRead(out result); }
            catch (Exception e) when (e is UrkException || e is ObjectDisposedException) { throw owner.Translate(e); }
        }

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);
        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);
        public override void CancelPendingRead() => inner.CancelPendingRead();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }

    /// <summary>The binding's writer with engine errors translated for Kestrel.</summary>
    private sealed class TransportWriter(PipeWriter inner, UrocketConnection owner) : PipeWriter
    {
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override void Advance(int bytes) => inner.Advance(bytes);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<FlushResult> t;
            try { t = inner.FlushAsync(cancellationToken); }
            catch (Exception e) when (e is UrkException || e is ObjectDisposedException) { throw owner.Translate(e); }
            return t.IsCompletedSuccessfully ? t : Wait(t);
        }

        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<FlushResult> Wait(ValueTask<FlushResult> t)
        {
            try { return await t.ConfigureAwait(false); }
            catch (Exception e) when (e is UrkException || e is ObjectDisposedException) { throw owner.Translate(e); }
        }
    }
}

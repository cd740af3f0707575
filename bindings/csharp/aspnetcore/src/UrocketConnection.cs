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
using Microsoft.Extensions.Logging;

namespace Urocket.AspNetCore;

/// <summary>
/// One engine connection as Kestrel sees it. Two loops move the bytes: the receive loop
/// fills the input pipe Kestrel reads, the send loop drains the output pipe Kestrel writes.
/// Their continuations run on the connection's reactor thread or inline where the pipe is
/// advanced; Kestrel's own code is always scheduled on the thread pool (the pipes'
/// schedulers), never on a reactor thread.
///
/// Semantics follow Kestrel's Sockets transport: the peer's FIN or a reset completes the
/// input (a reset with <see cref="ConnectionResetException"/>) and fires
/// <see cref="ConnectionClosed"/>; when Kestrel completes the output the connection is
/// closed gracefully (queued bytes, then FIN); <see cref="Abort(ConnectionAbortedException)"/>
/// resets it (RST) and ends both loops.
/// </summary>
internal sealed class UrocketConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, IMemoryPoolFeature
{
    // Smallest span asked of the input pipe per receive (the pool's blocks are 4 KiB).
    private const int MinReceiveBuffer = 2048;

    private static long nextId = Random.Shared.NextInt64(1L << 40);

    private readonly Connection conn;
    private readonly ILogger logger;
    private readonly IDuplexPipe application; // the transport's ends: input writer, output reader
    private readonly CancellationTokenSource closedCts = new();
    private readonly TaskCompletionSource finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object shutdownLock = new();
    private readonly FeatureCollection features = new();
    private IDictionary<object, object?>? items;
    private Exception? shutdownReason;
    private bool shutDown;
    private int closedFired;
    private int disposed;
    private Task processing = Task.CompletedTask;

    public UrocketConnection(Connection conn, EndPoint? local, MemoryPool<byte> pool, UrocketTransportOptions options, ILogger logger)
    {
        this.conn = conn;
        this.logger = logger;
        MemoryPool = pool;
        ConnectionId = "UR" + Interlocked.Increment(ref nextId).ToString("X11");
        LocalEndPoint = local;
        RemoteEndPoint = PeerOf(conn);
        ConnectionClosed = closedCts.Token;

        long maxRead = options.MaxReadBufferSize ?? 0, maxWrite = options.MaxWriteBufferSize ?? 0;
        var input = new Pipe(new PipeOptions(pool, readerScheduler: PipeScheduler.ThreadPool, writerScheduler: PipeScheduler.Inline,
                                             pauseWriterThreshold: maxRead, resumeWriterThreshold: maxRead / 2,
                                             useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(pool, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.ThreadPool,
                                              pauseWriterThreshold: maxWrite, resumeWriterThreshold: maxWrite / 2,
                                              useSynchronizationContext: false));
        Transport = new DuplexPipe(input.Reader, output.Writer);
        application = new DuplexPipe(output.Reader, input.Writer);

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
    public MemoryPool<byte> MemoryPool { get; }

    /// <summary>Completes once Kestrel has disposed the connection and both loops ended.</summary>
    public Task Finished => finished.Task;

    /// <summary>The engine's connection id, for diagnostics.</summary>
    public ulong EngineId => conn.Id;

    public void Start() => processing = RunAsync();

    private async Task RunAsync()
    {
        try
        {
            var receive = ReceiveLoopAsync();
            var send = SendLoopAsync();
            await receive.ConfigureAwait(false);
            await send.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogError(e, "uRocket connection {ConnectionId}: unexpected failure", ConnectionId);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var input = application.Output;
        try
        {
            while (true)
            {
                var memory = input.GetMemory(MinReceiveBuffer);
                int n = await conn.ReadAsync(memory).ConfigureAwait(false);
                if (n == 0)
                    break; // FIN from the peer, or closed by us
                input.Advance(n);
                var flush = await input.FlushAsync().ConfigureAwait(false); // waits while Kestrel holds MaxReadBufferSize
                if (flush.IsCompleted || flush.IsCanceled)
                    break;
            }
        }
        catch (Exception e) when (e is UrkException || e is ObjectDisposedException)
        {
            error = Translate(e); // reset by the peer, or the engine is stopping
        }
        catch (Exception e)
        {
            error = e;
            logger.LogError(e, "uRocket connection {ConnectionId}: receive failed", ConnectionId);
        }
        finally
        {
            // If we shut the connection down first, that is why the receive ended.
            Exception? reason;
            lock (shutdownLock)
                reason = shutdownReason;
            input.Complete(reason ?? error);
            FireConnectionClosed();
        }
    }

    private async Task SendLoopAsync()
    {
        Exception? reason = null;
        var output = application.Input;
        try
        {
            while (true)
            {
                var result = await output.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                    break; // Abort
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                    await conn.WriteAsync(segment).ConfigureAwait(false); // copied into the engine's send queue
                output.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                    break; // Kestrel is done with the connection
            }
        }
        catch (Exception e) when (e is UrkException || e is ObjectDisposedException)
        {
            reason = Translate(e); // closed under us (peer gone, abort, engine stopping)
        }
        catch (Exception e)
        {
            reason = e;
            logger.LogError(e, "uRocket connection {ConnectionId}: send failed", ConnectionId);
        }
        finally
        {
            Shutdown(reason, abortive: reason != null);
            output.Complete();
            application.Output.CancelPendingFlush(); // un-pause the receive loop
        }
    }

    /// <summary>Engine errors as Kestrel expects transport errors: a connection that failed or
    /// closed under a read or write is a <see cref="ConnectionResetException"/>, a stopped
    /// engine a <see cref="ConnectionAbortedException"/> (Kestrel logs both at debug level).</summary>
    private static Exception Translate(Exception e) => e is ObjectDisposedException
        ? new ConnectionAbortedException("The uRocket engine stopped.", e)
        : new ConnectionResetException(e.Message, e);

    /// <summary>Ends the engine connection once: gracefully when the output completed
    /// normally (reason null), else with a reset.</summary>
    private void Shutdown(Exception? reason, bool abortive)
    {
        lock (shutdownLock)
        {
            if (shutDown)
                return;
            shutDown = true;
            shutdownReason = reason ?? new ConnectionAbortedException("The uRocket transport's send loop completed gracefully.");
        }
        try
        {
            if (abortive) conn.Abort();
            else conn.Close();
        }
        catch (ObjectDisposedException) { } // the engine has stopped: the connection is gone already
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref closedFired, 1) != 0)
            return;
        ThreadPool.UnsafeQueueUserWorkItem(static self =>
        {
            try { self.closedCts.Cancel(); }
            catch (Exception e) { self.logger.LogError(e, "uRocket connection {ConnectionId}: a ConnectionClosed callback threw", self.ConnectionId); }
        }, this, preferLocal: false);
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason ?? new ConnectionAbortedException("The connection was aborted by the application."), abortive: true);
        application.Input.CancelPendingRead(); // ends the send loop
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            await finished.Task.ConfigureAwait(false);
            return;
        }
        Transport.Input.Complete();
        Transport.Output.Complete();
        try
        {
            await processing.ConfigureAwait(false);
        }
        finally
        {
            // The token may still be firing on the pool; cancel it here too so callbacks
            // registered late still run, then let the engine handler finish.
            FireConnectionClosed();
            finished.TrySetResult();
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}

// UrkServer: the async API over the pull-mode engine (one thread per reactor,
// one handler call per connection). Threads and continuations: see
// ReactorLoop.cs and the README ("Where your code runs").
using System;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>How UrkServer runs handlers (the engine's own options are
    /// <see cref="EngineOptions"/>).</summary>
    public sealed class ServerOptions
    {
        /// <summary>true (default): handlers start on their reactor's thread
        /// with a SynchronizationContext that keeps every continuation there:
        /// no thread hop, no allocation, but code that blocks stalls every
        /// connection of that reactor. false: handlers and every continuation
        /// run on the thread pool; connection calls are queued to the reactor
        /// (a wake-up and a hop per operation), and blocking code only costs a
        /// pool thread.</summary>
        public bool UseReactorContext { get; set; } = true;

        /// <summary>Receive buffers a connection may hold unread (ReadAsync
        /// or the PipeReader) before its receiving pauses; it resumes when the
        /// reader is down to a quarter. Bounds what one slow reader can take
        /// from the reactor's shared buffer ring. Default 16.</summary>
        public int MaxHeldBuffers { get; set; } = 16;
    }

    /// <summary>An exception UrkServer caught: from a handler, a posted
    /// callback or the engine.</summary>
    public sealed class UrkErrorEventArgs : EventArgs
    {
        internal UrkErrorEventArgs(Exception e, ulong conn) { Exception = e; ConnectionId = conn; }
        public Exception Exception { get; }
        /// <summary>The connection it concerns, or 0.</summary>
        public ulong ConnectionId { get; }
    }

    /// <summary>
    /// A TCP server (and client) on the engine: one thread per reactor, one
    /// handler call per accepted connection.
    /// </summary>
    public sealed class UrkServer : IDisposable, IAsyncDisposable
    {
        readonly Engine engine;
        readonly ReactorLoop[] loops;
        readonly Func<Connection, Task> handler;
        readonly object stopGate = new object();
        internal readonly ServerOptions Options;
        int nextLoop;
        bool stopped;
        Task stopTask;

        /// <summary>Exceptions from handlers (the connection was aborted),
        /// posted callbacks and the engine, raised on the thread that caught
        /// them (usually a reactor thread: do not block). Without a subscriber
        /// they are written to stderr.</summary>
        public event EventHandler<UrkErrorEventArgs> Error;

        UrkServer(Engine engine, Func<Connection, Task> handler, ServerOptions options)
        {
            this.engine = engine;
            this.handler = handler;
            Options = options;
            loops = new ReactorLoop[engine.ReactorCount];
            for (int i = 0; i < loops.Length; i++)
                loops[i] = new ReactorLoop(this, engine.Reactor(i));
        }

        /// <summary>Creates the engine, starts it in pull mode and one thread per
        /// reactor. handler is called for each accepted connection; when its task
        /// ends the connection is closed (aborted if the task faulted). handler
        /// may be null for an engine used only for outgoing connections.</summary>
        public static UrkServer Start(EngineOptions options, Func<Connection, Task> handler,
                                      ServerOptions serverOptions = null)
        {
            options = options ?? new EngineOptions();
            serverOptions = serverOptions ?? new ServerOptions();
            if ((options.Flags & UrkConst.URK_ENGINE_RELEASE_ON_POLL) != 0)
                throw new ArgumentException("UrkServer releases buffers itself: URK_ENGINE_RELEASE_ON_POLL is not allowed");
            if (serverOptions.MaxHeldBuffers < 2)
                throw new ArgumentOutOfRangeException(nameof(serverOptions), "MaxHeldBuffers must be at least 2");
            // Half-close: a peer's FIN ends the reading side only, so a handler
            // can read to the end of the stream and still reply.
            var engine = Engine.Create(options, UrkConst.URK_ENGINE_HALF_CLOSE);
            UrkServer server = null;
            try
            {
                server = new UrkServer(engine, handler, serverOptions);
                engine.Start();
                foreach (var l in server.loops)
                    l.StartThread();
                return server;
            }
            catch
            {
                if (server != null)
                    server.Stop(0);
                else
                    engine.Dispose();
                throw;
            }
        }

        public Engine Engine { get { return engine; } }
        public int Port { get { return engine.Port; } }
        public int ReactorCount { get { return loops.Length; } }

        /// <summary>Reactor i's loop, for tests.</summary>
        internal ReactorLoop Loop(int i) { return loops[i]; }
        internal bool IsStopped { get { return Volatile.Read(ref stopped); } }

        /// <summary>Opens an outgoing connection from reactor `reactor` (-1:
        /// round-robin). The task completes (on a pool thread) once connected.
        /// Cancelling abandons the wait (a connection that opens later is closed).</summary>
        public Task<Connection> ConnectAsync(string host, ushort port, int reactor = -1,
                                             CancellationToken cancellationToken = default)
        {
            UrkAddr addr = Address.Parse(host, port);
            return ConnectAsync(addr, reactor, cancellationToken);
        }

        /// <summary>ConnectAsync to an IPEndPoint.</summary>
        public Task<Connection> ConnectAsync(IPEndPoint endPoint, int reactor = -1,
                                             CancellationToken cancellationToken = default)
        {
            if (endPoint == null)
                throw new ArgumentNullException(nameof(endPoint));
            return ConnectAsync(Address.FromEndPoint(endPoint), reactor, cancellationToken);
        }

        Task<Connection> ConnectAsync(UrkAddr addr, int reactor, CancellationToken cancellationToken)
        {
            if (reactor < 0)
                reactor = (int)((uint)Interlocked.Increment(ref nextLoop) % (uint)loops.Length);
            if (reactor >= loops.Length)
                throw new ArgumentOutOfRangeException(nameof(reactor));
            if (cancellationToken.IsCancellationRequested)
                return Task.FromCanceled<Connection>(cancellationToken);
            if (Volatile.Read(ref stopped))
                throw new ObjectDisposedException(nameof(UrkServer));
            var tcs = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
            var loop = loops[reactor];
            loop.Post(ReactorLoop.ConnectCallback, new ConnectRequest { Loop = loop, Addr = addr, Result = tcs });
            if (!cancellationToken.CanBeCanceled)
                return tcs.Task;
            // A connection that opens after the cancel is closed at once.
            var reg = cancellationToken.Register(() => tcs.TrySetCanceled(cancellationToken));
            tcs.Task.ContinueWith((t, s) =>
            {
                ((IDisposable)s).Dispose();
            }, reg, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return tcs.Task;
        }

        internal void RunHandler(Connection c)
        {
            if (handler == null)
            {
                c.Abort();
                return;
            }
            if (!Options.UseReactorContext)
            {
                ThreadPool.UnsafeQueueUserWorkItem(static s =>
                {
                    var conn = (Connection)s;
                    conn.Loop.Server.StartHandler(conn);
                }, c);
                return;
            }
            StartHandler(c);
        }

        void StartHandler(Connection c)
        {
            Task t;
            try { t = handler(c) ?? Task.CompletedTask; }
            catch (Exception ex) { t = Task.FromException(ex); }
            if (t.IsCompleted)
                HandlerDone(t, c);
            else
                t.ContinueWith(handlerDone, c, CancellationToken.None,
                               TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        static readonly Action<Task, object> handlerDone = (t, state) => HandlerDone(t, (Connection)state);

        static void HandlerDone(Task t, Connection c)
        {
            if (t.IsFaulted)
            {
                var ex = t.Exception.InnerExceptions.Count == 1 ? t.Exception.InnerException : t.Exception;
                if (c.Stopped && ex is ObjectDisposedException)
                {
                    c.AbortAndRelease();
                    return; // the server is stopping: expected, not worth a report
                }
                c.Loop.Server.ReportError(ex, c.Id);
                c.AbortAndRelease();
            }
            else
            {
                c.Dispose();
            }
        }

        internal void ReportError(Exception e, ulong conn = 0)
        {
            var h = Error;
            try
            {
                if (h != null)
                    h(this, new UrkErrorEventArgs(e, conn));
                else
                    Console.Error.WriteLine("urocket: " + (conn != 0 ? "connection " + conn + ": " : "") + e);
            }
            catch { }
        }

        /// <summary>Closes every connection gracefully (queued data is sent) and
        /// waits up to drainMs for them, then stops the reactor threads and the
        /// engine. Pending operations fail with ObjectDisposedException. Must
        /// not be called from a reactor thread (it waits for them).</summary>
        public void Stop(int drainMs = 1000)
        {
            foreach (var l in loops)
                if (l.OnLoopThread)
                    throw new InvalidOperationException("UrkServer.Stop from a reactor thread would wait for itself: use StopAsync");
            lock (stopGate)
            {
                if (stopped)
                    return;
                Volatile.Write(ref stopped, true);
                foreach (var l in loops)
                    l.RequestStop(drainMs);
                foreach (var l in loops)
                    l.Join();
                try { engine.Stop(0); }
                finally
                {
                    engine.Dispose();
                    // Only now may memory the engine could still send from go.
                    foreach (var l in loops)
                        l.FreeBlocks();
                }
            }
        }

        /// <summary>Stop(drain) on a pool thread: closes every connection
        /// gracefully, waits up to drain for them (TimeSpan.Zero: closes at once),
        /// then stops the reactors and the engine. The token abandons the wait
        /// for the stop (which still completes in the background).</summary>
        public Task StopAsync(TimeSpan drain, CancellationToken cancellationToken = default)
        {
            if (drain < TimeSpan.Zero || drain.TotalMilliseconds > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(drain));
            int ms = (int)drain.TotalMilliseconds;
            Task stop;
            lock (stopGate)
                stop = stopTask ??= Task.Run(() => Stop(ms));
            return cancellationToken.CanBeCanceled ? stop.WaitAsync(cancellationToken) : stop;
        }

        /// <summary>StopAsync with a one-second drain.</summary>
        public Task StopAsync(CancellationToken cancellationToken = default)
        {
            return StopAsync(TimeSpan.FromSeconds(1), cancellationToken);
        }

        /// <summary>Stop(0). From a reactor thread use DisposeAsync.</summary>
        public void Dispose() { Stop(0); }

        /// <summary>Stops at once (no drain) without blocking the caller's thread.</summary>
        public ValueTask DisposeAsync() { return new ValueTask(StopAsync(TimeSpan.Zero)); }
    }

    sealed class ConnectRequest
    {
        public ReactorLoop Loop;
        public UrkAddr Addr;
        public TaskCompletionSource<Connection> Result;
    }
}

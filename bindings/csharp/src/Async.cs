// Async API over the pull-mode engine.
//
// Threads and continuations (where your code runs):
//   * UrkServer starts one thread per reactor. Each thread polls its reactor
//     for batches of events (urk_reactor_poll) and dispatches them; it is the
//     only thread that calls the reactor (the library requires one owner).
//   * Your connection handler is first called on the connection's reactor
//     thread, with a SynchronizationContext that posts back to that thread.
//   * ReadAsync/WriteAsync/FlushAsync complete on the reactor thread, and the
//     code after an `await` that had to wait runs there, inline, in the middle
//     of the batch (no hop, no allocation). Code after awaiting anything else
//     (Task.Delay, a database call) also comes back to the reactor thread,
//     through the SynchronizationContext. So by default a handler is
//     single-threaded with every other connection of its reactor: do not block
//     in it (no .Result, no Thread.Sleep), or that reactor stalls.
//   * With ConfigureAwait(false) on a foreign task, or from any other thread,
//     connection calls still work: they are queued to the reactor thread,
//     which is woken with urk_reactor_wake, and complete there.
//   * One ReadAsync, one WriteAsync and one FlushAsync may be outstanding per
//     connection at a time (a second one throws InvalidOperationException).
//
// Steady state costs no allocation: a read that waits returns a ValueTask
// backed by the connection's reusable IValueTaskSource; a read or write that
// completes at once returns a completed ValueTask.
//
// ValueTask, IValueTaskSource and ManualResetValueTaskSourceCore are in
// mono 6.8's mscorlib and in .NET Core 2.1+/.NET 8, so one source serves both.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using Urocket.Interop;

namespace Urocket
{
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
        int nextLoop;
        bool stopped;
        Task stopTask;

        /// <summary>Called (on a reactor thread) with exceptions from handlers
        /// and posted callbacks. Default: written to stderr.</summary>
        public Action<Exception> OnError = e => Console.Error.WriteLine("urocket: " + e);

        UrkServer(Engine engine, Func<Connection, Task> handler)
        {
            this.engine = engine;
            this.handler = handler;
            loops = new ReactorLoop[engine.ReactorCount];
            for (int i = 0; i < loops.Length; i++)
                loops[i] = new ReactorLoop(this, engine.Reactor(i));
        }

        /// <summary>Creates the engine, starts it in pull mode and one thread per
        /// reactor. handler is called for each accepted connection; when its task
        /// ends the connection is closed (aborted if the task faulted). handler
        /// may be null for an engine used only for outgoing connections.</summary>
        public static UrkServer Start(EngineOptions options, Func<Connection, Task> handler)
        {
            options = options ?? new EngineOptions();
            if ((options.Flags & UrkConst.URK_ENGINE_RELEASE_ON_POLL) != 0)
                throw new ArgumentException("UrkServer releases buffers itself: URK_ENGINE_RELEASE_ON_POLL is not allowed");
            var engine = Engine.Create(options);
            UrkServer server = null;
            try
            {
                server = new UrkServer(engine, handler);
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

        /// <summary>Opens an outgoing connection from reactor `reactor` (-1:
        /// round-robin). The task completes (on a pool thread) once connected.</summary>
        public Task<Connection> ConnectAsync(string host, ushort port, int reactor = -1)
        {
            UrkAddr addr = Address.Parse(host, port);
            if (reactor < 0)
                reactor = (int)((uint)Interlocked.Increment(ref nextLoop) % (uint)loops.Length);
            if (reactor >= loops.Length)
                throw new ArgumentOutOfRangeException("reactor");
            var tcs = new TaskCompletionSource<Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
            var loop = loops[reactor];
            loop.Post(ReactorLoop.ConnectCallback, new ConnectRequest { Loop = loop, Addr = addr, Result = tcs });
            return tcs.Task;
        }

        internal void RunHandler(Connection c)
        {
            if (handler == null)
            {
                c.Abort();
                return;
            }
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
                if (c.Stopped && t.Exception.InnerException is ObjectDisposedException)
                {
                    c.Abort();
                    return; // the server is stopping: expected, not worth a report
                }
                c.Loop.Server.ReportError(t.Exception.InnerExceptions.Count == 1 ? t.Exception.InnerException : t.Exception);
                c.Abort();
            }
            else
            {
                c.Dispose();
            }
        }

        internal void ReportError(Exception e)
        {
            try { OnError?.Invoke(e); } catch { }
        }

        /// <summary>Closes every connection gracefully (queued data is sent) and
        /// waits up to drainMs for them, then stops the reactor threads and the
        /// engine. Pending operations fail with ObjectDisposedException. Must
        /// not be called from a reactor thread (it waits for them).</summary>
        public void Stop(int drainMs = 1000)
        {
            foreach (var l in loops)
                if (l.OnLoopThread)
                    throw new InvalidOperationException("UrkServer.Stop from a reactor thread would wait for itself");
            lock (stopGate)
            {
                if (stopped)
                    return;
                stopped = true;
                foreach (var l in loops)
                    l.RequestStop(drainMs);
                foreach (var l in loops)
                    l.Join();
                try { engine.Stop(0); }
                finally { engine.Dispose(); }
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

    /// <summary>Posts continuations back to the reactor thread.</summary>
    sealed class ReactorContext : SynchronizationContext
    {
        readonly ReactorLoop loop;
        public ReactorContext(ReactorLoop loop) { this.loop = loop; }
        public override void Post(SendOrPostCallback d, object state) { loop.Post(d, state); }
        public override void Send(SendOrPostCallback d, object state)
        {
            if (loop.OnLoopThread)
            {
                d(state);
                return;
            }
            using (var done = new ManualResetEventSlim())
            {
                Exception error = null;
                loop.Post(_ =>
                {
                    try { d(state); }
                    catch (Exception ex) { error = ex; }
                    finally { done.Set(); }
                }, null);
                done.Wait();
                if (error != null)
                    throw new AggregateException(error);
            }
        }
        public override SynchronizationContext CreateCopy() { return this; }
    }

    /// <summary>One reactor's thread: polls batches and dispatches them.</summary>
    sealed unsafe class ReactorLoop
    {
        const int MaxEvents = 256;
        const int InboxBatch = 1024;
        // Bounded rather than -1: the engine reports a peer's close only at
        // the poll after the one that saw it, so an idle reactor blocked with
        // -1 would never deliver it (see the binding's README, "Known issues").
        const int IdlePollMs = 100;

        struct WorkItem
        {
            public SendOrPostCallback Callback;
            public object State;
        }

        internal readonly UrkServer Server;
        internal readonly Reactor Reactor;
        internal readonly IntPtr Raw;
        internal readonly ReactorContext Context;
        readonly ConcurrentQueue<WorkItem> inbox = new ConcurrentQueue<WorkItem>();
        readonly Dictionary<ulong, Connection> conns = new Dictionary<ulong, Connection>();
        readonly Dictionary<ulong, TaskCompletionSource<Connection>> connects =
            new Dictionary<ulong, TaskCompletionSource<Connection>>();
        readonly uint[] releases = new uint[256];
        int nrelease;
        ulong nextTag;
        Thread thread;
        int threadId = -1;
        int wakeRequested;
        volatile int stopState;      // 0 running, 1 draining, 2 stopping now
        long drainDeadline;          // Stopwatch-free: DateTime.UtcNow ticks
        volatile bool exited;

        internal ReactorLoop(UrkServer server, Reactor reactor)
        {
            Server = server;
            Reactor = reactor;
            Raw = reactor.Raw;
            Context = new ReactorContext(this);
        }

        internal bool OnLoopThread { get { return Environment.CurrentManagedThreadId == threadId; } }
        internal bool Exited { get { return exited; } }

        internal void StartThread()
        {
            thread = new Thread(Run) { IsBackground = true, Name = "urk-reactor-" + Reactor.Index };
            thread.Start();
        }

        internal void Join() { if (thread != null) thread.Join(); }

        /// <summary>Runs cb(state) on the reactor thread. Any thread. After the
        /// loop has exited, callbacks run on the thread pool instead.</summary>
        internal void Post(SendOrPostCallback cb, object state)
        {
            if (exited)
            {
                ThreadPool.QueueUserWorkItem(s => cb(s), state);
                return;
            }
            inbox.Enqueue(new WorkItem { Callback = cb, State = state });
            if (!OnLoopThread && Interlocked.Exchange(ref wakeRequested, 1) == 0)
                Native.urk_reactor_wake(Raw);
            if (exited)
                DrainInboxToPool(); // lost the race with the loop's exit
        }

        void DrainInboxToPool()
        {
            WorkItem w;
            while (inbox.TryDequeue(out w))
            {
                var item = w;
                ThreadPool.QueueUserWorkItem(s => item.Callback(s), item.State);
            }
        }

        internal void RequestStop(int drainMs)
        {
            if (drainMs > 0)
            {
                drainDeadline = DateTime.UtcNow.Ticks + drainMs * TimeSpan.TicksPerMillisecond;
                stopState = 1;
                Post(CloseAllCallback, this);
            }
            else
            {
                stopState = 2;
                Native.urk_reactor_wake(Raw);
            }
        }

        static readonly SendOrPostCallback CloseAllCallback = s => ((ReactorLoop)s).CloseAll();

        void CloseAll()
        {
            foreach (var c in new List<Connection>(conns.Values))
                c.DoClose(false);
        }

        internal static readonly SendOrPostCallback ConnectCallback = s =>
        {
            var req = (ConnectRequest)s;
            req.Loop.Connect(req);
        };

        void Connect(ConnectRequest req)
        {
            if (stopState != 0 || exited)
            {
                req.Result.TrySetException(new ObjectDisposedException("UrkServer"));
                return;
            }
            ulong tag = ++nextTag; // never 0: 0 marks an accepted connection
            ulong id;
            UrkAddr addr = req.Addr;
            int rc = Native.urk_reactor_connect(Raw, &addr, tag, &id);
            if (rc < 0)
                req.Result.TrySetException(UrkException.From(rc, "urk_reactor_connect"));
            else
                connects[tag] = req.Result;
        }

        void Run()
        {
            threadId = Environment.CurrentManagedThreadId;
            SynchronizationContext.SetSynchronizationContext(Context);
            UrkEvent* events = (UrkEvent*)Marshal.AllocHGlobal(sizeof(UrkEvent) * MaxEvents);
            try
            {
                while (true)
                {
                    RunInbox();
                    FlushReleases();
                    if (stopState == 2)
                        break;
                    if (stopState == 1 && (conns.Count == 0 || DateTime.UtcNow.Ticks >= drainDeadline))
                        break;
                    int timeout = !inbox.IsEmpty ? 0 : stopState == 1 ? 10 : IdlePollMs;
                    int n = Native.urk_reactor_poll(Raw, events, MaxEvents, timeout);
                    if (n < 0)
                    {
                        Server.ReportError(UrkException.From(n, "urk_reactor_poll"));
                        break;
                    }
                    for (int i = 0; i < n; i++)
                        Dispatch(events + i);
                }
            }
            catch (Exception ex)
            {
                Server.ReportError(ex);
            }
            finally
            {
                Shutdown();
                Marshal.FreeHGlobal((IntPtr)events);
            }
        }

        void RunInbox()
        {
            Interlocked.Exchange(ref wakeRequested, 0);
            WorkItem w;
            // Bounded, so work that posts more work cannot starve the poll.
            for (int i = 0; i < InboxBatch && inbox.TryDequeue(out w); i++)
            {
                try { w.Callback(w.State); }
                catch (Exception ex) { Server.ReportError(ex); }
            }
        }

        void Dispatch(UrkEvent* ev)
        {
            Connection c;
            switch (ev->type)
            {
                case UrkConst.URK_EV_OPEN:
                {
                    c = new Connection(this, ev->conn, ev->data, ev->len);
                    conns[ev->conn] = c;
                    TaskCompletionSource<Connection> tcs;
                    if (ev->user != 0 && connects.TryGetValue(ev->user, out tcs))
                    {
                        connects.Remove(ev->user);
                        tcs.TrySetResult(c);
                    }
                    else if (stopState != 0)
                        c.DoClose(true);
                    else
                        Server.RunHandler(c);
                    break;
                }
                case UrkConst.URK_EV_DATA:
                    if (conns.TryGetValue(ev->conn, out c))
                        c.OnData(ev->data, ev->len, ev->buf);
                    else
                        AddRelease(ev->buf);
                    break;
                case UrkConst.URK_EV_WRITABLE:
                    if (conns.TryGetValue(ev->conn, out c))
                        c.OnWritable();
                    break;
                case UrkConst.URK_EV_SEND_DONE:
                    if (conns.TryGetValue(ev->conn, out c))
                        c.OnSendDone(ev->res, ev->user);
                    break;
                case UrkConst.URK_EV_CLOSED:
                    if (conns.TryGetValue(ev->conn, out c))
                    {
                        conns.Remove(ev->conn);
                        c.OnClosed(ev->res);
                    }
                    break;
                case UrkConst.URK_EV_CONNECT_FAILED:
                {
                    TaskCompletionSource<Connection> tcs;
                    if (connects.TryGetValue(ev->user, out tcs))
                    {
                        connects.Remove(ev->user);
                        tcs.TrySetException(UrkException.From(ev->res, "connect"));
                    }
                    break;
                }
            }
        }

        internal void AddRelease(uint buf)
        {
            if (nrelease == releases.Length)
                FlushReleases();
            releases[nrelease++] = buf;
        }

        void FlushReleases()
        {
            if (nrelease == 0)
                return;
            int rc;
            fixed (uint* p = releases)
                rc = Native.urk_reactor_release(Raw, p, (uint)nrelease);
            nrelease = 0;
            if (rc < 0)
                Server.ReportError(UrkException.From(rc, "urk_reactor_release"));
        }

        void Shutdown()
        {
            var gone = new ObjectDisposedException("UrkServer", "the server stopped");
            foreach (var c in new List<Connection>(conns.Values))
                c.OnStopped(gone);
            conns.Clear();
            foreach (var tcs in connects.Values)
                tcs.TrySetException(gone);
            connects.Clear();
            try { FlushReleases(); } catch (Exception ex) { Server.ReportError(ex); }
            exited = true;
            DrainInboxToPool();
        }
    }

    /// <summary>A reusable completion for one kind of operation on one
    /// connection. Completion always happens on the reactor thread; a
    /// continuation that asked for the reactor's own context is therefore run
    /// inline rather than posted back to the same thread.</summary>
    sealed class OpSource : IValueTaskSource<int>, IValueTaskSource
    {
        ManualResetValueTaskSourceCore<int> core;
        readonly ReactorLoop loop;

        public OpSource(ReactorLoop loop)
        {
            this.loop = loop;
            core.RunContinuationsAsynchronously = false;
        }

        public short Version { get { return core.Version; } }
        public void Reset() { core.Reset(); }
        public void SetResult(int value) { core.SetResult(value); }
        public void SetException(Exception e) { core.SetException(e); }

        public int GetResult(short token) { return core.GetResult(token); }
        void IValueTaskSource.GetResult(short token) { core.GetResult(token); }
        public ValueTaskSourceStatus GetStatus(short token) { return core.GetStatus(token); }

        public void OnCompleted(Action<object> continuation, object state, short token,
                                ValueTaskSourceOnCompletedFlags flags)
        {
            if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0 &&
                SynchronizationContext.Current == loop.Context)
                flags &= ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext;
            core.OnCompleted(continuation, state, token, flags);
        }
    }

    /// <summary>
    /// One TCP connection of an UrkServer. Reads copy out of the engine's
    /// receive buffers (which are given back as soon as they are consumed);
    /// writes are copied into the engine's send queue at once.
    /// </summary>
    public sealed unsafe class Connection : IDisposable
    {
        // Reading pauses when this many receive buffers wait unread, and resumes
        // once the reader is down to ResumeAt: one slow reader cannot hold the
        // reactor's whole buffer ring (fairness, notes pitfall 12).
        const int PauseAt = 8;
        const int ResumeAt = 2;

        struct Segment
        {
            public IntPtr Data;
            public int Len;
            public int Off;
            public uint Buf;
        }

        internal readonly ReactorLoop Loop;
        readonly ulong id;
        readonly UrkAddr peer;

        Segment[] segs = new Segment[PauseAt * 2];
        int segHead, segCount;
        bool paused;

        bool closed, closeRequested;
        int closeReason;
        Exception stoppedError;

        readonly OpSource readSrc, writeSrc, flushSrc;
        int readBusy, writeBusy, flushBusy;
        bool readPending, writePending, flushPending;
        Memory<byte> readBuf;
        ReadOnlyMemory<byte> writeBuf;
        ulong writeSeq, doneSeq;
        int sendError;

        internal Connection(ReactorLoop loop, ulong id, IntPtr peerBytes, uint peerLen)
        {
            Loop = loop;
            this.id = id;
            UrkAddr a = default(UrkAddr);
            byte* dst = a.bytes;
            byte* src = (byte*)peerBytes;
            for (uint i = 0; i < peerLen && i < 128; i++)
                dst[i] = src[i];
            a.len = peerLen;
            peer = a;
            readSrc = new OpSource(loop);
            writeSrc = new OpSource(loop);
            flushSrc = new OpSource(loop);
        }

        /// <summary>The engine's connection id (urk_conn_t).</summary>
        public ulong Id { get { return id; } }
        public int ReactorIndex { get { return Loop.Reactor.Index; } }
        public IPEndPoint RemoteEndPoint { get { return Address.ToEndPoint(peer); } }
        /// <summary>True once the engine reported the connection closed.</summary>
        public bool IsClosed { get { return Volatile.Read(ref closed); } }

        internal bool Stopped { get { return Volatile.Read(ref stoppedError) != null; } }

        static Exception Busy(string what)
        {
            return new InvalidOperationException("another " + what + " is already pending on this connection");
        }

        // ------------------------------------------------------------ reading

        /// <summary>Reads up to buffer.Length bytes. Returns 0 at end of stream
        /// (the peer closed, we closed, or the server stopped); throws UrkException if the connection
        /// failed (e.g. ECONNRESET).</summary>
        public ValueTask<int> ReadAsync(Memory<byte> buffer)
        {
            if (Interlocked.Exchange(ref readBusy, 1) != 0)
                throw Busy("ReadAsync");
            if (Loop.OnLoopThread)
            {
                int n;
                Exception err;
                if (TryReadNow(buffer.Span, out n, out err))
                {
                    Volatile.Write(ref readBusy, 0);
                    return err == null ? new ValueTask<int>(n) : new ValueTask<int>(Task.FromException<int>(err));
                }
                readBuf = buffer;
                readPending = true;
                readSrc.Reset();
                return new ValueTask<int>(readSrc, readSrc.Version);
            }
            readSrc.Reset();
            readBuf = buffer;
            short v = readSrc.Version;
            Loop.Post(startRead, this);
            return new ValueTask<int>(readSrc, v);
        }

        static readonly SendOrPostCallback startRead = s => ((Connection)s).StartRead();

        void StartRead()
        {
            readPending = true;
            TryCompleteRead();
        }

        bool TryReadNow(Span<byte> dst, out int n, out Exception err)
        {
            n = 0;
            err = null;
            if (segCount > 0)
            {
                n = CopyOut(dst);
                return true;
            }
            if (stoppedError != null)
                return true; // the server stopped: end of stream, as for a close by us
            if (closed)
            {
                if (closeReason < 0)
                    err = UrkException.From(closeReason, "recv");
                return true;
            }
            return dst.Length == 0;
        }

        void TryCompleteRead()
        {
            if (!readPending)
                return;
            int n;
            Exception err;
            if (!TryReadNow(readBuf.Span, out n, out err))
                return;
            readPending = false;
            readBuf = default(Memory<byte>);
            Volatile.Write(ref readBusy, 0);
            if (err != null)
                readSrc.SetException(err);
            else
                readSrc.SetResult(n); // may run the reader's continuation inline
        }

        int CopyOut(Span<byte> dst)
        {
            int total = 0;
            while (segCount > 0 && total < dst.Length)
            {
                ref Segment s = ref segs[segHead];
                int take = Math.Min(s.Len - s.Off, dst.Length - total);
                new Span<byte>((byte*)s.Data + s.Off, take).CopyTo(dst.Slice(total));
                total += take;
                s.Off += take;
                if (s.Off == s.Len)
                {
                    Loop.AddRelease(s.Buf);
                    segHead = (segHead + 1) % segs.Length;
                    segCount--;
                }
            }
            if (paused && segCount <= ResumeAt && !closed)
            {
                paused = false;
                Native.urk_conn_pause_recv(Loop.Raw, id, 0);
            }
            return total;
        }

        internal void OnData(IntPtr data, uint len, uint buf)
        {
            if (segCount == segs.Length)
            {
                var bigger = new Segment[segs.Length * 2];
                for (int i = 0; i < segCount; i++)
                    bigger[i] = segs[(segHead + i) % segs.Length];
                segs = bigger;
                segHead = 0;
            }
            segs[(segHead + segCount) % segs.Length] = new Segment { Data = data, Len = (int)len, Buf = buf };
            segCount++;
            if (!paused && segCount >= PauseAt && !closeRequested)
            {
                paused = true;
                Native.urk_conn_pause_recv(Loop.Raw, id, 1);
            }
            TryCompleteRead();
        }

        void DropUnread()
        {
            while (segCount > 0)
            {
                Loop.AddRelease(segs[segHead].Buf);
                segHead = (segHead + 1) % segs.Length;
                segCount--;
            }
        }

        // ------------------------------------------------------------ writing

        /// <summary>Queues a copy of data for sending. Completes at once unless
        /// the connection's send limit is reached; then it completes when the
        /// peer has drained enough (backpressure). The caller may reuse data as
        /// soon as the returned task completes.</summary>
        public ValueTask WriteAsync(ReadOnlyMemory<byte> data)
        {
            if (Interlocked.Exchange(ref writeBusy, 1) != 0)
                throw Busy("WriteAsync");
            if (data.Length == 0)
            {
                Volatile.Write(ref writeBusy, 0);
                return default(ValueTask);
            }
            if (Loop.OnLoopThread)
            {
                int rc = SendNow(data, 0);
                if (rc == 0)
                {
                    Volatile.Write(ref writeBusy, 0);
                    return default(ValueTask);
                }
                if (rc == -Errno.EAGAIN)
                {
                    writeBuf = data;
                    writePending = true;
                    writeSrc.Reset();
                    return new ValueTask(writeSrc, writeSrc.Version);
                }
                Volatile.Write(ref writeBusy, 0);
                return new ValueTask(Task.FromException(UrkException.From(rc, "urk_send")));
            }
            writeSrc.Reset();
            writeBuf = data;
            short v = writeSrc.Version;
            Loop.Post(startWrite, this);
            return new ValueTask(writeSrc, v);
        }

        static readonly SendOrPostCallback startWrite = s => ((Connection)s).StartWrite();

        void StartWrite()
        {
            if (stoppedError != null)
            {
                CompleteWrite(stoppedError);
                return;
            }
            int rc = SendNow(writeBuf, 0);
            if (rc == -Errno.EAGAIN)
                writePending = true;
            else
                CompleteWrite(rc == 0 ? null : UrkException.From(rc, "urk_send"));
        }

        void CompleteWrite(Exception err)
        {
            writePending = false;
            writeBuf = default(ReadOnlyMemory<byte>);
            Volatile.Write(ref writeBusy, 0);
            if (err != null)
                writeSrc.SetException(err);
            else
                writeSrc.SetResult(0);
            TryCompleteFlush();
        }

        /// <summary>urk_send with URK_SEND_NOTIFY: the tag is the write's
        /// sequence number, so SEND_DONE events tell how far sending got.</summary>
        int SendNow(ReadOnlyMemory<byte> data, uint flags)
        {
            int rc;
            ArraySegment<byte> seg;
            ulong tag = writeSeq + 1;
            flags |= UrkConst.URK_SEND_NOTIFY;
            if (MemoryMarshal.TryGetArray(data, out seg))
            {
                fixed (byte* p = seg.Array)
                    rc = Native.urk_send(Loop.Raw, id, p + seg.Offset, (uint)seg.Count, flags, tag);
            }
            else
            {
                using (var pin = data.Pin())
                    rc = Native.urk_send(Loop.Raw, id, pin.Pointer, (uint)data.Length, flags, tag);
            }
            if (rc == 0)
                writeSeq = tag;
            return rc;
        }

        internal void OnWritable()
        {
            if (!writePending)
                return;
            // Over the limit only because of this one write: queue it anyway
            // (memory stays bounded by one write) rather than wait for an
            // empty queue that may never be reported.
            int rc = SendNow(writeBuf, UrkConst.URK_SEND_FORCE);
            CompleteWrite(rc == 0 ? null : UrkException.From(rc, "urk_send"));
        }

        internal void OnSendDone(int res, ulong tag)
        {
            if (tag > doneSeq)
                doneSeq = tag;
            if (res < 0 && sendError == 0)
                sendError = res;
            TryCompleteFlush();
        }

        // ------------------------------------------------------------ flushing

        /// <summary>Completes when every byte written so far has been sent to
        /// the kernel, or throws the error that stopped sending.</summary>
        public ValueTask FlushAsync()
        {
            if (Interlocked.Exchange(ref flushBusy, 1) != 0)
                throw Busy("FlushAsync");
            if (Loop.OnLoopThread)
            {
                Exception err;
                if (FlushDone(out err))
                {
                    Volatile.Write(ref flushBusy, 0);
                    return err == null ? default(ValueTask) : new ValueTask(Task.FromException(err));
                }
                flushPending = true;
                flushSrc.Reset();
                return new ValueTask(flushSrc, flushSrc.Version);
            }
            flushSrc.Reset();
            short v = flushSrc.Version;
            Loop.Post(startFlush, this);
            return new ValueTask(flushSrc, v);
        }

        static readonly SendOrPostCallback startFlush = s => ((Connection)s).StartFlush();

        void StartFlush()
        {
            flushPending = true;
            TryCompleteFlush();
        }

        bool FlushDone(out Exception err)
        {
            err = null;
            if (sendError < 0)
            {
                err = UrkException.From(sendError, "send");
                return true;
            }
            if (!writePending && doneSeq >= writeSeq)
                return true;
            if (stoppedError != null)
            {
                err = stoppedError;
                return true;
            }
            if (closed)
            {
                err = UrkException.From(-UrkConst.URK_ECLOSING, "send");
                return true;
            }
            return false;
        }

        void TryCompleteFlush()
        {
            if (!flushPending)
                return;
            Exception err;
            if (!FlushDone(out err))
                return;
            flushPending = false;
            Volatile.Write(ref flushBusy, 0);
            if (err != null)
                flushSrc.SetException(err);
            else
                flushSrc.SetResult(0);
        }

        // ------------------------------------------------------------ closing

        /// <summary>Graceful close: queued data is sent, then FIN. Any thread.</summary>
        public void Close() { Run(closeGraceful); }

        /// <summary>Abortive close (RST); queued data is dropped. Any thread.</summary>
        public void Abort() { Run(closeAbort); }

        /// <summary>Closes gracefully and gives unread receive buffers back.</summary>
        public void Dispose() { Run(dispose); }

        static readonly SendOrPostCallback closeGraceful = s => ((Connection)s).DoClose(false);
        static readonly SendOrPostCallback closeAbort = s => ((Connection)s).DoClose(true);
        static readonly SendOrPostCallback dispose = s =>
        {
            var c = (Connection)s;
            c.DoClose(false);
            c.DropUnread();
        };

        void Run(SendOrPostCallback what)
        {
            if (Loop.OnLoopThread)
                what(this);
            else
                Loop.Post(what, this);
        }

        internal void DoClose(bool abort)
        {
            if (closed || stoppedError != null || (closeRequested && !abort))
                return;
            closeRequested = true;
            Native.urk_close(Loop.Raw, id, abort ? 1u : 0u); // a stale id means it is closed already
        }

        internal void OnClosed(int reason)
        {
            Volatile.Write(ref closed, true);
            closeReason = reason;
            paused = false;
            TryCompleteRead();
            if (writePending)
                CompleteWrite(UrkException.From(-UrkConst.URK_ECLOSING, "send"));
            TryCompleteFlush();
        }

        internal void OnStopped(Exception gone)
        {
            Volatile.Write(ref stoppedError, gone);
            DropUnread();
            TryCompleteRead();
            if (writePending)
                CompleteWrite(gone);
            TryCompleteFlush();
        }
    }

    public static class ConnectionExtensions
    {
        /// <summary>WriteAsync then FlushAsync.</summary>
        public static async Task WriteAndFlushAsync(this Connection c, ReadOnlyMemory<byte> data)
        {
            await c.WriteAsync(data);
            await c.FlushAsync();
        }

        /// <summary>Reads exactly buffer.Length bytes; false if the stream ended first.</summary>
        public static async Task<bool> ReadExactlyAsync(this Connection c, Memory<byte> buffer)
        {
            int got = 0;
            while (got < buffer.Length)
            {
                int n = await c.ReadAsync(buffer.Slice(got));
                if (n == 0)
                    return false;
                got += n;
            }
            return true;
        }
    }
}

// One reactor's thread: polls batches of events and dispatches them; the only
// thread that calls its reactor (the library requires one owner).
//
// Threads and continuations (where your code runs):
//   * With ServerOptions.UseReactorContext (the default) the connection
//     handler is first called on the connection's reactor thread, with a
//     SynchronizationContext that posts back to that thread. ReadAsync,
//     WriteAsync and FlushAsync complete on the reactor thread and the code
//     after an `await` that had to wait runs there, inline, in the middle of
//     the batch (no hop, no allocation). So a handler is single-threaded with
//     every other connection of its reactor: do not block in it.
//   * Without it, handlers and continuations run on the thread pool; every
//     connection call is queued to the reactor thread, which is woken with
//     urk_reactor_wake, and completes there.
//   * Writes made during one loop turn are staged and reach the engine
//     together, as one urk_send_batch, before the thread polls again.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;
using Urocket.Interop;

namespace Urocket
{
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

    sealed unsafe class ReactorLoop
    {
        const int MaxEvents = 256;
        const int InboxBatch = 1024;
        // Bounded rather than -1 only as a backstop: every engine event and
        // every Wake() ends a blocked poll, so nothing waits for this timeout
        // in normal operation; it costs ten idle wake-ups a second.
        const int IdlePollMs = 100;
        // Staging: bytes copied by WriteAsync during one loop turn, handed to
        // the engine (which copies them into its queue) by one urk_send_batch.
        internal const int StageBytes = 256 * 1024;
        const int MaxReqs = 1024;
        // PipeWriter blocks: native memory the engine sends from directly.
        internal const int BlockSize = 16 * 1024;

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
        long drainDeadline;          // DateTime.UtcNow ticks
        volatile bool exited;

        readonly byte* stage;
        int staged;
        readonly UrkSendReq* reqs;
        readonly Connection[] reqConn = new Connection[MaxReqs];
        readonly NativeBlock[] reqBlock = new NativeBlock[MaxReqs];
        int nreq;

        // PipeWriter blocks by index (= tag - 1; null: a free slot), the
        // free blocks kept for reuse and the free indexes. Free blocks beyond
        // MaxFreeBlocks that stayed unused for a whole trim interval go back
        // to the allocator, so a burst of slow downloaders does not pin its
        // peak for good while a steady load (which reuses them) never pays an
        // allocation. The rest are freed after the engine is destroyed.
        internal const int MaxFreeBlocks = 64; // 1 MiB per reactor
        const long TrimIntervalMs = 1000;
        int minFreeSinceTrim;
        long nextTrim;
        readonly List<NativeBlock> blocks = new List<NativeBlock>();
        readonly Stack<NativeBlock> freeBlocks = new Stack<NativeBlock>();
        readonly Stack<int> freeSlots = new Stack<int>();
        readonly object blockGate = new object();
        int liveBlocks;

        /// <summary>Blocks allocated now (in use or kept free), for tests.</summary>
        internal int LiveBlocks { get { lock (blockGate) return liveBlocks; } }
        /// <summary>Free blocks kept for reuse, for tests.</summary>
        internal int FreeBlockCount { get { lock (blockGate) return freeBlocks.Count; } }
        /// <summary>urk_send_batch calls made by this loop, for tests.</summary>
        internal long SendBatchCalls;

        internal ReactorLoop(UrkServer server, Reactor reactor)
        {
            Server = server;
            Reactor = reactor;
            Raw = reactor.Raw;
            Context = new ReactorContext(this);
            stage = (byte*)NativeMemory.Alloc(StageBytes);
            reqs = (UrkSendReq*)NativeMemory.AllocZeroed((nuint)(MaxReqs * sizeof(UrkSendReq)));
        }

        internal bool OnLoopThread { get { return Environment.CurrentManagedThreadId == threadId; } }
        internal bool Exited { get { return exited; } }
        internal bool Stopping { get { return stopState != 0; } }

        internal void StartThread()
        {
            thread = new Thread(Run) { IsBackground = true, Name = "urk-reactor-" + Reactor.Index };
            thread.Start();
        }

        internal void Join() { if (thread != null) thread.Join(); }

        /// <summary>Runs cb(state) on the reactor thread. Any thread. After the
        /// loop has exited, callbacks run on the thread pool instead (every
        /// callback checks the connection's stopped state before any native call).</summary>
        internal void Post(SendOrPostCallback cb, object state)
        {
            if (exited)
            {
                RunOnPool(cb, state);
                return;
            }
            inbox.Enqueue(new WorkItem { Callback = cb, State = state });
            if (!OnLoopThread && Interlocked.Exchange(ref wakeRequested, 1) == 0)
                Wake();
            if (exited)
                DrainInboxToPool(); // lost the race with the loop's exit
        }

        /// <summary>urk_reactor_wake under a reference on the engine handle:
        /// a concurrent Dispose cannot free the reactor under the call, and a
        /// disposed engine is never called.</summary>
        void Wake()
        {
            var engine = Reactor.Engine;
            bool added = false;
            try
            {
                engine.DangerousAddRef(ref added);
                if (!exited)
                    Native.urk_reactor_wake(Raw);
            }
            catch (ObjectDisposedException) { }
            finally
            {
                if (added)
                    engine.DangerousRelease();
            }
        }

        void DrainInboxToPool()
        {
            WorkItem w;
            while (inbox.TryDequeue(out w))
                RunOnPool(w.Callback, w.State);
        }

        /// <summary>A callback posted after the loop exited. It gets the loop's
        /// own protection: an exception goes to the Error event (as in
        /// RunInbox) instead of escaping a pool thread, which ends the process.</summary>
        void RunOnPool(SendOrPostCallback cb, object state)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s =>
            {
                var (loop, callback, st) = ((ReactorLoop, SendOrPostCallback, object))s;
                try { callback(st); }
                catch (Exception ex) { loop.Server.ReportError(ex); }
            }, (this, cb, state), preferLocal: false);
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
                Wake();
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
                req.Result.TrySetException(new ObjectDisposedException(nameof(UrkServer), "the server is stopping"));
                return;
            }
            if (req.Result.Task.IsCompleted)
                return; // cancelled before it started
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
            if (Server.Options.UseReactorContext)
                SynchronizationContext.SetSynchronizationContext(Context);
            UrkEvent* events = (UrkEvent*)NativeMemory.Alloc((nuint)(sizeof(UrkEvent) * MaxEvents));
            try
            {
                while (true)
                {
                    RunInbox();
                    FlushSends();
                    FlushReleases();
                    TrimBlocks();
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
                NativeMemory.Free(events);
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
                        if (!tcs.TrySetResult(c))
                            c.DoClose(true); // the connect was cancelled
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
                    // Only PipeWriter blocks are sent with a completion (tag = block index + 1).
                    if (ev->user != 0)
                        ReturnBlockByTag(ev->user);
                    if (conns.TryGetValue(ev->conn, out c))
                        c.OnSendDone(ev->res);
                    break;
                case UrkConst.URK_EV_EOF:
                    if (conns.TryGetValue(ev->conn, out c))
                        c.OnEof();
                    break;
                case UrkConst.URK_EV_POST:
                    // Work posted with urk_reactor_post by native code sharing this reactor.
                    if (ev->data != IntPtr.Zero)
                        ((delegate* unmanaged<IntPtr, void*, void>)ev->data)(Raw, (void*)ev->user);
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

        // ------------------------------------------------------------ sends

        /// <summary>Copies data into this turn's staging area for c (one request
        /// per run of writes to the same connection). Big writes go to the
        /// engine at once (it copies them). Returns 0 or a negative code.</summary>
        internal int StageCopy(Connection c, ReadOnlySpan<byte> data)
        {
            if (data.Length > StageBytes / 4)
            {
                FlushSends(); // keep the order of what is already staged
                fixed (byte* p = data)
                    return SendDirect(c, p, data.Length);
            }
            if (staged + data.Length > StageBytes || nreq == MaxReqs)
                FlushSends();
            byte* dst = stage + staged;
            data.CopyTo(new Span<byte>(dst, data.Length));
            if (nreq > 0 && reqConn[nreq - 1] == c && reqBlock[nreq - 1] == null &&
                (byte*)reqs[nreq - 1].data + reqs[nreq - 1].len == dst)
            {
                reqs[nreq - 1].len += (uint)data.Length; // extends the previous write
            }
            else
            {
                reqs[nreq] = new UrkSendReq { conn = c.Id, data = (IntPtr)dst, len = (uint)data.Length };
                reqConn[nreq] = c;
                reqBlock[nreq] = null;
                nreq++;
            }
            staged += data.Length;
            return 0;
        }

        int SendDirect(Connection c, byte* p, int len)
        {
            int rc = Native.urk_send(Raw, c.Id, p, (uint)len, 0, 0);
            if (rc == -Errno.EAGAIN)
            {
                // The caller was not blocked when it wrote: queue it anyway
                // (bounded by one write) and block its next writes.
                rc = Native.urk_send(Raw, c.Id, p, (uint)len, UrkConst.URK_SEND_FORCE, 0);
                if (rc == 0)
                    c.Blocked = true;
            }
            return rc;
        }

        /// <summary>Queues len bytes of a PipeWriter block, sent from the block
        /// itself (URK_SEND_NOCOPY); the block comes back on SEND_DONE.</summary>
        internal void StageBlock(Connection c, NativeBlock b, int len)
        {
            if (nreq == MaxReqs)
                FlushSends();
            reqs[nreq] = new UrkSendReq
            {
                conn = c.Id, data = (IntPtr)b.Ptr, len = (uint)len,
                flags = UrkConst.URK_SEND_NOCOPY, tag = (ulong)b.Index + 1,
            };
            reqConn[nreq] = c;
            reqBlock[nreq] = b;
            nreq++;
        }

        /// <summary>Hands every staged write to the engine in one
        /// urk_send_batch. A write over the send limit is queued anyway (FORCE:
        /// it was accepted already) and blocks its connection's next writes
        /// until URK_EV_WRITABLE.</summary>
        internal void FlushSends()
        {
            if (nreq == 0)
                return;
            int n = nreq;
            Native.urk_send_batch(Raw, reqs, (uint)n);
            SendBatchCalls++;
            for (int i = 0; i < n; i++)
            {
                int rc = reqs[i].result;
                var c = reqConn[i];
                if (rc == -Errno.EAGAIN)
                {
                    reqs[i].flags |= UrkConst.URK_SEND_FORCE;
                    rc = Native.urk_send(Raw, reqs[i].conn, (void*)reqs[i].data, reqs[i].len, reqs[i].flags, reqs[i].tag);
                    if (rc == 0)
                        c.Blocked = true;
                }
                if (rc < 0)
                {
                    if (reqBlock[i] != null)
                        ReturnBlock(reqBlock[i]); // not queued: no SEND_DONE will come
                    c.OnSendFailed(rc);
                }
                reqConn[i] = null;
                reqBlock[i] = null;
            }
            nreq = 0;
            staged = 0;
        }

        // ------------------------------------------------------------ blocks

        internal NativeBlock RentBlock()
        {
            lock (blockGate)
            {
                if (freeBlocks.Count > 0)
                {
                    var f = freeBlocks.Pop();
                    if (freeBlocks.Count < minFreeSinceTrim)
                        minFreeSinceTrim = freeBlocks.Count;
                    return f;
                }
                minFreeSinceTrim = 0;
                int index = freeSlots.Count > 0 ? freeSlots.Pop() : blocks.Count;
                var b = new NativeBlock((byte*)NativeMemory.Alloc(BlockSize), BlockSize, index);
                if (index == blocks.Count)
                    blocks.Add(b);
                else
                    blocks[index] = b;
                liveBlocks++;
                return b;
            }
        }

        internal void ReturnBlock(NativeBlock b)
        {
            lock (blockGate)
                freeBlocks.Push(b);
        }

        /// <summary>On the loop, once per turn: at most once per interval, frees
        /// the free blocks over MaxFreeBlocks that no rent needed during the
        /// whole interval (the free list never went below them).</summary>
        void TrimBlocks()
        {
            long now = Environment.TickCount64;
            if (now < nextTrim)
                return;
            nextTrim = now + TrimIntervalMs;
            lock (blockGate)
            {
                int idle = Math.Min(minFreeSinceTrim, freeBlocks.Count - MaxFreeBlocks);
                for (int i = 0; i < idle; i++)
                {
                    // Nothing refers to it any more: the engine is done with it
                    // (SEND_DONE, or it was never queued) and the writer let go.
                    var b = freeBlocks.Pop();
                    blocks[b.Index] = null;
                    freeSlots.Push(b.Index);
                    liveBlocks--;
                    b.Free();
                }
                minFreeSinceTrim = freeBlocks.Count;
            }
        }

        void ReturnBlockByTag(ulong tag)
        {
            NativeBlock b = null;
            lock (blockGate)
                if (tag <= (ulong)blocks.Count)
                    b = blocks[(int)(tag - 1)];
            if (b != null)
                ReturnBlock(b);
        }

        /// <summary>After the engine is destroyed (nothing can send from them).</summary>
        internal void FreeBlocks()
        {
            lock (blockGate)
            {
                foreach (var b in blocks)
                    b?.Free();
                blocks.Clear();
                freeBlocks.Clear();
                freeSlots.Clear();
                liveBlocks = 0;
            }
            NativeMemory.Free(stage);
            NativeMemory.Free(reqs);
        }

        // ------------------------------------------------------------ receive buffers

        internal void AddRelease(uint buf)
        {
            if (exited)
                return; // the reactor is gone (or going) with its buffers: nothing to give back to
            if (nrelease == releases.Length)
                FlushReleases();
            releases[nrelease++] = buf;
        }

        void FlushReleases()
        {
            if (nrelease == 0 || exited)
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
            try { FlushSends(); } catch (Exception ex) { Server.ReportError(ex); }
            var gone = new ObjectDisposedException(nameof(UrkServer), "the server stopped");
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
    /// connection. Completion happens on the reactor thread; a continuation
    /// that asked for the reactor's own context is run inline rather than
    /// posted back to the same thread. With pool continuations
    /// (ServerOptions.UseReactorContext false) they are queued to the pool.</summary>
    sealed class OpSource<T> : IValueTaskSource<T>, IValueTaskSource
    {
        ManualResetValueTaskSourceCore<T> core;
        readonly ReactorLoop loop;

        public OpSource(ReactorLoop loop, bool async)
        {
            this.loop = loop;
            core.RunContinuationsAsynchronously = async;
        }

        public short Version { get { return core.Version; } }
        public void Reset() { core.Reset(); }
        public void SetResult(T value) { core.SetResult(value); }
        public void SetException(Exception e) { core.SetException(e); }

        // One operation at a time. The source is free again only once its
        // result was taken (GetResult), not when it is set: a caller that
        // started the next operation (Reset) before the previous awaiter (or
        // AsTask's continuation, on the pool) asked for the status would make
        // that awaiter throw on a stale token, unhandled, ending the process.
        int busy;
        public bool TryAcquire() { return Interlocked.Exchange(ref busy, 1) == 0; }
        /// <summary>For an operation that completed without handing out the source.</summary>
        public void Release() { Volatile.Write(ref busy, 0); }
        public bool Busy { get { return Volatile.Read(ref busy) != 0; } }

        public T GetResult(short token)
        {
            bool current = token == core.Version;
            try { return core.GetResult(token); }
            finally { if (current) Release(); }
        }
        void IValueTaskSource.GetResult(short token) { GetResult(token); }
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

    /// <summary>Native memory handed out by the PipeWriter and sent by the
    /// engine without a copy.</summary>
    sealed unsafe class NativeBlock : System.Buffers.MemoryManager<byte>
    {
        internal byte* Ptr;
        internal readonly int Size;
        internal readonly int Index;

        internal NativeBlock(byte* p, int size, int index) { Ptr = p; Size = size; Index = index; }

        public override Span<byte> GetSpan() { return new Span<byte>(Ptr, Size); }
        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) { return new System.Buffers.MemoryHandle(Ptr + elementIndex); }
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }

        internal void Free()
        {
            if (Ptr != null)
                NativeMemory.Free(Ptr);
            Ptr = null;
        }
    }
}

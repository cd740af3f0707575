// System.IO.Pipelines over a connection: Transport (IDuplexPipe) and AsStream.
//   * The PipeReader hands out the engine's receive buffers themselves as a
//     ReadOnlySequence<byte> (no copy); AdvanceTo gives every fully consumed
//     buffer back to the kernel. A reader that holds ServerOptions.
//     MaxHeldBuffers buffers unconsumed pauses receiving until it consumes.
//   * The PipeWriter hands out native blocks that the engine sends from
//     directly (URK_SEND_NOCOPY); a block comes back when its send is done.
//     FlushAsync completes when the connection is below its send limit.
// Both may be used from any thread; work that touches the reactor is queued
// to it (or done inline on the reactor thread).
using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.IO.Pipelines;
using System.Threading;
using System.Threading.Tasks;

namespace Urocket
{
    public sealed unsafe partial class Connection
    {
        ConnectionPipeReader pipeReader;
        ConnectionPipeWriter pipeWriter;
        DuplexPipe transport;
        internal bool inputCompleted, outputCompleted;

        /// <summary>The connection as a duplex pipe (System.IO.Pipelines):
        /// zero-copy reads from the engine's buffers, writes sent from the
        /// writer's own memory. Created on first use.</summary>
        public IDuplexPipe Transport
        {
            get
            {
                if (transport == null)
                {
                    var t = new DuplexPipe(new ConnectionPipeReader(this), new ConnectionPipeWriter(this));
                    if (Interlocked.CompareExchange(ref transport, t, null) == null)
                    {
                        pipeReader = (ConnectionPipeReader)t.Input;
                        pipeWriter = (ConnectionPipeWriter)t.Output;
                    }
                }
                return transport;
            }
        }

        /// <summary>The connection as a Stream (ReadAsync/WriteAsync/FlushAsync
        /// underneath). Disposing it disposes the connection. Synchronous
        /// Read/Write block the calling thread: never call them on a reactor thread.</summary>
        public Stream AsStream() { return new ConnectionStream(this); }

        internal void RunOnLoop(SendOrPostCallback what, object state)
        {
            if (Loop.OnLoopThread)
                what(state);
            else
                Loop.Post(what, state);
        }

        internal void InputDone()
        {
            inputCompleted = true;
            DropUnread();
            if (outputCompleted)
                DoClose(false);
        }

        internal void OutputDone(Exception error)
        {
            outputCompleted = true;
            DoClose(error != null);
        }

        sealed class DuplexPipe : IDuplexPipe
        {
            public DuplexPipe(PipeReader input, PipeWriter output) { Input = input; Output = output; }
            public PipeReader Input { get; }
            public PipeWriter Output { get; }
        }
    }

    /// <summary>A ReadOnlySequence segment over one receive buffer (reused).</summary>
    sealed unsafe class ReadSegment : ReadOnlySequenceSegment<byte>
    {
        sealed class View : MemoryManager<byte>
        {
            public byte* Ptr;
            public int Len;
            public override Span<byte> GetSpan() { return new Span<byte>(Ptr, Len); }
            public override MemoryHandle Pin(int elementIndex = 0) { return new MemoryHandle(Ptr + elementIndex); }
            public override void Unpin() { }
            protected override void Dispose(bool disposing) { }
        }

        readonly View view = new View();

        internal void Set(IntPtr data, int len, long runningIndex)
        {
            view.Ptr = (byte*)data;
            view.Len = len;
            Memory = view.Memory;
            RunningIndex = runningIndex;
            Next = null;
        }

        internal void Link(ReadSegment next) { Next = next; }
    }

    sealed class ConnectionPipeReader : PipeReader
    {
        readonly Connection c;
        readonly OpSource<ReadResult> src;
        readonly List<ReadSegment> pool = new List<ReadSegment>();
        bool pending;           // ... and waits on the loop
        int cancelFlag;         // CancelPendingRead
        long examined;          // bytes from the head the reader has seen
        bool advancePending;    // AdvanceTo from another thread, not applied yet
        long advConsumed, advExamined;
        bool completed;
        CancellationTokenRegistration reg;

        internal ConnectionPipeReader(Connection c)
        {
            this.c = c;
            src = new OpSource<ReadResult>(c.Loop, !c.Loop.Server.Options.UseReactorContext);
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (completed)
                throw new InvalidOperationException("the PipeReader was completed");
            if (!src.TryAcquire())
                throw new InvalidOperationException("another ReadAsync is already pending on this PipeReader");
            if (cancellationToken.IsCancellationRequested)
            {
                src.Release();
                return ValueTask.FromCanceled<ReadResult>(cancellationToken);
            }
            src.Reset();
            short v = src.Version;
            if (c.Loop.OnLoopThread)
            {
                ApplyAdvance();
                if (TryResult(out ReadResult r, out Exception err))
                {
                    src.Release();
                    return err == null ? new ValueTask<ReadResult>(r) : ValueTask.FromException<ReadResult>(err);
                }
                pending = true;
            }
            else
            {
                c.Loop.Post(static s => { var pr = (ConnectionPipeReader)s; pr.ApplyAdvance(); pr.pending = true; pr.OnInput(); }, this);
            }
            if (cancellationToken.CanBeCanceled)
                reg = cancellationToken.UnsafeRegister(static (s, tok) =>
                {
                    var st = (Tuple<ConnectionPipeReader, short>)s;
                    st.Item1.c.Loop.Post(static x =>
                    {
                        var t = (Tuple<ConnectionPipeReader, short>)x;
                        t.Item1.CancelPending(t.Item2);
                    }, st);
                }, Tuple.Create(this, v));
            return new ValueTask<ReadResult>(src, v);
        }

        void CancelPending(short version)
        {
            if (!pending || src.Version != version)
                return; // that read completed already
            pending = false;
            reg = default;
            src.SetException(new OperationCanceledException());
        }

        public override bool TryRead(out ReadResult result)
        {
            result = default;
            if (!c.Loop.OnLoopThread || src.Busy)
                return false; // the buffers belong to the reactor thread
            ApplyAdvance();
            if (!TryResult(out result, out Exception err))
                return false;
            if (err != null)
                throw err;
            return true;
        }

        /// <summary>On the loop: the result if there is news for the reader.</summary>
        bool TryResult(out ReadResult r, out Exception err)
        {
            err = null;
            r = default;
            if (Interlocked.Exchange(ref cancelFlag, 0) == 1)
            {
                r = new ReadResult(Build(), true, false);
                return true;
            }
            if (c.StoppedError != null)
            {
                r = new ReadResult(ReadOnlySequence<byte>.Empty, false, true);
                return true;
            }
            long avail = c.BufferedBytes;
            if (avail > examined)
            {
                r = new ReadResult(Build(), false, c.Eof || c.Closed && c.CloseReason >= 0);
                return true;
            }
            if (c.Eof)
            {
                r = new ReadResult(Build(), false, true);
                return true;
            }
            if (c.Closed)
            {
                if (c.CloseReason < 0)
                    err = UrkException.From(c.CloseReason, "recv");
                else
                    r = new ReadResult(Build(), false, true);
                return true;
            }
            return false;
        }

        ReadOnlySequence<byte> Build()
        {
            int n = c.BufferedSegments;
            if (n == 0)
                return ReadOnlySequence<byte>.Empty;
            while (pool.Count < n)
                pool.Add(new ReadSegment());
            long running = 0;
            ReadSegment prev = null;
            for (int i = 0; i < n; i++)
            {
                c.GetSegment(i, out IntPtr data, out int len);
                var s = pool[i];
                s.Set(data, len, running);
                running += len;
                prev?.Link(s);
                prev = s;
            }
            return new ReadOnlySequence<byte>(pool[0], 0, prev, prev.Memory.Length);
        }

        /// <summary>On the loop, when data, a close or the stop arrives.</summary>
        internal void OnInput()
        {
            if (!pending)
                return;
            if (!TryResult(out ReadResult r, out Exception err))
                return;
            pending = false;
            reg.Dispose();
            reg = default;
            if (err != null)
                src.SetException(err);
            else
                src.SetResult(r);
        }

        static long Offset(SequencePosition p)
        {
            var seg = p.GetObject() as ReadSegment;
            return seg == null ? 0 : seg.RunningIndex + p.GetInteger();
        }

        public override void AdvanceTo(SequencePosition consumed) { AdvanceTo(consumed, consumed); }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examinedPos)
        {
            long cons = Offset(consumed), exam = Offset(examinedPos);
            if (exam < cons)
                throw new InvalidOperationException("examined must not be before consumed");
            advConsumed = cons;
            advExamined = exam;
            advancePending = true;
            if (c.Loop.OnLoopThread)
                ApplyAdvance();
            else
                c.Loop.Post(static s => ((ConnectionPipeReader)s).ApplyAdvance(), this);
        }

        void ApplyAdvance()
        {
            if (!advancePending)
                return;
            advancePending = false;
            if (c.StoppedError == null)
                c.Consume(advConsumed); // fully consumed buffers go back to the kernel
            examined = advExamined - advConsumed;
        }

        public override void CancelPendingRead()
        {
            Volatile.Write(ref cancelFlag, 1);
            c.Loop.Post(static s => ((ConnectionPipeReader)s).OnInput(), this);
        }

        public override void Complete(Exception exception = null)
        {
            if (completed)
                return;
            completed = true;
            c.RunOnLoop(static s => { var pr = (ConnectionPipeReader)s; pr.ApplyAdvance(); pr.c.InputDone(); }, this);
        }
    }

    sealed unsafe class ConnectionPipeWriter : PipeWriter
    {
        readonly Connection c;
        readonly OpSource<FlushResult> src;
        readonly object gate = new object();
        NativeBlock cur;
        int curUsed;
        byte[] big;             // a GetMemory larger than a block: copied on flush
        int bigUsed;
        readonly List<KeyValuePair<NativeBlock, int>> filled = new List<KeyValuePair<NativeBlock, int>>();
        readonly List<KeyValuePair<NativeBlock, int>> submitting = new List<KeyValuePair<NativeBlock, int>>();
        long unflushed;
        bool pending;
        int cancelFlag;
        bool completed;
        CancellationTokenRegistration reg;

        internal ConnectionPipeWriter(Connection c)
        {
            this.c = c;
            src = new OpSource<FlushResult>(c.Loop, !c.Loop.Server.Options.UseReactorContext);
        }

        public override bool CanGetUnflushedBytes { get { return true; } }
        public override long UnflushedBytes { get { return unflushed; } }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            if (completed)
                throw new InvalidOperationException("the PipeWriter was completed");
            if (sizeHint < 0)
                throw new ArgumentOutOfRangeException(nameof(sizeHint));
            lock (gate)
            {
                if (sizeHint > ReactorLoop.BlockSize)
                {
                    // Larger than a block: a managed buffer, copied into the engine on flush.
                    CloseBlock();
                    FlushBig();
                    big = ArrayPool<byte>.Shared.Rent(sizeHint);
                    bigUsed = 0;
                    return big;
                }
                if (big != null)
                    return big.AsMemory(bigUsed);
                if (cur != null && ReactorLoop.BlockSize - curUsed < Math.Max(sizeHint, 1))
                    CloseBlock();
                if (cur == null)
                {
                    cur = c.Loop.RentBlock();
                    curUsed = 0;
                }
                return cur.Memory.Slice(curUsed);
            }
        }

        public override Span<byte> GetSpan(int sizeHint = 0) { return GetMemory(sizeHint).Span; }

        public override void Advance(int bytes)
        {
            lock (gate)
            {
                if (big != null)
                {
                    if (bytes < 0 || bigUsed + bytes > big.Length)
                        throw new ArgumentOutOfRangeException(nameof(bytes));
                    bigUsed += bytes;
                    unflushed += bytes;
                    return;
                }
                if (bytes < 0 || cur == null && bytes > 0 || cur != null && curUsed + bytes > ReactorLoop.BlockSize)
                    throw new ArgumentOutOfRangeException(nameof(bytes));
                curUsed += bytes;
                unflushed += bytes;
                if (cur != null && curUsed == ReactorLoop.BlockSize)
                    CloseBlock();
            }
        }

        void CloseBlock()
        {
            if (cur == null)
                return;
            if (curUsed > 0)
                filled.Add(new KeyValuePair<NativeBlock, int>(cur, curUsed));
            else
                c.Loop.ReturnBlock(cur);
            cur = null;
            curUsed = 0;
        }

        // Bytes of a big buffer are copied into a block-sized run of blocks so
        // that everything keeps its order in `filled`.
        void FlushBig()
        {
            if (big == null)
                return;
            byte[] b = big;
            int n = bigUsed;
            big = null;
            bigUsed = 0;
            int off = 0;
            while (off < n)
            {
                var blk = c.Loop.RentBlock();
                int take = Math.Min(ReactorLoop.BlockSize, n - off);
                b.AsSpan(off, take).CopyTo(new Span<byte>(blk.Ptr, take));
                filled.Add(new KeyValuePair<NativeBlock, int>(blk, take));
                off += take;
            }
            ArrayPool<byte>.Shared.Return(b);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (!src.TryAcquire())
                throw new InvalidOperationException("another FlushAsync is already pending on this PipeWriter");
            if (cancellationToken.IsCancellationRequested)
            {
                src.Release();
                return ValueTask.FromCanceled<FlushResult>(cancellationToken);
            }
            lock (gate)
            {
                CloseBlock();
                FlushBig();
                submitting.AddRange(filled);
                filled.Clear();
                unflushed = 0;
            }
            src.Reset();
            short v = src.Version;
            if (c.Loop.OnLoopThread)
            {
                Submit();
                c.Loop.FlushSends(); // a flush asks where the send limit stands: hand over now
                if (TryResult(out FlushResult r, out Exception err))
                {
                    src.Release();
                    return err == null ? new ValueTask<FlushResult>(r) : ValueTask.FromException<FlushResult>(err);
                }
                pending = true;
            }
            else
            {
                c.Loop.Post(static s =>
                {
                    var pw = (ConnectionPipeWriter)s;
                    pw.Submit();
                    pw.c.Loop.FlushSends();
                    pw.pending = true;
                    pw.OnWritable();
                }, this);
            }
            if (cancellationToken.CanBeCanceled)
                reg = cancellationToken.UnsafeRegister(static (s, tok) =>
                {
                    var st = (Tuple<ConnectionPipeWriter, short>)s;
                    st.Item1.c.Loop.Post(static x =>
                    {
                        var t = (Tuple<ConnectionPipeWriter, short>)x;
                        t.Item1.CancelPending(t.Item2);
                    }, st);
                }, Tuple.Create(this, v));
            return new ValueTask<FlushResult>(src, v);
        }

        /// <summary>On the loop: hands the flushed blocks to this turn's send batch.</summary>
        void Submit()
        {
            lock (gate)
            {
                bool dead = c.CurrentWriteError != null;
                foreach (var kv in submitting)
                {
                    if (dead)
                        c.Loop.ReturnBlock(kv.Key);
                    else
                        c.Loop.StageBlock(c, kv.Key, kv.Value);
                }
                submitting.Clear();
            }
        }

        bool TryResult(out FlushResult r, out Exception err)
        {
            err = null;
            r = default;
            if (Interlocked.Exchange(ref cancelFlag, 0) == 1)
            {
                r = new FlushResult(true, false);
                return true;
            }
            if (c.StoppedError != null)
            {
                err = c.StoppedError;
                return true;
            }
            if (c.CurrentWriteError != null)
            {
                r = new FlushResult(false, true); // the peer (or we) closed: nobody reads any more
                return true;
            }
            if (c.Blocked)
                return false; // backpressure: over the send limit
            r = new FlushResult(false, false);
            return true;
        }

        void CancelPending(short version)
        {
            if (!pending || src.Version != version)
                return; // that flush completed already
            pending = false;
            reg = default;
            src.SetException(new OperationCanceledException());
        }

        /// <summary>On the loop: URK_EV_WRITABLE, a close or the stop.</summary>
        internal void OnWritable()
        {
            if (!pending)
                return;
            if (!TryResult(out FlushResult r, out Exception err))
                return;
            pending = false;
            reg.Dispose();
            reg = default;
            if (err != null)
                src.SetException(err);
            else
                src.SetResult(r);
        }

        public override void CancelPendingFlush()
        {
            Volatile.Write(ref cancelFlag, 1);
            c.Loop.Post(static s => ((ConnectionPipeWriter)s).OnWritable(), this);
        }

        /// <summary>Sends what was written, then closes the connection:
        /// gracefully (FIN after the data), or abortively with an exception.</summary>
        public override void Complete(Exception exception = null)
        {
            if (completed)
                return;
            completed = true;
            lock (gate)
            {
                CloseBlock();
                FlushBig();
                submitting.AddRange(filled);
                filled.Clear();
                unflushed = 0;
            }
            c.RunOnLoop(static s =>
            {
                var st = (Tuple<ConnectionPipeWriter, Exception>)s;
                st.Item1.Submit();
                st.Item1.c.OutputDone(st.Item2);
            }, Tuple.Create(this, exception));
        }
    }

    /// <summary>Connection.AsStream().</summary>
    sealed class ConnectionStream : Stream
    {
        readonly Connection c;
        internal ConnectionStream(Connection c) { this.c = c; }

        public override bool CanRead { get { return true; } }
        public override bool CanWrite { get { return true; } }
        public override bool CanSeek { get { return false; } }
        public override long Length { get { throw new NotSupportedException(); } }
        public override long Position { get { throw new NotSupportedException(); } set { throw new NotSupportedException(); } }
        public override long Seek(long offset, SeekOrigin origin) { throw new NotSupportedException(); }
        public override void SetLength(long value) { throw new NotSupportedException(); }

        void NotOnReactor()
        {
            if (c.Loop.OnLoopThread)
                throw new InvalidOperationException("a synchronous stream call on the reactor thread would block it: use the async methods");
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        { return c.ReadAsync(buffer, cancellationToken); }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        { return c.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask(); }
        public override int Read(byte[] buffer, int offset, int count)
        { NotOnReactor(); return c.ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult(); }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        { return c.WriteAsync(buffer, cancellationToken); }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        { return c.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask(); }
        public override void Write(byte[] buffer, int offset, int count)
        { NotOnReactor(); c.WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult(); }

        public override Task FlushAsync(CancellationToken cancellationToken) { return c.FlushAsync(cancellationToken).AsTask(); }
        public override void Flush() { NotOnReactor(); c.FlushAsync().AsTask().GetAwaiter().GetResult(); }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                c.Dispose();
            base.Dispose(disposing);
        }
    }
}

// One TCP connection of an UrkServer: reads (copying, or zero-copy through
// the PipeReader in ConnectionPipes.cs), staged writes, flush, close.
using System;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>
    /// One TCP connection of an <see cref="UrkServer"/>. Use one of three ways
    /// to read and write: ReadAsync/WriteAsync/FlushAsync, <see cref="Transport"/>
    /// (System.IO.Pipelines, zero-copy), or <see cref="AsStream"/>.
    /// </summary>
    /// <remarks>
    /// Exceptions: an operation after the server stopped throws
    /// ObjectDisposedException; a write to a connection the engine reported
    /// closed throws <see cref="StaleConnectionException"/>, to one we are
    /// closing <see cref="ConnectionClosingException"/>; a second read (or
    /// write, or flush) while one is pending throws InvalidOperationException;
    /// a cancelled operation throws OperationCanceledException; a connection
    /// the kernel failed (ECONNRESET, ...) throws <see cref="UrkException"/>
    /// from the next read.
    /// </remarks>
    public sealed unsafe partial class Connection : IDisposable
    {
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
        readonly int pauseAt, resumeAt;

        Segment[] segs;
        int segHead, segCount;
        bool paused;

        bool closed, closeRequested, eof;
        int closeReason;
        Exception stoppedError;
        int sendError;
        /// <summary>Over the send limit: writes wait for URK_EV_WRITABLE.</summary>
        internal bool Blocked;

        readonly OpSource<int> readSrc, writeSrc, flushSrc;
        bool readPending, writePending, flushPending;
        Memory<byte> readBuf;
        ReadOnlyMemory<byte> writeBuf;
        CancellationTokenRegistration readReg, writeReg, flushReg;

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
            pauseAt = loop.Server.Options.MaxHeldBuffers;
            resumeAt = Math.Max(1, pauseAt / 4);
            segs = new Segment[pauseAt * 2];
            bool async = !loop.Server.Options.UseReactorContext;
            readSrc = new OpSource<int>(loop, async);
            writeSrc = new OpSource<int>(loop, async);
            flushSrc = new OpSource<int>(loop, async);
        }

        /// <summary>The engine's connection id (urk_conn_t).</summary>
        public ulong Id { get { return id; } }
        public int ReactorIndex { get { return Loop.Reactor.Index; } }
        public IPEndPoint RemoteEndPoint { get { return Address.ToEndPoint(peer); } }
        /// <summary>True once the engine reported the connection closed.</summary>
        public bool IsClosed { get { return Volatile.Read(ref closed); } }

        internal bool Stopped { get { return Volatile.Read(ref stoppedError) != null; } }
        internal int BufferedSegments { get { return segCount; } }

        static Exception Busy(string what)
        {
            return new InvalidOperationException("another " + what + " is already pending on this connection");
        }

        // ------------------------------------------------------------ cancellation

        sealed class CancelState
        {
            public Connection Conn;
            public int Op; // 0 read, 1 write, 2 flush
            public short Version;
            public CancellationToken Token;
        }

        CancellationTokenRegistration Register(CancellationToken ct, int op, short version)
        {
            if (!ct.CanBeCanceled)
                return default;
            var st = new CancelState { Conn = this, Op = op, Version = version, Token = ct };
            return ct.UnsafeRegister(static s =>
            {
                var cs = (CancelState)s;
                cs.Conn.Loop.Post(static x => ((CancelState)x).Conn.Cancel((CancelState)x), cs);
            }, st);
        }

        void Cancel(CancelState cs)
        {
            var oce = new OperationCanceledException(cs.Token);
            switch (cs.Op)
            {
                case 0:
                    if (readPending && readSrc.Version == cs.Version)
                    {
                        readPending = false;
                        readBuf = default;
                        readSrc.SetException(oce);
                    }
                    break;
                case 1:
                    if (writePending && writeSrc.Version == cs.Version)
                    {
                        writePending = false; // nothing of it was queued
                        writeBuf = default;
                        writeSrc.SetException(oce);
                    }
                    break;
                default:
                    if (flushPending && flushSrc.Version == cs.Version)
                    {
                        flushPending = false;
                        flushSrc.SetException(oce);
                    }
                    break;
            }
        }

        // ------------------------------------------------------------ reading

        /// <summary>Reads up to buffer.Length bytes. Returns 0 at end of stream
        /// (the peer closed, we closed, or the server stopped); throws
        /// UrkException if the connection failed (e.g. ECONNRESET). A zero-byte
        /// read waits until data is available and returns 0 without consuming
        /// it (or 0 at the end of the stream).</summary>
        public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!readSrc.TryAcquire())
                throw Busy("ReadAsync");
            if (cancellationToken.IsCancellationRequested)
            {
                readSrc.Release();
                return ValueTask.FromCanceled<int>(cancellationToken);
            }
            if (Loop.OnLoopThread)
            {
                int n;
                Exception err;
                if (TryReadNow(buffer.Span, out n, out err))
                {
                    readSrc.Release();
                    return err == null ? new ValueTask<int>(n) : ValueTask.FromException<int>(err);
                }
                readBuf = buffer;
                readPending = true;
                readSrc.Reset();
                short ver = readSrc.Version;
                readReg = Register(cancellationToken, 0, ver);
                return new ValueTask<int>(readSrc, ver);
            }
            readSrc.Reset();
            readBuf = buffer;
            short v = readSrc.Version;
            Loop.Post(startRead, this);
            readReg = Register(cancellationToken, 0, v);
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
            if (stoppedError != null || eof)
                return true; // the server stopped, or the peer's FIN: end of stream
            if (closed)
            {
                if (closeReason < 0)
                    err = UrkException.From(closeReason, "recv");
                return true;
            }
            return false; // nothing yet: wait (a zero-byte read too)
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
            readReg.Dispose();
            readReg = default;
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
                    PopSegment();
            }
            return total;
        }

        /// <summary>Gives the head segment's buffer back and resumes receiving
        /// when the reader is down to resumeAt buffers.</summary>
        void PopSegment()
        {
            Loop.AddRelease(segs[segHead].Buf);
            segs[segHead] = default;
            segHead = (segHead + 1) % segs.Length;
            segCount--;
            if (paused && segCount <= resumeAt && !closed && stoppedError == null && !Loop.Exited)
            {
                paused = false;
                Native.urk_conn_pause_recv(Loop.Raw, id, 0);
            }
        }

        /// <summary>Consumes n bytes from the head (the PipeReader's AdvanceTo).</summary>
        internal void Consume(long n)
        {
            while (n > 0 && segCount > 0)
            {
                ref Segment s = ref segs[segHead];
                int take = (int)Math.Min(s.Len - s.Off, n);
                s.Off += take;
                n -= take;
                if (s.Off == s.Len)
                    PopSegment();
            }
        }

        internal long BufferedBytes
        {
            get
            {
                long total = 0;
                for (int i = 0; i < segCount; i++)
                {
                    ref Segment s = ref segs[(segHead + i) % segs.Length];
                    total += s.Len - s.Off;
                }
                return total;
            }
        }

        internal void GetSegment(int i, out IntPtr data, out int len)
        {
            ref Segment s = ref segs[(segHead + i) % segs.Length];
            data = s.Data + s.Off;
            len = s.Len - s.Off;
        }

        internal void OnData(IntPtr data, uint len, uint buf)
        {
            if (inputCompleted)
            {
                Loop.AddRelease(buf); // nobody will read it
                return;
            }
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
            if (!paused && segCount >= pauseAt && !closeRequested)
            {
                paused = true;
                Native.urk_conn_pause_recv(Loop.Raw, id, 1);
            }
            TryCompleteRead();
            pipeReader?.OnInput();
        }

        internal void DropUnread()
        {
            while (segCount > 0)
                PopSegment();
        }

        // ------------------------------------------------------------ writing

        Exception WriteError()
        {
            if (stoppedError != null)
                return stoppedError;
            if (Loop.Exited || Loop.Server.IsStopped)
                return new ObjectDisposedException(nameof(UrkServer), "the server stopped");
            if (sendError < 0)
                return UrkException.From(sendError, "urk_send");
            if (closed)
                return UrkException.From(-UrkConst.URK_ESTALE_ID, "urk_send");
            if (closeRequested)
                return UrkException.From(-UrkConst.URK_ECLOSING, "urk_send");
            return null;
        }

        /// <summary>Copies data for sending. Writes made during one loop turn
        /// reach the engine together (one urk_send_batch) before the reactor
        /// polls again; none asks the engine for a completion event. Completes
        /// at once unless the connection is over its send limit; then it
        /// completes once the peer has drained enough (backpressure). The
        /// caller may reuse data as soon as the returned task completes.</summary>
        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            if (!writeSrc.TryAcquire())
                throw Busy("WriteAsync");
            if (cancellationToken.IsCancellationRequested)
            {
                writeSrc.Release();
                return ValueTask.FromCanceled(cancellationToken);
            }
            if (data.Length == 0)
            {
                writeSrc.Release();
                return default(ValueTask);
            }
            if (Loop.OnLoopThread)
            {
                Exception err = WriteError();
                if (err == null && !Blocked)
                {
                    int rc = Loop.StageCopy(this, data.Span);
                    err = rc == 0 ? null : UrkException.From(rc, "urk_send");
                }
                else if (err == null)
                {
                    writeBuf = data;
                    writePending = true;
                    writeSrc.Reset();
                    short ver = writeSrc.Version;
                    writeReg = Register(cancellationToken, 1, ver);
                    return new ValueTask(writeSrc, ver);
                }
                writeSrc.Release();
                return err == null ? default(ValueTask) : ValueTask.FromException(err);
            }
            writeSrc.Reset();
            writeBuf = data;
            short v = writeSrc.Version;
            Loop.Post(startWrite, this);
            writeReg = Register(cancellationToken, 1, v);
            return new ValueTask(writeSrc, v);
        }

        static readonly SendOrPostCallback startWrite = s => ((Connection)s).StartWrite();

        void StartWrite()
        {
            if (writeBuf.Length == 0)
                return; // cancelled before it started
            Exception err = WriteError();
            if (err != null)
            {
                CompleteWrite(err);
                return;
            }
            if (Blocked)
            {
                writePending = true;
                return;
            }
            int rc = Loop.StageCopy(this, writeBuf.Span);
            CompleteWrite(rc == 0 ? null : UrkException.From(rc, "urk_send"));
        }

        void CompleteWrite(Exception err)
        {
            writePending = false;
            writeBuf = default(ReadOnlyMemory<byte>);
            writeReg.Dispose();
            writeReg = default;
            if (err != null)
                writeSrc.SetException(err);
            else
                writeSrc.SetResult(0);
        }

        internal void OnWritable()
        {
            Blocked = false;
            if (writePending)
            {
                Exception err = WriteError();
                int rc = err == null ? Loop.StageCopy(this, writeBuf.Span) : 0;
                CompleteWrite(err ?? (rc == 0 ? null : UrkException.From(rc, "urk_send")));
            }
            TryCompleteFlush();
            pipeWriter?.OnWritable();
        }

        /// <summary>A PipeWriter block was sent (or failed).</summary>
        internal void OnSendDone(int res)
        {
            if (res < 0 && sendError == 0)
                sendError = res;
        }

        /// <summary>From FlushSends: only records (no continuation may run
        /// while the batch is being processed).</summary>
        internal void OnSendFailed(int rc)
        {
            if (sendError == 0)
                sendError = rc;
        }

        // ------------------------------------------------------------ flushing

        /// <summary>Hands the writes staged so far to the engine at once and
        /// completes when the connection is below its send limit (in order:
        /// everything is sent before a graceful close's FIN); throws the error
        /// that stopped sending.</summary>
        public ValueTask FlushAsync(CancellationToken cancellationToken = default)
        {
            if (!flushSrc.TryAcquire())
                throw Busy("FlushAsync");
            if (cancellationToken.IsCancellationRequested)
            {
                flushSrc.Release();
                return ValueTask.FromCanceled(cancellationToken);
            }
            if (Loop.OnLoopThread)
            {
                Loop.FlushSends(); // hand staged writes over now: the limit is known only then
                Exception err;
                if (FlushDone(out err))
                {
                    flushSrc.Release();
                    return err == null ? default(ValueTask) : ValueTask.FromException(err);
                }
                flushPending = true;
                flushSrc.Reset();
                short ver = flushSrc.Version;
                flushReg = Register(cancellationToken, 2, ver);
                return new ValueTask(flushSrc, ver);
            }
            flushSrc.Reset();
            short v = flushSrc.Version;
            Loop.Post(startFlush, this);
            flushReg = Register(cancellationToken, 2, v);
            return new ValueTask(flushSrc, v);
        }

        static readonly SendOrPostCallback startFlush = s => ((Connection)s).StartFlush();

        void StartFlush()
        {
            Loop.FlushSends();
            flushPending = true;
            TryCompleteFlush();
        }

        bool FlushDone(out Exception err)
        {
            err = null;
            if (stoppedError != null || sendError < 0 || closed || Loop.Exited)
            {
                err = WriteError();
                return true;
            }
            return !Blocked && !writePending;
        }

        void TryCompleteFlush()
        {
            if (!flushPending)
                return;
            Exception err;
            if (!FlushDone(out err))
                return;
            flushPending = false;
            flushReg.Dispose();
            flushReg = default;
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

        /// <summary>Closes gracefully and gives unread receive buffers back
        /// (and any data that still arrives).</summary>
        public void Dispose() { Run(dispose); }

        /// <summary>Abort, and give unread receive buffers back: used when a handler faulted,
        /// since nothing will read them any more.</summary>
        internal void AbortAndRelease() { Run(abortAndRelease); }

        static readonly SendOrPostCallback abortAndRelease = s =>
        {
            var c = (Connection)s;
            c.inputCompleted = true; // DATA still in this poll batch goes straight back too
            c.DoClose(true);
            c.DropUnread();
        };
        static readonly SendOrPostCallback closeGraceful = s => ((Connection)s).DoClose(false);
        static readonly SendOrPostCallback closeAbort = s => ((Connection)s).DoClose(true);
        static readonly SendOrPostCallback dispose = s =>
        {
            var c = (Connection)s;
            // Nothing reads any more: DATA the engine delivers after the close
            // (the rest of the current poll batch) is released, not held forever.
            c.inputCompleted = true;
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
            Loop.FlushSends(); // staged writes go before the FIN
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
                CompleteWrite(WriteError());
            TryCompleteFlush();
            pipeReader?.OnInput();
            pipeWriter?.OnWritable();
            FireConnectionClosed();
        }

        /// <summary>The peer sent FIN (half-close): reads end, writes go on.</summary>
        internal void OnEof()
        {
            eof = true;
            TryCompleteRead();
            pipeReader?.OnInput();
            FireConnectionClosed();
        }

        internal bool Eof { get { return eof; } }

        internal void OnStopped(Exception gone)
        {
            Volatile.Write(ref stoppedError, gone);
            DropUnread();
            TryCompleteRead();
            if (writePending)
                CompleteWrite(gone);
            TryCompleteFlush();
            pipeReader?.OnInput();
            pipeWriter?.OnWritable();
            FireConnectionClosed();
        }

        internal Exception StoppedError { get { return stoppedError; } }
        internal bool Closed { get { return closed; } }
        internal int CloseReason { get { return closeReason; } }
        internal Exception CurrentWriteError { get { return WriteError(); } }
    }

    public static class ConnectionExtensions
    {
        /// <summary>WriteAsync then FlushAsync.</summary>
        public static async Task WriteAndFlushAsync(this Connection c, ReadOnlyMemory<byte> data,
                                                    CancellationToken cancellationToken = default)
        {
            await c.WriteAsync(data, cancellationToken);
            await c.FlushAsync(cancellationToken);
        }

        /// <summary>Reads exactly buffer.Length bytes; false if the stream ended first.</summary>
        public static async Task<bool> ReadExactlyAsync(this Connection c, Memory<byte> buffer,
                                                        CancellationToken cancellationToken = default)
        {
            int got = 0;
            while (got < buffer.Length)
            {
                int n = await c.ReadAsync(buffer.Slice(got), cancellationToken);
                if (n == 0)
                    return false;
                got += n;
            }
            return true;
        }
    }
}

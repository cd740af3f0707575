using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>Base of every handle: checked native calls while the handle is
    /// referenced, so a concurrent Dispose cannot free it under a call.</summary>
    public abstract class UrkHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        protected UrkHandle() : base(true) { }

        /// <summary>Takes a reference and returns the raw pointer; pair with Exit.</summary>
        protected internal IntPtr Enter(ref bool added)
        {
            DangerousAddRef(ref added);
            return handle;
        }

        protected internal void Exit(bool added)
        {
            if (added)
                DangerousRelease();
        }

        internal void Adopt(IntPtr raw) { SetHandle(raw); }

        /// <summary>The raw pointer, for callers of Urocket.Interop.Native who keep
        /// this object alive themselves.</summary>
        public IntPtr Raw { get { return handle; } }
    }

    /// <summary>Options of a ring (urk_ring_opts_t); unset values keep the library defaults.</summary>
    public sealed class RingOptions
    {
        public uint Flags;          // UrkConst.URK_RING_*
        public uint SqEntries;      // 0: default (256)
        public uint CqEntries;      // 0: default
        public uint SqpollIdleMs;   // 0: default
        public int SqpollCpu = -1;
    }

    /// <summary>An io_uring ring (urk_ring_t). Drive it from one thread.</summary>
    public sealed unsafe class Ring : UrkHandle
    {
        public Ring() { }

        public static Ring Create(RingOptions options = null)
        {
            Library.Initialize();
            var ring = new Ring();
            UrkRingOpts o;
            UrkException.Check(Native.urk_ring_opts_init(&o), "urk_ring_opts_init");
            if (options != null)
            {
                o.flags = options.Flags;
                if (options.SqEntries != 0) o.sq_entries = options.SqEntries;
                if (options.CqEntries != 0) o.cq_entries = options.CqEntries;
                if (options.SqpollIdleMs != 0) o.sqpoll_idle_ms = options.SqpollIdleMs;
                o.sqpoll_cpu = options.SqpollCpu;
            }
            IntPtr raw;
            UrkException.Check(Native.urk_ring_create(&o, &raw), "urk_ring_create");
            ring.Adopt(raw);
            return ring;
        }

        protected override bool ReleaseHandle()
        {
            Native.urk_ring_destroy(handle);
            return true;
        }

        int Call(int rc, string fn) { return UrkException.Check(rc, fn); }

        public void Enable()
        { bool a = false; try { Call(Native.urk_ring_enable(Enter(ref a)), "urk_ring_enable"); } finally { Exit(a); } }

        public int Fd
        { get { bool a = false; try { return Call(Native.urk_ring_fd(Enter(ref a)), "urk_ring_fd"); } finally { Exit(a); } } }

        public UrkRingInfo Info
        {
            get
            {
                bool a = false;
                try { UrkRingInfo i; Call(Native.urk_ring_info(Enter(ref a), &i), "urk_ring_info"); return i; }
                finally { Exit(a); }
            }
        }

        public UrkRingStats Stats
        {
            get
            {
                bool a = false;
                try { UrkRingStats s; Call(Native.urk_ring_stats(Enter(ref a), &s), "urk_ring_stats"); return s; }
                finally { Exit(a); }
            }
        }

        public void RegisterEventFd(int efd)
        { bool a = false; try { Call(Native.urk_ring_register_eventfd(Enter(ref a), efd), "urk_ring_register_eventfd"); } finally { Exit(a); } }

        public void UnregisterEventFd()
        { bool a = false; try { Call(Native.urk_ring_unregister_eventfd(Enter(ref a)), "urk_ring_unregister_eventfd"); } finally { Exit(a); } }

        // ---- operations: each queues one request; nothing reaches the kernel before Submit/Complete ----

        public void PrepAcceptMultishot(int listenFd, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_accept_multishot(Enter(ref a), listenFd, userData, flags), "urk_prep_accept_multishot"); } finally { Exit(a); } }

        public void PrepRecvMultishot(int fd, ushort groupId, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_recv_multishot(Enter(ref a), fd, groupId, userData, flags), "urk_prep_recv_multishot"); } finally { Exit(a); } }

        /// <summary>Single-shot recv into buf, which must stay valid (pinned or
        /// unmanaged) until the completion.</summary>
        public void PrepRecv(int fd, IntPtr buf, uint len, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_recv(Enter(ref a), fd, (void*)buf, len, userData, flags), "urk_prep_recv"); } finally { Exit(a); } }

        /// <summary>send(2) from buf, which must stay valid until the completion.</summary>
        public void PrepSend(int fd, IntPtr buf, uint len, uint msgFlags, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_send(Enter(ref a), fd, (void*)buf, len, msgFlags, userData, flags), "urk_prep_send"); } finally { Exit(a); } }

        /// <summary>sendmsg(2); iov and what it points to stay valid until the completion.</summary>
        public void PrepSendV(int fd, UrkIovec* iov, uint iovcnt, uint msgFlags, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_sendv(Enter(ref a), fd, iov, iovcnt, msgFlags, userData, flags), "urk_prep_sendv"); } finally { Exit(a); } }

        public void PrepConnect(int fd, UrkAddr addr, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_connect(Enter(ref a), fd, &addr, userData, flags), "urk_prep_connect"); } finally { Exit(a); } }

        public void PrepClose(int fd, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_close(Enter(ref a), fd, userData, flags), "urk_prep_close"); } finally { Exit(a); } }

        public void PrepShutdown(int fd, int how, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_shutdown(Enter(ref a), fd, how, userData, flags), "urk_prep_shutdown"); } finally { Exit(a); } }

        public void PrepCancel(ulong targetUserData, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_cancel(Enter(ref a), targetUserData, userData, flags), "urk_prep_cancel"); } finally { Exit(a); } }

        public void PrepCancelFd(int fd, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_cancel_fd(Enter(ref a), fd, userData, flags), "urk_prep_cancel_fd"); } finally { Exit(a); } }

        public void PrepTimeout(ulong timeoutNs, uint count, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_timeout(Enter(ref a), timeoutNs, count, userData, flags), "urk_prep_timeout"); } finally { Exit(a); } }

        public void PrepMsgRing(int targetRingFd, int res, ulong targetUserData, ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_msg_ring(Enter(ref a), targetRingFd, res, targetUserData, userData, flags), "urk_prep_msg_ring"); } finally { Exit(a); } }

        public void PrepNop(ulong userData, uint flags = 0)
        { bool a = false; try { Call(Native.urk_prep_nop(Enter(ref a), userData, flags), "urk_prep_nop"); } finally { Exit(a); } }

        /// <summary>Hands queued ops to the kernel; returns how many.</summary>
        public int Submit()
        { bool a = false; try { return Call(Native.urk_ring_submit(Enter(ref a)), "urk_ring_submit"); } finally { Exit(a); } }

        /// <summary>Submits, waits for minComplete completions or timeoutNs
        /// (negative: no limit), copies up to cqes.Length into cqes. Returns the count.</summary>
        public int Complete(UrkCqe[] cqes, uint minComplete, long timeoutNs)
        {
            if (cqes == null || cqes.Length == 0)
                throw new ArgumentException("cqes must have room for one completion", "cqes");
            bool a = false;
            try
            {
                fixed (UrkCqe* p = cqes)
                    return Call(Native.urk_ring_complete(Enter(ref a), p, (uint)cqes.Length, minComplete, timeoutNs),
                                "urk_ring_complete");
            }
            finally { Exit(a); }
        }
    }

    /// <summary>Options of a provided-buffer ring.</summary>
    public sealed class BufRingOptions
    {
        public uint Flags;       // UrkConst.URK_BUFRING_*
        public uint Count = 64;  // power of two
        public uint Size = 4096;
        public ushort GroupId;
    }

    /// <summary>A provided-buffer ring (urk_bufring_t). It keeps its Ring alive:
    /// the ring is destroyed only after every buffer ring on it.</summary>
    public sealed unsafe class BufRing : UrkHandle
    {
        Ring ring;
        bool ringRef;

        public BufRing() { }

        public static BufRing Create(Ring ring, BufRingOptions options)
        {
            if (ring == null) throw new ArgumentNullException("ring");
            if (options == null) throw new ArgumentNullException("options");
            UrkBufRingOpts o;
            UrkException.Check(Native.urk_bufring_opts_init(&o), "urk_bufring_opts_init");
            o.flags = options.Flags;
            o.count = options.Count;
            o.size = options.Size;
            o.group_id = options.GroupId;
            var br = new BufRing();
            bool added = false;
            IntPtr r = ring.Enter(ref added);
            try
            {
                IntPtr raw;
                UrkException.Check(Native.urk_bufring_create(r, &o, &raw), "urk_bufring_create");
                br.ring = ring;
                br.ringRef = true;
                br.Adopt(raw);
                added = false; // the buffer ring now owns this reference
                return br;
            }
            finally { ring.Exit(added); }
        }

        protected override bool ReleaseHandle()
        {
            Native.urk_bufring_destroy(handle);
            if (ringRef)
                ring.DangerousRelease();
            return true;
        }

        /// <summary>Start of buffer bid.</summary>
        public IntPtr Buffer(uint bid)
        {
            bool a = false;
            try { IntPtr p; UrkException.Check(Native.urk_bufring_buf(Enter(ref a), bid, &p), "urk_bufring_buf"); return p; }
            finally { Exit(a); }
        }

        /// <summary>Copies the data of a buffer completion into a new array.</summary>
        public static byte[] Copy(UrkCqe cqe)
        {
            var data = new byte[cqe.buf_len];
            if (cqe.buf_len > 0)
                Marshal.Copy(cqe.buf, data, 0, (int)cqe.buf_len);
            return data;
        }

        public int Recycle(params ushort[] bids)
        {
            if (bids == null) throw new ArgumentNullException("bids");
            bool a = false;
            try
            {
                fixed (ushort* p = bids)
                    return UrkException.Check(Native.urk_bufring_recycle(Enter(ref a), p, (uint)bids.Length), "urk_bufring_recycle");
            }
            finally { Exit(a); }
        }

        public int Available
        { get { bool a = false; try { return UrkException.Check(Native.urk_bufring_available(Enter(ref a)), "urk_bufring_available"); } finally { Exit(a); } } }

        public int Group
        { get { bool a = false; try { return UrkException.Check(Native.urk_bufring_group(Enter(ref a)), "urk_bufring_group"); } finally { Exit(a); } } }
    }
}

use crate::addr::Addr;
use crate::error::{check, Error, Result};
use crate::sys;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

/// Options of a ring; zero keeps the library's default.
#[derive(Debug, Clone, Default)]
pub struct RingOptions {
    /// `sys::URK_RING_*`
    pub flags: u32,
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub sqpoll_idle_ms: u32,
    /// CPU of the SQPOLL thread; None: any.
    pub sqpoll_cpu: Option<i32>,
}

pub type RingInfo = sys::urk_ring_info_t;
pub type RingStats = sys::urk_ring_stats_t;

/// A completion (`urk_cqe_t`).
pub type Cqe = sys::urk_cqe_t;

impl Cqe {
    /// True when the multishot op that posted this goes on.
    pub fn more(&self) -> bool {
        self.flags & sys::URK_CQE_F_MORE != 0
    }
    /// The provided buffer of this completion, if any.
    pub fn buffer_id(&self) -> Option<u16> {
        (self.flags & sys::URK_CQE_F_BUFFER != 0).then_some(self.buf_id)
    }
    /// `res` as a Result.
    pub fn result(&self) -> Result<u32> {
        check(self.res)
    }
}

/// An io_uring ring (`urk_ring_t`), destroyed on drop with every pending op.
/// Not `Send`: drive it from the thread that made it.
pub struct Ring {
    ptr: NonNull<sys::urk_ring_t>,
}

impl Ring {
    pub fn new(opts: &RingOptions) -> Result<Ring> {
        crate::check_abi()?;
        let mut o = sys::urk_ring_opts_t::zeroed();
        // SAFETY: o is a valid out pointer.
        check(unsafe { sys::urk_ring_opts_init(&mut o) })?;
        o.flags = opts.flags;
        if opts.sq_entries != 0 {
            o.sq_entries = opts.sq_entries;
        }
        if opts.cq_entries != 0 {
            o.cq_entries = opts.cq_entries;
        }
        if opts.sqpoll_idle_ms != 0 {
            o.sqpoll_idle_ms = opts.sqpoll_idle_ms;
        }
        o.sqpoll_cpu = opts.sqpoll_cpu.unwrap_or(-1);
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid options and out pointer.
        check(unsafe { sys::urk_ring_create(&o, &mut raw) })?;
        Ok(Ring {
            ptr: NonNull::new(raw).expect("urk_ring_create returned 0 and NULL"),
        })
    }

    pub fn with_defaults() -> Result<Ring> {
        Ring::new(&RingOptions::default())
    }

    /// The raw handle, for calls through [`sys`].
    pub fn as_ptr(&self) -> *mut sys::urk_ring_t {
        self.ptr.as_ptr()
    }

    fn call(&self, rc: i32) -> Result<u32> {
        check(rc)
    }

    pub fn enable(&self) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_ring_enable(self.as_ptr()) })
            .map(drop)
    }

    pub fn fd(&self) -> Result<i32> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_ring_fd(self.as_ptr()) })
            .map(|fd| fd as i32)
    }

    pub fn info(&self) -> Result<RingInfo> {
        let mut i = RingInfo::zeroed();
        // SAFETY: live handle, valid out pointer.
        self.call(unsafe { sys::urk_ring_info(self.as_ptr(), &mut i) })?;
        Ok(i)
    }

    pub fn stats(&self) -> Result<RingStats> {
        let mut s = RingStats::zeroed();
        // SAFETY: live handle, valid out pointer.
        self.call(unsafe { sys::urk_ring_stats(self.as_ptr(), &mut s) })?;
        Ok(s)
    }

    pub fn register_eventfd(&self, efd: i32) -> Result<()> {
        // SAFETY: live handle; a bad fd is an error code.
        self.call(unsafe { sys::urk_ring_register_eventfd(self.as_ptr(), efd) })
            .map(drop)
    }

    pub fn unregister_eventfd(&self) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_ring_unregister_eventfd(self.as_ptr()) })
            .map(drop)
    }

    // ---- operations whose memory the library copies or owns: safe ----

    pub fn prep_accept_multishot(&self, listen_fd: i32, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle; no caller memory.
        self.call(unsafe {
            sys::urk_prep_accept_multishot(self.as_ptr(), listen_fd, user_data, flags)
        })
        .map(drop)
    }

    pub fn prep_recv_multishot(
        &self,
        fd: i32,
        group_id: u16,
        user_data: u64,
        flags: u32,
    ) -> Result<()> {
        // SAFETY: live handle; buffers come from a buffer ring of this ring.
        self.call(unsafe {
            sys::urk_prep_recv_multishot(self.as_ptr(), fd, group_id, user_data, flags)
        })
        .map(drop)
    }

    /// connect(2); the address is copied.
    pub fn prep_connect(&self, fd: i32, addr: &Addr, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle; the library copies addr.
        self.call(unsafe { sys::urk_prep_connect(self.as_ptr(), fd, &addr.0, user_data, flags) })
            .map(drop)
    }

    pub fn prep_close(&self, fd: i32, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_prep_close(self.as_ptr(), fd, user_data, flags) })
            .map(drop)
    }

    pub fn prep_shutdown(&self, fd: i32, how: i32, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_prep_shutdown(self.as_ptr(), fd, how, user_data, flags) })
            .map(drop)
    }

    pub fn prep_cancel(&self, target_user_data: u64, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe {
            sys::urk_prep_cancel(self.as_ptr(), target_user_data, user_data, flags)
        })
        .map(drop)
    }

    pub fn prep_cancel_fd(&self, fd: i32, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_prep_cancel_fd(self.as_ptr(), fd, user_data, flags) })
            .map(drop)
    }

    /// Completes with -ETIME after `timeout`, or with 0 after `count` other completions.
    pub fn prep_timeout(
        &self,
        timeout: Duration,
        count: u32,
        user_data: u64,
        flags: u32,
    ) -> Result<()> {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: live handle; the timeout is copied.
        self.call(unsafe { sys::urk_prep_timeout(self.as_ptr(), ns, count, user_data, flags) })
            .map(drop)
    }

    pub fn prep_msg_ring(
        &self,
        target_ring_fd: i32,
        res: i32,
        target_user_data: u64,
        user_data: u64,
        flags: u32,
    ) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe {
            sys::urk_prep_msg_ring(
                self.as_ptr(),
                target_ring_fd,
                res,
                target_user_data,
                user_data,
                flags,
            )
        })
        .map(drop)
    }

    pub fn prep_nop(&self, user_data: u64, flags: u32) -> Result<()> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_prep_nop(self.as_ptr(), user_data, flags) })
            .map(drop)
    }

    // ---- operations on caller memory: the kernel uses it until the completion ----

    /// Single-shot recv into `buf`.
    ///
    /// # Safety
    /// `buf` must stay valid and untouched until this op's completion.
    pub unsafe fn prep_recv(
        &self,
        fd: i32,
        buf: *mut u8,
        len: u32,
        user_data: u64,
        flags: u32,
    ) -> Result<()> {
        // SAFETY: the caller keeps buf alive until the completion.
        self.call(unsafe {
            sys::urk_prep_recv(self.as_ptr(), fd, buf.cast(), len, user_data, flags)
        })
        .map(drop)
    }

    /// send(2) from `buf`.
    ///
    /// # Safety
    /// `buf` must stay valid until this op's completion.
    pub unsafe fn prep_send(
        &self,
        fd: i32,
        buf: *const u8,
        len: u32,
        msg_flags: u32,
        user_data: u64,
        flags: u32,
    ) -> Result<()> {
        // SAFETY: the caller keeps buf alive until the completion.
        self.call(unsafe {
            sys::urk_prep_send(
                self.as_ptr(),
                fd,
                buf.cast(),
                len,
                msg_flags,
                user_data,
                flags,
            )
        })
        .map(drop)
    }

    /// sendmsg(2) from an iovec array.
    ///
    /// # Safety
    /// The array and the memory it points to must stay valid until the completion.
    pub unsafe fn prep_sendv(
        &self,
        fd: i32,
        iov: *const sys::urk_iovec_t,
        iovcnt: u32,
        msg_flags: u32,
        user_data: u64,
        flags: u32,
    ) -> Result<()> {
        // SAFETY: the caller keeps iov alive until the completion.
        self.call(unsafe {
            sys::urk_prep_sendv(self.as_ptr(), fd, iov, iovcnt, msg_flags, user_data, flags)
        })
        .map(drop)
    }

    /// Hands queued ops to the kernel; returns how many.
    pub fn submit(&self) -> Result<u32> {
        // SAFETY: live handle.
        self.call(unsafe { sys::urk_ring_submit(self.as_ptr()) })
    }

    /// Submits, waits for `min_complete` completions or `timeout` (None: no
    /// limit), and returns the completions copied into `out`.
    pub fn complete<'a>(
        &self,
        out: &'a mut [Cqe],
        min_complete: u32,
        timeout: Option<Duration>,
    ) -> Result<&'a [Cqe]> {
        if out.is_empty() {
            return Err(Error::from_code(-22));
        }
        let ns = timeout
            .map(|t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(-1);
        let max = u32::try_from(out.len()).unwrap_or(u32::MAX);
        // SAFETY: out has room for max completions.
        let n = self.call(unsafe {
            sys::urk_ring_complete(self.as_ptr(), out.as_mut_ptr(), max, min_complete, ns)
        })?;
        Ok(&out[..n as usize])
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: we own the handle; every BufRing borrowing it is gone.
        unsafe { sys::urk_ring_destroy(self.as_ptr()) }
    }
}

/// Options of a provided-buffer ring.
#[derive(Debug, Clone)]
pub struct BufRingOptions {
    /// `sys::URK_BUFRING_*`
    pub flags: u32,
    /// Power of two.
    pub count: u32,
    pub size: u32,
    pub group_id: u16,
}

impl Default for BufRingOptions {
    fn default() -> Self {
        BufRingOptions {
            flags: 0,
            count: 64,
            size: 4096,
            group_id: 0,
        }
    }
}

/// A provided-buffer ring (`urk_bufring_t`). It borrows its ring, so it is
/// destroyed first. Data read through [`BufRing::data`] borrows it, and
/// recycling needs `&mut`, so no slice outlives its buffer's recycling.
pub struct BufRing<'r> {
    ptr: NonNull<sys::urk_bufring_t>,
    size: u32,
    count: u32,
    _ring: PhantomData<&'r Ring>,
}

impl<'r> BufRing<'r> {
    pub fn new(ring: &'r Ring, opts: &BufRingOptions) -> Result<BufRing<'r>> {
        let mut o = sys::urk_bufring_opts_t::zeroed();
        // SAFETY: valid out pointer.
        check(unsafe { sys::urk_bufring_opts_init(&mut o) })?;
        o.flags = opts.flags;
        o.count = opts.count;
        o.size = opts.size;
        o.group_id = opts.group_id;
        let mut raw = std::ptr::null_mut();
        // SAFETY: live ring, valid options and out pointer.
        check(unsafe { sys::urk_bufring_create(ring.as_ptr(), &o, &mut raw) })?;
        Ok(BufRing {
            ptr: NonNull::new(raw).expect("urk_bufring_create returned 0 and NULL"),
            size: opts.size,
            count: opts.count,
            _ring: PhantomData,
        })
    }

    pub fn as_ptr(&self) -> *mut sys::urk_bufring_t {
        self.ptr.as_ptr()
    }

    pub fn group(&self) -> Result<u16> {
        // SAFETY: live handle.
        check(unsafe { sys::urk_bufring_group(self.as_ptr()) }).map(|g| g as u16)
    }

    /// Buffers the kernel can fill now.
    pub fn available(&self) -> Result<u32> {
        // SAFETY: live handle.
        check(unsafe { sys::urk_bufring_available(self.as_ptr()) })
    }

    /// The bytes a buffer completion of this ring delivered. None if cqe
    /// carries no buffer of this ring, or does not lie inside it.
    pub fn data(&self, cqe: &Cqe) -> Option<&[u8]> {
        let bid = cqe.buffer_id()?;
        if cqe.buf_group != self.group().ok()? || u32::from(bid) >= self.count {
            return None;
        }
        let mut start = std::ptr::null_mut();
        // SAFETY: live handle; bid checked above; valid out pointer.
        if unsafe { sys::urk_bufring_buf(self.as_ptr(), u32::from(bid), &mut start) } < 0 {
            return None;
        }
        // Never trust cqe.buf blindly (a Cqe is plain data anyone can build):
        // the slice must lie inside buffer bid.
        let start = start as usize;
        let at = cqe.buf as usize;
        let end = at.checked_add(cqe.buf_len as usize)?;
        if at < start || end > start + self.size as usize {
            return None;
        }
        // SAFETY: inside buffer bid, which stays mapped while self lives, and
        // cannot be recycled while this borrow lives (recycle takes &mut self).
        Some(unsafe { std::slice::from_raw_parts(cqe.buf as *const u8, cqe.buf_len as usize) })
    }

    /// Gives buffers back to the kernel. Each must be held by the caller
    /// (delivered and not yet recycled), else nothing is recycled.
    pub fn recycle(&mut self, bids: &[u16]) -> Result<u32> {
        let n = u32::try_from(bids.len()).map_err(|_| Error::from_code(-22))?;
        // SAFETY: live handle; bids has n entries.
        check(unsafe { sys::urk_bufring_recycle(self.as_ptr(), bids.as_ptr(), n) })
    }
}

impl Drop for BufRing<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the handle and its ring is still alive (borrowed).
        unsafe { sys::urk_bufring_destroy(self.as_ptr()) }
    }
}

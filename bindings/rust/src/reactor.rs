use crate::addr::Addr;
use crate::engine::{close_reason, send_result, CloseReason, ConnId, Inner, ReactorStats, Slot};
use crate::error::{check, Error, Result};
use crate::sys;
use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Flags of [`Reactor::send_with`]. There is no NOCOPY here: the safe layer
/// always lets the library copy (zero-copy sends are in [`sys`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SendFlags {
    /// Post [`Event::SendDone`](crate::Event::SendDone) with the tag once sent.
    pub notify: bool,
    /// Queue even over the send limit (the caller bounds memory).
    pub force: bool,
}

/// Batch size of a new [`Reactor`] (see [`Reactor::set_batch_size`]).
pub const DEFAULT_BATCH: usize = 256;

/// `timeout` in whole milliseconds for the library, rounded up like mio so
/// a sub-millisecond wait does not become a busy poll. None: no limit.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    }
}

pub(crate) fn std_addr(a: &Addr) -> SocketAddr {
    a.to_socket_addr()
        .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

// Methods of a connection, shared by the pull-mode handle and the native
// callbacks' view; `self.call(|r| rc)` runs one library call on the reactor.
macro_rules! conn_methods {
    () => {
        /// Queues a copy of `data` for `conn`, in order.
        /// [`crate::ErrorKind::WouldBlock`] when over the send limit (nothing
        /// queued; [`Event::Writable`](crate::Event::Writable) follows).
        pub fn send(&self, conn: ConnId, data: &[u8]) -> Result<()> {
            self.send_with(conn, data, SendFlags::default(), 0)
        }

        pub fn send_with(
            &self,
            conn: ConnId,
            data: &[u8],
            flags: SendFlags,
            tag: u64,
        ) -> Result<()> {
            let len = u32::try_from(data.len()).map_err(|_| Error::from_code(-22))?;
            let mut f = 0;
            if flags.notify {
                f |= sys::URK_SEND_NOTIFY;
            }
            if flags.force {
                f |= sys::URK_SEND_FORCE;
            }
            // SAFETY: live reactor; without NOCOPY the library copies data.
            self.call(|r| unsafe { sys::urk_send(r, conn.0, data.as_ptr().cast(), len, f, tag) })
                .map(drop)
        }

        /// Graceful close: queued sends finish, then FIN. [`Event::Closed`](crate::Event::Closed) follows.
        pub fn close(&self, conn: ConnId) -> Result<()> {
            // SAFETY: live reactor.
            self.call(|r| unsafe { sys::urk_close(r, conn.0, 0) })
                .map(drop)
        }

        /// Abortive close (RST); queued sends fail.
        pub fn abort(&self, conn: ConnId) -> Result<()> {
            // SAFETY: live reactor.
            self.call(|r| unsafe { sys::urk_close(r, conn.0, 1) })
                .map(drop)
        }

        /// Stops (true) or resumes (false) reading from `conn`: backpressure
        /// for a peer that sends faster than it reads.
        pub fn pause_recv(&self, conn: ConnId, pause: bool) -> Result<()> {
            // SAFETY: live reactor.
            self.call(|r| unsafe { sys::urk_conn_pause_recv(r, conn.0, pause as u32) })
                .map(drop)
        }

        /// FIN after queued sends; reading goes on.
        pub fn shutdown_write(&self, conn: ConnId) -> Result<()> {
            // SAFETY: live reactor.
            self.call(|r| unsafe { sys::urk_shutdown_write(r, conn.0) })
                .map(drop)
        }

        /// Opens an outgoing connection; [`Event::Open`](crate::Event::Open) (with `tag`) or
        /// [`Event::ConnectFailed`](crate::Event::ConnectFailed) follows.
        pub fn connect(&self, addr: SocketAddr, tag: u64) -> Result<ConnId> {
            let a = Addr::from(addr);
            let mut id = 0;
            // SAFETY: live reactor; a is read during the call; valid out pointer.
            self.call(|r| unsafe { sys::urk_reactor_connect(r, &a.0, tag, &mut id) })?;
            Ok(ConnId(id))
        }

        pub fn peer(&self, conn: ConnId) -> Result<SocketAddr> {
            let mut a = sys::urk_addr_t::zeroed();
            // SAFETY: live reactor, valid out pointer.
            self.call(|r| unsafe { sys::urk_conn_peer(r, conn.0, &mut a) })?;
            Ok(std_addr(&Addr(a)))
        }

        /// A value echoed in the `user` of the connection's later events.
        pub fn set_user(&self, conn: ConnId, user: u64) -> Result<()> {
            // SAFETY: live reactor.
            self.call(|r| unsafe { sys::urk_conn_set_user(r, conn.0, user) })
                .map(drop)
        }

        pub fn user(&self, conn: ConnId) -> Result<u64> {
            let mut u = 0;
            // SAFETY: live reactor, valid out pointer.
            self.call(|r| unsafe { sys::urk_conn_user(r, conn.0, &mut u) })?;
            Ok(u)
        }

        /// Hands queued sends and closes to the kernel now; returns how many.
        /// For a host event loop that waits on the reactor's fd without
        /// polling after it queued work.
        pub fn flush(&self) -> Result<u32> {
            // SAFETY: live reactor.
            self.call(|r| unsafe { sys::urk_reactor_flush(r) })
        }

        pub fn stats(&self) -> Result<ReactorStats> {
            let mut s = ReactorStats::zeroed();
            // SAFETY: live reactor, valid out pointer.
            check(unsafe { sys::urk_reactor_stats(self.as_ptr(), &mut s) })?;
            Ok(s)
        }

        pub fn index(&self) -> Result<u32> {
            // SAFETY: live reactor.
            check(unsafe { sys::urk_reactor_index(self.as_ptr()) })
        }
    };
}

/// The pull-mode handle of one reactor of an [`Engine`](crate::Engine):
/// handed out once per reactor, `Send` (move it to the thread that drives
/// it) but not `Sync` or `Clone`, so one thread at a time makes its calls.
/// The library ties a reactor to the first thread that uses it: move the
/// handle before its first call. It keeps the engine alive.
///
/// [`poll`](Reactor::poll) borrows it mutably and returns the batch of
/// events; the batch lends out the received bytes and gives their buffers
/// back when it is dropped, so no slice outlives its buffer.
pub struct Reactor {
    inner: Arc<Inner>,
    index: usize,
    ptr: NonNull<sys::urk_reactor_t>,
    buf: Vec<sys::urk_event_t>,
    /// DATA buffers delivered and not yet given back.
    held: Vec<u32>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: one handle per reactor; &self methods cannot run on two threads
// at once (not Sync), and the library checks the owner thread itself.
unsafe impl Send for Reactor {}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("index", &self.index)
            .finish()
    }
}

impl Reactor {
    pub(crate) fn new(inner: Arc<Inner>, index: usize) -> Reactor {
        let ptr = inner.slots[index].ptr;
        Reactor {
            inner,
            index,
            ptr,
            buf: vec![sys::urk_event_t::zeroed(); DEFAULT_BATCH],
            held: Vec::new(),
            _not_sync: PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *mut sys::urk_reactor_t {
        self.ptr.as_ptr()
    }

    fn slot(&self) -> &Slot {
        &self.inner.slots[self.index]
    }

    /// Marks the handle inside a library call unless the engine is stopping
    /// (Dekker-style with `Engine::stop`: both sides use SeqCst).
    fn enter(&self) -> Result<()> {
        let slot = self.slot();
        slot.busy.store(true, Ordering::SeqCst);
        if self.inner.stopping.load(Ordering::SeqCst) {
            slot.busy.store(false, Ordering::SeqCst);
            return Err(Error::from_code(-sys::URK_ESTATE));
        }
        Ok(())
    }

    fn leave(&self) {
        self.slot().busy.store(false, Ordering::Release);
    }

    fn call(&self, f: impl FnOnce(*mut sys::urk_reactor_t) -> i32) -> Result<u32> {
        self.enter()?;
        let rc = f(self.as_ptr());
        self.leave();
        check(rc)
    }

    conn_methods!();

    /// Events per [`poll`](Reactor::poll) at most (default 256).
    pub fn set_batch_size(&mut self, n: usize) {
        self.buf
            .resize(n.clamp(1, u32::MAX as usize), sys::urk_event_t::zeroed());
    }

    /// Waits up to `timeout` (None: no limit; rounded up to whole
    /// milliseconds) for events and returns them as a batch. Gives back the
    /// buffers of an earlier batch that was leaked rather than dropped.
    /// After [`Engine::stop`](crate::Engine::stop): [`crate::ErrorKind::State`].
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Events<'_>> {
        self.enter()?;
        self.release_held();
        let max = self.buf.len() as u32;
        // SAFETY: live reactor; buf has room for max events.
        let rc = unsafe {
            sys::urk_reactor_poll(
                self.ptr.as_ptr(),
                self.buf.as_mut_ptr(),
                max,
                timeout_ms(timeout),
            )
        };
        let len = check(rc).map(|n| n as usize);
        if let Ok(n) = len {
            // SAFETY: the batch just returned by this reactor.
            unsafe { crate::native::run_posts(self.ptr.as_ptr(), &self.buf[..n]) };
            let held = &mut self.held;
            held.extend(
                self.buf[..n]
                    .iter()
                    .filter(|e| e.r#type == sys::URK_EV_DATA)
                    .map(|e| e.buf),
            );
        }
        self.leave();
        Ok(Events {
            len: len?,
            reactor: self,
        })
    }

    /// Polls without tracking the DATA buffers: the caller owns each one
    /// delivered and gives it back with `release_detached` (used by the
    /// tokio driver, whose streams keep buffers zero-copy). The events are
    /// `raw_events()[..n]`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll_detached(&mut self, timeout: Option<Duration>) -> Result<usize> {
        self.enter()?;
        self.release_held();
        let max = self.buf.len() as u32;
        // SAFETY: live reactor; buf has room for max events.
        let rc = unsafe {
            sys::urk_reactor_poll(
                self.ptr.as_ptr(),
                self.buf.as_mut_ptr(),
                max,
                timeout_ms(timeout),
            )
        };
        if rc > 0 {
            // SAFETY: the batch just returned by this reactor.
            unsafe { crate::native::run_posts(self.ptr.as_ptr(), &self.buf[..rc as usize]) };
        }
        self.leave();
        check(rc).map(|n| n as usize)
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn raw_events(&self) -> &[sys::urk_event_t] {
        &self.buf
    }

    /// # Safety
    /// Each handle came from `poll_detached`, was not given back yet, and no
    /// slice of its buffer is used after this call.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) unsafe fn release_detached(&self, bufs: &[u32]) -> Result<()> {
        if bufs.is_empty() {
            return Ok(());
        }
        // SAFETY: per the contract above.
        self.call(|r| unsafe { sys::urk_reactor_release(r, bufs.as_ptr(), bufs.len() as u32) })
            .map(drop)
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn buf_count(&self) -> u32 {
        self.inner.buf_count
    }

    /// Gives held buffers back; the caller is inside a call (entered).
    fn release_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        // SAFETY: live reactor; every handle was delivered to us and not
        // released, and no slice of them is borrowed any more (&mut self).
        let rc = unsafe {
            sys::urk_reactor_release(
                self.ptr.as_ptr(),
                self.held.as_ptr(),
                self.held.len() as u32,
            )
        };
        // On failure (a call from another thread than the owner) they stay
        // held and the owner's next poll gives them back.
        if rc >= 0 {
            self.held.clear();
        }
    }

    fn release_now(&mut self) {
        if !self.held.is_empty() && self.enter().is_ok() {
            self.release_held();
            self.leave();
        }
    }

    /// A handle that wakes this reactor from any thread.
    pub fn waker(&self) -> Waker {
        Waker::new(self.inner.clone(), self.index)
    }

    /// Makes a blocked or the next poll return.
    pub fn wake(&self) -> Result<()> {
        // SAFETY: live reactor; any thread.
        check(unsafe { sys::urk_reactor_wake(self.as_ptr()) }).map(drop)
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.release_now();
    }
}

/// Readable while events may be pending: register it with a host event
/// loop (epoll, mio, tokio's `AsyncFd`), then [`Reactor::poll`] with a zero
/// timeout; after queueing work without polling, call [`Reactor::flush`].
impl AsFd for Reactor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the reactor's event fd lives as long as the engine, which
        // this handle keeps alive; urk_reactor_fd never fails for a live one.
        unsafe { BorrowedFd::borrow_raw(sys::urk_reactor_fd(self.as_ptr())) }
    }
}

impl AsRawFd for Reactor {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Wakes one reactor from any thread (`Clone`, `Send`, `Sync`): ends a
/// blocked [`Reactor::poll`], or makes the next one return at once.
#[derive(Clone)]
pub struct Waker {
    inner: Arc<Inner>,
    index: usize,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("index", &self.index).finish()
    }
}

impl Waker {
    pub(crate) fn new(inner: Arc<Inner>, index: usize) -> Waker {
        Waker { inner, index }
    }

    /// Runs `f` on the reactor's thread: in native mode at its next loop
    /// turn, like a callback; in pull mode inside the owner's next
    /// [`Reactor::poll`] (before the batch is returned). Posts run in order
    /// and none is lost: those still queued at stop run on the stopping
    /// thread (where the reactor's calls fail). [`crate::ErrorKind::State`]
    /// once the reactor stopped (`f` is dropped). A panic in `f` is caught.
    pub fn post(&self, f: impl FnOnce(&crate::NativeReactor<'_>) + Send + 'static) -> Result<()> {
        crate::native::post(self.inner.slots[self.index].ptr.as_ptr(), Box::new(f))
    }

    pub fn wake(&self) -> Result<()> {
        // SAFETY: live reactor (the engine is alive); any thread.
        check(unsafe { sys::urk_reactor_wake(self.inner.slots[self.index].ptr.as_ptr()) }).map(drop)
    }
}

/// One batch of events of a [`Reactor`], borrowing it mutably: the reactor
/// cannot be polled again until the batch is dropped, which gives its
/// receive buffers back. The batch derefs to the reactor, so `send`,
/// `close` & co. can be called while iterating.
pub struct Events<'r> {
    reactor: &'r mut Reactor,
    len: usize,
}

impl<'r> Events<'r> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The events; `Data` bytes borrow the batch.
    pub fn iter(&self) -> impl Iterator<Item = Event<'_>> + '_ {
        self.reactor.buf[..self.len].iter().filter_map(convert)
    }

    /// The raw events (their pointers are valid while the batch lives).
    pub fn raw(&self) -> &[sys::urk_event_t] {
        &self.reactor.buf[..self.len]
    }

    /// The reactor (also reachable through `Deref`).
    pub fn reactor(&self) -> &Reactor {
        self.reactor
    }
}

impl std::ops::Deref for Events<'_> {
    type Target = Reactor;
    fn deref(&self) -> &Reactor {
        self.reactor
    }
}

impl<'a> IntoIterator for &'a Events<'_> {
    type Item = Event<'a>;
    type IntoIter = std::iter::FilterMap<
        std::slice::Iter<'a, sys::urk_event_t>,
        fn(&sys::urk_event_t) -> Option<Event<'_>>,
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.reactor.buf[..self.len]
            .iter()
            .filter_map(convert as fn(&sys::urk_event_t) -> Option<Event<'_>>)
    }
}

impl Drop for Events<'_> {
    fn drop(&mut self) {
        self.reactor.release_now();
    }
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One event of a batch. `Data` borrows the batch.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A new connection: accepted (tag 0) or from [`Reactor::connect`].
    Open {
        conn: ConnId,
        peer: SocketAddr,
        tag: u64,
    },
    Data {
        conn: ConnId,
        data: &'a [u8],
        user: u64,
    },
    /// The send queue fell below the limit after a `WouldBlock`.
    Writable { conn: ConnId, user: u64 },
    /// With `URK_ENGINE_HALF_CLOSE`: the peer sent FIN after its last data.
    /// The id stays valid and sends go on until [`Reactor::close`].
    Eof { conn: ConnId, user: u64 },
    /// The id is stale now. `Ok(Peer)`: the peer closed; `Ok(Local)`: we
    /// did; `Err`: the connection failed (reset, timeout, ...).
    Closed {
        conn: ConnId,
        reason: io::Result<CloseReason>,
        user: u64,
    },
    /// A send with [`SendFlags::notify`] finished: bytes sent or the error.
    SendDone {
        conn: ConnId,
        result: io::Result<usize>,
        tag: u64,
    },
    ConnectFailed {
        conn: ConnId,
        error: io::Error,
        tag: u64,
    },
}

impl Event<'_> {
    /// The connection the event is about.
    pub fn conn(&self) -> ConnId {
        match self {
            Event::Open { conn, .. }
            | Event::Data { conn, .. }
            | Event::Writable { conn, .. }
            | Event::Eof { conn, .. }
            | Event::Closed { conn, .. }
            | Event::SendDone { conn, .. }
            | Event::ConnectFailed { conn, .. } => *conn,
        }
    }
}

/// `data`/`len` of an event point into memory the engine keeps valid until
/// the buffer is released, which needs the batch (that the result borrows)
/// to be dropped first.
fn convert(e: &sys::urk_event_t) -> Option<Event<'_>> {
    let conn = ConnId(e.conn);
    Some(match e.r#type {
        sys::URK_EV_OPEN => Event::Open {
            conn,
            peer: std_addr(&Addr::from_bytes(bytes(e))),
            tag: e.user,
        },
        sys::URK_EV_DATA => Event::Data {
            conn,
            data: bytes(e),
            user: e.user,
        },
        sys::URK_EV_WRITABLE => Event::Writable { conn, user: e.user },
        sys::URK_EV_EOF => Event::Eof { conn, user: e.user },
        sys::URK_EV_CLOSED => Event::Closed {
            conn,
            reason: close_reason(e.res),
            user: e.user,
        },
        sys::URK_EV_SEND_DONE => Event::SendDone {
            conn,
            result: send_result(e.res),
            tag: e.user,
        },
        sys::URK_EV_CONNECT_FAILED => Event::ConnectFailed {
            conn,
            error: Error::from_code(e.res).into(),
            tag: e.user,
        },
        _ => return None,
    })
}

fn bytes(e: &sys::urk_event_t) -> &[u8] {
    if e.data.is_null() || e.len == 0 {
        &[]
    } else {
        // SAFETY: see convert; the slice borrows the batch.
        unsafe { std::slice::from_raw_parts(e.data, e.len as usize) }
    }
}

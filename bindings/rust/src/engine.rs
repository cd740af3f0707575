use crate::addr::Addr;
use crate::error::{check, Error, Result};
use crate::sys;
use std::ffi::CString;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Duration;

/// A connection id (`urk_conn_t`). Ids of closed connections are refused
/// with [`crate::ErrorKind::StaleId`], even when their slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

pub type EngineStats = sys::urk_engine_stats_t;
pub type ReactorStats = sys::urk_reactor_stats_t;

/// Options of an engine; zero / None keeps the library's default.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `sys::URK_ENGINE_*`
    pub flags: u32,
    /// Numeric literal; None: 127.0.0.1.
    pub host: Option<String>,
    /// 0: a free port ([`Engine::port`]).
    pub port: u16,
    pub backlog: i32,
    pub reactors: u32,
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub buf_count: u32,
    pub buf_size: u32,
    pub buf_low_water: u32,
    pub max_conns: u32,
    pub idle_timeout_ms: u32,
    pub send_limit: u32,
    pub sqpoll_idle_ms: u32,
    pub acceptor_cpu: Option<i32>,
    /// One entry per reactor (-1: not pinned).
    pub reactor_cpus: Option<Vec<i32>>,
}

/// Flags of [`Reactor::send_with`]. There is no NOCOPY here: the safe layer
/// always lets the library copy (zero-copy sends are in [`sys`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SendFlags {
    /// Post [`Event::SendDone`] with the tag once sent.
    pub notify: bool,
    /// Queue even over the send limit (the caller bounds memory).
    pub force: bool,
}

/// Native-mode callbacks, run on the reactors' own threads. Panics are
/// caught (they must not cross into C): the connection is aborted.
pub trait Handler: Send + Sync + 'static {
    fn on_open(&self, _reactor: &Reactor<'_>, _conn: ConnId, _peer: &Addr, _tag: u64) {}
    /// The buffer goes back to the engine when this returns: copy what you keep.
    fn on_data(&self, _reactor: &Reactor<'_>, _conn: ConnId, _data: &[u8]) {}
    fn on_writable(&self, _reactor: &Reactor<'_>, _conn: ConnId) {}
    /// reason: 0 peer closed, 1 closed by us, else -errno.
    fn on_close(&self, _reactor: &Reactor<'_>, _conn: ConnId, _reason: i32) {}
    fn on_send_done(&self, _reactor: &Reactor<'_>, _conn: ConnId, _res: i32, _tag: u64) {}
    fn on_connect_failed(&self, _reactor: &Reactor<'_>, _conn: ConnId, _error: Error, _tag: u64) {}
}

/// An engine: one acceptor and N reactors (`urk_engine_t`). Dropping it
/// stops it (if needed) and frees everything.
pub struct Engine {
    ptr: NonNull<sys::urk_engine_t>,
    release_on_poll: bool,
    // Dropped after urk_engine_destroy, which joins the threads that use it.
    handler: Option<Box<Box<dyn Handler>>>,
}

// SAFETY: the engine's own calls are thread-safe; reactor calls check their
// owner thread in the library (URK_ETHREAD), and stop needs &mut (so no
// reactor is borrowed, hence none polled, while it runs).
unsafe impl Send for Engine {}
unsafe impl Sync for Engine {}

impl Engine {
    pub fn new(opts: &EngineOptions) -> Result<Engine> {
        crate::check_abi()?;
        let mut o = sys::urk_engine_opts_t::zeroed();
        // SAFETY: valid out pointer.
        check(unsafe { sys::urk_engine_opts_init(&mut o) })?;
        o.flags = opts.flags;
        o.port = opts.port;
        macro_rules! set {
            ($($f:ident),*) => { $( if opts.$f != 0 { o.$f = opts.$f; } )* };
        }
        set!(
            backlog,
            reactors,
            sq_entries,
            cq_entries,
            buf_count,
            buf_size,
            buf_low_water,
            max_conns,
            idle_timeout_ms,
            send_limit,
            sqpoll_idle_ms
        );
        o.acceptor_cpu = opts.acceptor_cpu.unwrap_or(-1);
        let host = match &opts.host {
            Some(h) => Some(CString::new(h.as_str()).map_err(|_| Error::from_code(-22))?),
            None => None,
        };
        if let Some(h) = &host {
            o.host = h.as_ptr();
        }
        if let Some(cpus) = &opts.reactor_cpus {
            o.reactor_cpus = cpus.as_ptr();
        }
        let mut raw = std::ptr::null_mut();
        // SAFETY: o and the strings it points to live through the call; the
        // library reads host and reactor_cpus only during it.
        check(unsafe { sys::urk_engine_create(&o, &mut raw) })?;
        Ok(Engine {
            ptr: NonNull::new(raw).expect("urk_engine_create returned 0 and NULL"),
            release_on_poll: opts.flags & sys::URK_ENGINE_RELEASE_ON_POLL != 0,
            handler: None,
        })
    }

    pub fn as_ptr(&self) -> *mut sys::urk_engine_t {
        self.ptr.as_ptr()
    }

    /// Starts the acceptor in pull mode: drive each reactor with
    /// [`Reactor::events`] / [`Events::poll`] from one thread.
    pub fn start(&self) -> Result<()> {
        // SAFETY: live handle; NULL callbacks select pull mode.
        check(unsafe { sys::urk_engine_start(self.as_ptr(), std::ptr::null()) }).map(drop)
    }

    /// Native mode: one C thread per reactor calling `handler`.
    pub fn start_native<H: Handler>(&mut self, handler: H) -> Result<()> {
        let boxed: Box<Box<dyn Handler>> = Box::new(Box::new(handler));
        let mut cbs = sys::urk_callbacks_t::zeroed();
        // SAFETY: valid out pointer.
        check(unsafe { sys::urk_callbacks_init(&mut cbs) })?;
        cbs.user = (&*boxed as *const Box<dyn Handler>) as *mut sys::c_void;
        cbs.on_open = Some(tramp_open);
        cbs.on_data = Some(tramp_data);
        cbs.on_writable = Some(tramp_writable);
        cbs.on_close = Some(tramp_close);
        cbs.on_send_done = Some(tramp_send_done);
        cbs.on_connect_failed = Some(tramp_connect_failed);
        // SAFETY: live handle; cbs is copied; user stays valid until drop
        // (after urk_engine_destroy has joined the threads).
        check(unsafe { sys::urk_engine_start(self.as_ptr(), &cbs) })?;
        self.handler = Some(boxed);
        Ok(())
    }

    /// Stops accepting, drains queued sends for up to `drain`, closes every
    /// connection and joins the engine's threads. Idempotent. Needs `&mut`:
    /// no reactor may be in use meanwhile.
    pub fn stop(&mut self, drain: Duration) -> Result<()> {
        let ms = u32::try_from(drain.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: live handle; no reactor borrowed (exclusive borrow).
        check(unsafe { sys::urk_engine_stop(self.as_ptr(), ms) }).map(drop)
    }

    pub fn port(&self) -> Result<u16> {
        // SAFETY: live handle.
        check(unsafe { sys::urk_engine_port(self.as_ptr()) }).map(|p| p as u16)
    }

    pub fn reactor_count(&self) -> Result<u32> {
        // SAFETY: live handle.
        check(unsafe { sys::urk_engine_reactor_count(self.as_ptr()) })
    }

    /// Reactor `index`, borrowed from the engine.
    pub fn reactor(&self, index: u32) -> Result<Reactor<'_>> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::urk_engine_reactor(self.as_ptr(), index, &mut raw) })?;
        Ok(Reactor {
            ptr: NonNull::new(raw).expect("urk_engine_reactor returned 0 and NULL"),
            release_on_poll: self.release_on_poll,
            _engine: PhantomData,
        })
    }

    pub fn stats(&self) -> Result<EngineStats> {
        let mut s = EngineStats::zeroed();
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::urk_engine_stats(self.as_ptr(), &mut s) })?;
        Ok(s)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: we own the handle; it stops and joins before freeing.
        unsafe { sys::urk_engine_destroy(self.as_ptr()) }
        self.handler = None;
    }
}

/// A reactor of an engine (`urk_reactor_t`). The first thread to poll it
/// owns it: every call but [`wake`](Reactor::wake), [`fd`](Reactor::fd) and
/// [`stats`](Reactor::stats) from another thread fails with
/// [`crate::ErrorKind::WrongThread`].
#[derive(Clone, Copy)]
pub struct Reactor<'e> {
    ptr: NonNull<sys::urk_reactor_t>,
    release_on_poll: bool,
    _engine: PhantomData<&'e Engine>,
}

// SAFETY: the library checks the owner thread of every reactor call that
// needs one; the others are documented as callable from any thread.
unsafe impl Send for Reactor<'_> {}
unsafe impl Sync for Reactor<'_> {}

impl<'e> Reactor<'e> {
    pub fn as_ptr(&self) -> *mut sys::urk_reactor_t {
        self.ptr.as_ptr()
    }

    /// A batch buffer of `capacity` events for polling this reactor.
    pub fn events(&self, capacity: usize) -> Events<'e> {
        Events {
            reactor: *self,
            buf: vec![sys::urk_event_t::zeroed(); capacity.max(1)],
            len: 0,
            held: Vec::new(),
            _not_send: PhantomData,
        }
    }

    /// Queues a copy of `data` for `conn`, in order.
    /// [`crate::ErrorKind::WouldBlock`] when over the send limit (nothing
    /// queued; [`Event::Writable`] follows).
    pub fn send(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.send_with(conn, data, SendFlags::default(), 0)
    }

    pub fn send_with(&self, conn: ConnId, data: &[u8], flags: SendFlags, tag: u64) -> Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| Error::from_code(-22))?;
        let mut f = 0;
        if flags.notify {
            f |= sys::URK_SEND_NOTIFY;
        }
        if flags.force {
            f |= sys::URK_SEND_FORCE;
        }
        // SAFETY: live reactor; without NOCOPY the library copies data.
        check(unsafe { sys::urk_send(self.as_ptr(), conn.0, data.as_ptr().cast(), len, f, tag) })
            .map(drop)
    }

    /// Graceful close: queued sends finish, then FIN. [`Event::Closed`] follows.
    pub fn close(&self, conn: ConnId) -> Result<()> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_close(self.as_ptr(), conn.0, 0) }).map(drop)
    }

    /// Abortive close (RST); queued sends fail.
    pub fn abort(&self, conn: ConnId) -> Result<()> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_close(self.as_ptr(), conn.0, 1) }).map(drop)
    }

    pub fn pause_recv(&self, conn: ConnId, pause: bool) -> Result<()> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_conn_pause_recv(self.as_ptr(), conn.0, pause as u32) }).map(drop)
    }

    /// FIN after queued sends; reading goes on.
    pub fn shutdown_write(&self, conn: ConnId) -> Result<()> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_shutdown_write(self.as_ptr(), conn.0) }).map(drop)
    }

    /// Opens an outgoing connection; [`Event::Open`] (with `tag`) or
    /// [`Event::ConnectFailed`] follows.
    pub fn connect(&self, addr: &Addr, tag: u64) -> Result<ConnId> {
        let mut id = 0;
        // SAFETY: live reactor; addr is read during the call; valid out pointer.
        check(unsafe { sys::urk_reactor_connect(self.as_ptr(), &addr.0, tag, &mut id) })?;
        Ok(ConnId(id))
    }

    pub fn peer(&self, conn: ConnId) -> Result<Addr> {
        let mut a = sys::urk_addr_t::zeroed();
        // SAFETY: live reactor, valid out pointer.
        check(unsafe { sys::urk_conn_peer(self.as_ptr(), conn.0, &mut a) })?;
        Ok(Addr(a))
    }

    /// A value echoed in the `user` of the connection's later events.
    pub fn set_user(&self, conn: ConnId, user: u64) -> Result<()> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_conn_set_user(self.as_ptr(), conn.0, user) }).map(drop)
    }

    pub fn user(&self, conn: ConnId) -> Result<u64> {
        let mut u = 0;
        // SAFETY: live reactor, valid out pointer.
        check(unsafe { sys::urk_conn_user(self.as_ptr(), conn.0, &mut u) })?;
        Ok(u)
    }

    /// Hands queued sends and closes to the kernel now; returns how many.
    pub fn flush(&self) -> Result<u32> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_reactor_flush(self.as_ptr()) })
    }

    /// Makes a blocked or the next poll return. Any thread.
    pub fn wake(&self) -> Result<()> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_reactor_wake(self.as_ptr()) }).map(drop)
    }

    /// Readable while events may be pending (for a host event loop).
    pub fn fd(&self) -> Result<i32> {
        // SAFETY: live reactor.
        check(unsafe { sys::urk_reactor_fd(self.as_ptr()) }).map(|fd| fd as i32)
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
}

/// One event of a batch. Data borrows the batch: it is valid until the
/// next [`Events::poll`], which gives the buffers back to the engine.
#[derive(Debug)]
pub enum Event<'a> {
    /// A new connection: accepted (tag 0) or from [`Reactor::connect`].
    Open {
        conn: ConnId,
        peer: Addr,
        tag: u64,
    },
    Data {
        conn: ConnId,
        data: &'a [u8],
        user: u64,
    },
    /// The send queue fell below the limit after a `WouldBlock`.
    Writable {
        conn: ConnId,
        user: u64,
    },
    /// reason: 0 peer closed, 1 closed by us, else -errno. The id is stale now.
    Closed {
        conn: ConnId,
        reason: i32,
        user: u64,
    },
    SendDone {
        conn: ConnId,
        res: i32,
        tag: u64,
    },
    ConnectFailed {
        conn: ConnId,
        error: Error,
        tag: u64,
    },
}

/// A batch of events of one reactor. Not `Send`: it releases the batch's
/// receive buffers on the polling thread (at the next poll or on drop).
pub struct Events<'e> {
    reactor: Reactor<'e>,
    buf: Vec<sys::urk_event_t>,
    len: usize,
    held: Vec<u32>,
    _not_send: PhantomData<*const ()>,
}

impl<'e> Events<'e> {
    /// Gives the previous batch's buffers back, then fills this batch,
    /// waiting up to `timeout` (None: no limit) for the first event.
    /// Returns the number of events.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize> {
        self.release()?;
        let ms = match timeout {
            None => -1,
            Some(t) => i32::try_from(t.as_millis()).unwrap_or(i32::MAX),
        };
        let max = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        // SAFETY: live reactor; buf has room for max events.
        let n = check(unsafe {
            sys::urk_reactor_poll(self.reactor.as_ptr(), self.buf.as_mut_ptr(), max, ms)
        })?;
        self.len = n as usize;
        if !self.reactor.release_on_poll {
            self.held.extend(
                self.buf[..self.len]
                    .iter()
                    .filter(|e| e.r#type == sys::URK_EV_DATA)
                    .map(|e| e.buf),
            );
        }
        Ok(self.len)
    }

    fn release(&mut self) -> Result<()> {
        self.len = 0;
        if self.held.is_empty() {
            return Ok(());
        }
        let n = self.held.len() as u32;
        // SAFETY: live reactor; every handle was delivered to us and not released.
        let rc = unsafe { sys::urk_reactor_release(self.reactor.as_ptr(), self.held.as_ptr(), n) };
        self.held.clear();
        check(rc).map(drop)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The events of the last poll.
    pub fn iter(&self) -> impl Iterator<Item = Event<'_>> + '_ {
        self.buf[..self.len].iter().filter_map(convert)
    }

    /// The raw events of the last poll.
    pub fn raw(&self) -> &[sys::urk_event_t] {
        &self.buf[..self.len]
    }
}

impl<'a> IntoIterator for &'a Events<'_> {
    type Item = Event<'a>;
    type IntoIter = Box<dyn Iterator<Item = Event<'a>> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl Drop for Events<'_> {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// # Safety (internal)
/// `data`/`len` of an event point into memory the engine keeps valid until
/// the buffer is released, which needs `&mut Events`.
fn convert(e: &sys::urk_event_t) -> Option<Event<'_>> {
    let conn = ConnId(e.conn);
    Some(match e.r#type {
        sys::URK_EV_OPEN => Event::Open {
            conn,
            peer: Addr::from_bytes(bytes(e)),
            tag: e.user,
        },
        sys::URK_EV_DATA => Event::Data {
            conn,
            data: bytes(e),
            user: e.user,
        },
        sys::URK_EV_WRITABLE => Event::Writable { conn, user: e.user },
        sys::URK_EV_CLOSED => Event::Closed {
            conn,
            reason: e.res,
            user: e.user,
        },
        sys::URK_EV_SEND_DONE => Event::SendDone {
            conn,
            res: e.res,
            tag: e.user,
        },
        sys::URK_EV_CONNECT_FAILED => Event::ConnectFailed {
            conn,
            error: Error::from_code(e.res),
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

// ---- native-mode trampolines ----

/// # Safety
/// `user` is the `Box<dyn Handler>` installed by start_native, alive until
/// the engine is destroyed; `r` is a live reactor of that engine.
unsafe fn with_handler(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    user: *mut sys::c_void,
    f: impl FnOnce(&dyn Handler, &Reactor<'_>),
) {
    // SAFETY: per the contract above.
    let handler: &dyn Handler = unsafe { &**(user as *const Box<dyn Handler>) };
    let reactor = Reactor {
        ptr: NonNull::new(r).expect("NULL reactor"),
        release_on_poll: false,
        _engine: PhantomData,
    };
    if catch_unwind(AssertUnwindSafe(|| f(handler, &reactor))).is_err() {
        eprintln!("urocket: a native-mode handler panicked; aborting its connection");
        if conn != 0 {
            // SAFETY: live reactor, its own thread.
            unsafe { sys::urk_close(r, conn, 1) };
        }
    }
}

unsafe extern "C" fn tramp_open(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    peer: *const sys::urk_addr_t,
    tag: u64,
    user: *mut sys::c_void,
) {
    // SAFETY: peer is valid for the call.
    let peer = Addr(unsafe { *peer });
    // SAFETY: called by the engine with the user pointer we installed.
    unsafe {
        with_handler(r, conn, user, |h, re| {
            h.on_open(re, ConnId(conn), &peer, tag)
        })
    }
}

unsafe extern "C" fn tramp_data(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    data: *const u8,
    len: u32,
    _buf: u32,
    user: *mut sys::c_void,
) -> i32 {
    let bytes: &[u8] = if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: valid until we return (we return 0: the engine releases it).
        unsafe { std::slice::from_raw_parts(data, len as usize) }
    };
    // SAFETY: as above.
    unsafe { with_handler(r, conn, user, |h, re| h.on_data(re, ConnId(conn), bytes)) };
    0
}

unsafe extern "C" fn tramp_writable(r: *mut sys::urk_reactor_t, conn: u64, user: *mut sys::c_void) {
    // SAFETY: as above.
    unsafe { with_handler(r, conn, user, |h, re| h.on_writable(re, ConnId(conn))) }
}

unsafe extern "C" fn tramp_close(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    reason: i32,
    user: *mut sys::c_void,
) {
    // SAFETY: as above (conn 0: nothing to abort, it is closed already).
    unsafe { with_handler(r, 0, user, |h, re| h.on_close(re, ConnId(conn), reason)) }
}

unsafe extern "C" fn tramp_send_done(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    res: i32,
    tag: u64,
    user: *mut sys::c_void,
) {
    // SAFETY: as above.
    unsafe {
        with_handler(r, conn, user, |h, re| {
            h.on_send_done(re, ConnId(conn), res, tag)
        })
    }
}

unsafe extern "C" fn tramp_connect_failed(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    res: i32,
    tag: u64,
    user: *mut sys::c_void,
) {
    // SAFETY: as above.
    unsafe {
        with_handler(r, 0, user, |h, re| {
            h.on_connect_failed(re, ConnId(conn), Error::from_code(res), tag)
        })
    }
}

use crate::error::{check, Error, Result};
use crate::native::{self as reactor, NativeReactor};
use crate::reactor::{Reactor, Waker};
use crate::sys;
use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A connection id (`urk_conn_t`). Ids of closed connections are refused
/// with [`crate::ErrorKind::StaleId`], even when their slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

pub type EngineStats = sys::urk_engine_stats_t;
pub type ReactorStats = sys::urk_reactor_stats_t;

/// Options of an engine; zero / None keeps the library's default.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `sys::URK_ENGINE_*`. `URK_ENGINE_RELEASE_ON_POLL` is accepted and has
    /// no further effect here: the safe layer always gives a batch's
    /// buffers back when the batch is dropped (at the latest at the next
    /// poll), so no slice can see a buffer after its release.
    pub flags: u32,
    /// Where to listen. Default 127.0.0.1:0 (port 0: a free port, see
    /// [`Engine::local_addr`]).
    pub addr: SocketAddr,
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

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            flags: 0,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            backlog: 0,
            reactors: 0,
            sq_entries: 0,
            cq_entries: 0,
            buf_count: 0,
            buf_size: 0,
            buf_low_water: 0,
            max_conns: 0,
            idle_timeout_ms: 0,
            send_limit: 0,
            sqpoll_idle_ms: 0,
            acceptor_cpu: None,
            reactor_cpus: None,
        }
    }
}

/// Why a connection closed (the `Ok` side of [`crate::Event::Closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed (EOF).
    Peer,
    /// We closed it ([`Reactor::close`] / [`Reactor::abort`], idle timeout, stop).
    Local,
}

/// `res` of a CLOSED event / `on_close` as an io result.
pub(crate) fn close_reason(res: i32) -> io::Result<CloseReason> {
    match res {
        0 => Ok(CloseReason::Peer),
        r if r > 0 => Ok(CloseReason::Local),
        r => Err(Error::from_code(r).into()),
    }
}

/// `res` of a SEND_DONE event: bytes sent or an error.
pub(crate) fn send_result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(Error::from_code(res).into())
    } else {
        Ok(res as usize)
    }
}

/// Native-mode callbacks, run on the reactors' own threads. Panics are
/// caught (they must not cross into C): the connection is aborted.
pub trait Handler: Send + Sync + 'static {
    fn on_open(&self, _reactor: &NativeReactor<'_>, _conn: ConnId, _peer: SocketAddr, _tag: u64) {}
    /// The buffer goes back to the engine when this returns: copy what you keep.
    fn on_data(&self, _reactor: &NativeReactor<'_>, _conn: ConnId, _data: &[u8]) {}
    fn on_writable(&self, _reactor: &NativeReactor<'_>, _conn: ConnId) {}
    fn on_close(
        &self,
        _reactor: &NativeReactor<'_>,
        _conn: ConnId,
        _reason: io::Result<CloseReason>,
    ) {
    }
    fn on_send_done(
        &self,
        _reactor: &NativeReactor<'_>,
        _conn: ConnId,
        _result: io::Result<usize>,
        _tag: u64,
    ) {
    }
    fn on_connect_failed(
        &self,
        _reactor: &NativeReactor<'_>,
        _conn: ConnId,
        _error: io::Error,
        _tag: u64,
    ) {
    }
    /// With `URK_ENGINE_HALF_CLOSE`: the peer sent FIN after its last data.
    /// The connection stays open for sending until closed; by default it is
    /// closed gracefully now (queued sends finish first), as without the flag.
    fn on_eof(&self, reactor: &NativeReactor<'_>, conn: ConnId) {
        let _ = reactor.close(conn);
    }
}

/// One reactor's bookkeeping, shared by the engine and its handle.
pub(crate) struct Slot {
    pub(crate) ptr: NonNull<sys::urk_reactor_t>,
    /// A [`Reactor`] handle was handed out (once per reactor).
    claimed: AtomicBool,
    /// Its handle is inside a library call. `stop` waits for this to clear
    /// (after setting `stopping`): the library forbids stopping an engine
    /// while one of its reactors is in a call on another thread.
    pub(crate) busy: AtomicBool,
}

pub(crate) struct Inner {
    ptr: NonNull<sys::urk_engine_t>,
    host: std::net::IpAddr,
    pub(crate) stopping: AtomicBool,
    /// Receive buffers per reactor (urk_engine_opts_t.buf_count in effect).
    pub(crate) buf_count: u32,
    pub(crate) slots: Box<[Slot]>,
    native: AtomicBool,
    // Dropped after urk_engine_destroy, which joins the threads that use it.
    handler: Mutex<Option<Box<Box<dyn Handler>>>>,
}

// SAFETY: the engine's own calls are thread-safe; reactor calls go through
// one `Reactor` handle per reactor (Send, not Sync), and `stop` waits until
// no handle is inside a call (see Slot::busy).
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        let ptr = SendPtr(self.ptr);
        let destroy = move || {
            let p = ptr;
            // SAFETY: the last reference is gone; destroy stops (joining every
            // thread) before freeing.
            unsafe { sys::urk_engine_destroy(p.0.as_ptr()) }
        };
        if reactor::in_native_callback() {
            // The last handle went away inside a callback: the library cannot
            // join the thread it runs on, so another thread destroys it.
            let handler = self.handler.lock().map(|mut h| h.take()).unwrap_or(None);
            std::thread::spawn(move || {
                destroy();
                drop(handler);
            });
        } else {
            destroy();
        }
    }
}

struct SendPtr(NonNull<sys::urk_engine_t>);
// SAFETY: only moved to the thread that destroys it.
unsafe impl Send for SendPtr {}

/// An engine: one acceptor and N reactors (`urk_engine_t`). A cheap,
/// shareable handle (`Clone`, `Send`, `Sync`; an `Arc` inside): the engine
/// is stopped and freed when the last handle, including every [`Reactor`]
/// and [`Waker`], is dropped.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("local_addr", &self.local_addr().ok())
            .field("reactors", &self.inner.slots.len())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl Engine {
    pub fn new(opts: &EngineOptions) -> Result<Engine> {
        crate::check_abi()?;
        let mut o = sys::urk_engine_opts_t::zeroed();
        // SAFETY: valid out pointer.
        check(unsafe { sys::urk_engine_opts_init(&mut o) })?;
        // The safe layer releases buffers itself (see EngineOptions::flags).
        o.flags = opts.flags & !sys::URK_ENGINE_RELEASE_ON_POLL;
        o.port = opts.addr.port();
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
        let host = CString::new(opts.addr.ip().to_string()).expect("an IP literal has no NUL");
        o.host = host.as_ptr();
        if let Some(cpus) = &opts.reactor_cpus {
            o.reactor_cpus = cpus.as_ptr();
        }
        let mut raw = std::ptr::null_mut();
        // SAFETY: o and the strings it points to live through the call; the
        // library reads host and reactor_cpus only during it.
        check(unsafe { sys::urk_engine_create(&o, &mut raw) })?;
        let ptr = NonNull::new(raw).expect("urk_engine_create returned 0 and NULL");
        // From here on, Inner's Drop frees the engine on every path.
        let mut inner = Inner {
            ptr,
            host: opts.addr.ip(),
            stopping: AtomicBool::new(false),
            buf_count: o.buf_count,
            slots: Box::new([]),
            native: AtomicBool::new(false),
            handler: Mutex::new(None),
        };
        // SAFETY: live handle.
        let n = check(unsafe { sys::urk_engine_reactor_count(ptr.as_ptr()) })?;
        let mut slots = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut r = std::ptr::null_mut();
            // SAFETY: live handle, i < count, valid out pointer.
            check(unsafe { sys::urk_engine_reactor(ptr.as_ptr(), i, &mut r) })?;
            slots.push(Slot {
                ptr: NonNull::new(r).expect("urk_engine_reactor returned 0 and NULL"),
                claimed: AtomicBool::new(false),
                busy: AtomicBool::new(false),
            });
        }
        inner.slots = slots.into_boxed_slice();
        Ok(Engine {
            inner: Arc::new(inner),
        })
    }

    pub fn as_ptr(&self) -> *mut sys::urk_engine_t {
        self.inner.ptr.as_ptr()
    }

    /// Starts the acceptor in pull mode: drive each reactor from one thread
    /// with [`Engine::reactor`] and [`Reactor::poll`].
    pub fn start(&self) -> Result<()> {
        // SAFETY: live handle; NULL callbacks select pull mode.
        check(unsafe { sys::urk_engine_start(self.as_ptr(), std::ptr::null()) }).map(drop)
    }

    /// Native mode: one C thread per reactor calling `handler`.
    pub fn start_native<H: Handler>(&self, handler: H) -> Result<()> {
        if self
            .inner
            .slots
            .iter()
            .any(|s| s.claimed.load(Ordering::Acquire))
        {
            return Err(Error::from_code(-sys::URK_ESTATE)); // a pull handle exists
        }
        let mut slot = self.inner.handler.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(Error::from_code(-sys::URK_ESTATE));
        }
        let boxed: Box<Box<dyn Handler>> = Box::new(Box::new(handler));
        let mut cbs = sys::urk_callbacks_t::zeroed();
        // SAFETY: valid out pointer.
        check(unsafe { sys::urk_callbacks_init(&mut cbs) })?;
        cbs.user = (&*boxed as *const Box<dyn Handler>) as *mut sys::c_void;
        reactor::install_trampolines(&mut cbs);
        self.inner.native.store(true, Ordering::Release);
        // SAFETY: live handle; cbs is copied; user stays valid until
        // Inner's drop (after urk_engine_destroy has joined the threads).
        let rc = check(unsafe { sys::urk_engine_start(self.as_ptr(), &cbs) });
        *slot = Some(boxed); // kept even on failure: a thread may have started
        rc.map(drop)
    }

    /// Stops accepting, drains queued sends for up to `drain`, closes every
    /// connection and joins the engine's threads. Idempotent; any thread but
    /// a native callback's. A reactor blocked in [`Reactor::poll`] on
    /// another thread is woken and its calls fail with
    /// [`crate::ErrorKind::State`] from now on; batches still held stay
    /// readable.
    pub fn stop(&self, drain: Duration) -> Result<()> {
        if reactor::in_native_callback() {
            return Err(Error::from_code(-sys::URK_ETHREAD)); // it would join itself
        }
        self.inner.stopping.store(true, Ordering::SeqCst);
        for s in self.inner.slots.iter() {
            // A host loop waiting on the reactor's fd sees it readable and
            // learns the state at its next poll.
            // SAFETY: wake is callable from any thread.
            unsafe { sys::urk_reactor_wake(s.ptr.as_ptr()) };
        }
        for s in self.inner.slots.iter() {
            while s.busy.load(Ordering::SeqCst) {
                // SAFETY: wake is callable from any thread.
                unsafe { sys::urk_reactor_wake(s.ptr.as_ptr()) };
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let ms = u32::try_from(drain.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: live handle; no reactor handle is inside a call, and none
        // enters one (stopping is set).
        check(unsafe { sys::urk_engine_stop(self.as_ptr(), ms) }).map(drop)
    }

    /// True once [`stop`](Engine::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    pub fn port(&self) -> Result<u16> {
        // SAFETY: live handle.
        check(unsafe { sys::urk_engine_port(self.as_ptr()) }).map(|p| p as u16)
    }

    /// The listening address (with the port picked for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        let port = self.port()?;
        Ok(SocketAddr::new(self.inner.host, port))
    }

    pub fn reactor_count(&self) -> Result<u32> {
        Ok(self.inner.slots.len() as u32)
    }

    /// The handle of reactor `index`, for the one thread that will drive it
    /// (move it there before its first call: the library ties a reactor to
    /// the first thread that uses it). Handed out once per reactor: a second
    /// call fails with [`crate::ErrorKind::State`], an index out of range
    /// with [`crate::ErrorKind::InvalidArgument`] (ERANGE); in native mode
    /// the engine's own threads drive the reactors (`State`).
    pub fn reactor(&self, index: u32) -> Result<Reactor> {
        let slot = self
            .inner
            .slots
            .get(index as usize)
            .ok_or_else(|| Error::from_code(-34))?;
        if self.inner.native.load(Ordering::Acquire) {
            return Err(Error::from_code(-sys::URK_ESTATE));
        }
        if slot.claimed.swap(true, Ordering::AcqRel) {
            return Err(Error::from_code(-sys::URK_ESTATE));
        }
        Ok(Reactor::new(self.inner.clone(), index as usize))
    }

    /// A handle that wakes reactor `index` from any thread.
    pub fn waker(&self, index: u32) -> Result<Waker> {
        if (index as usize) >= self.inner.slots.len() {
            return Err(Error::from_code(-34));
        }
        Ok(Waker::new(self.inner.clone(), index as usize))
    }

    /// Counters of reactor `index`, from any thread.
    pub fn reactor_stats(&self, index: u32) -> Result<ReactorStats> {
        let slot = self
            .inner
            .slots
            .get(index as usize)
            .ok_or_else(|| Error::from_code(-34))?;
        let mut s = ReactorStats::zeroed();
        // SAFETY: live reactor (the engine is alive), valid out pointer;
        // stats may be read from any thread.
        check(unsafe { sys::urk_reactor_stats(slot.ptr.as_ptr(), &mut s) })?;
        Ok(s)
    }

    pub fn stats(&self) -> Result<EngineStats> {
        let mut s = EngineStats::zeroed();
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::urk_engine_stats(self.as_ptr(), &mut s) })?;
        Ok(s)
    }
}

//! Native mode (the engine's threads call a [`Handler`]) and work posted
//! to a reactor's thread ([`Waker::post`](crate::Waker::post)).
use crate::addr::Addr;
use crate::engine::{close_reason, send_result, ConnId, Handler, ReactorStats};
use crate::error::{check, Error, Result};
use crate::reactor::{std_addr, SendFlags};
use crate::sys;
use std::cell::Cell;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

thread_local! {
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn in_native_callback() -> bool {
    IN_CALLBACK.with(|c| c.get())
}

/// The reactor as seen by native-mode [`Handler`] callbacks: valid for the
/// call only, on the reactor's own thread.
pub struct NativeReactor<'a> {
    ptr: NonNull<sys::urk_reactor_t>,
    _call: PhantomData<&'a Cell<()>>,
}

impl NativeReactor<'_> {
    pub fn as_ptr(&self) -> *mut sys::urk_reactor_t {
        self.ptr.as_ptr()
    }

    fn call(&self, f: impl FnOnce(*mut sys::urk_reactor_t) -> i32) -> Result<u32> {
        check(f(self.as_ptr()))
    }

    conn_methods!();
}

pub(crate) fn install_trampolines(cbs: &mut sys::urk_callbacks_t) {
    cbs.on_open = Some(tramp_open);
    cbs.on_data = Some(tramp_data);
    cbs.on_writable = Some(tramp_writable);
    cbs.on_close = Some(tramp_close);
    cbs.on_send_done = Some(tramp_send_done);
    cbs.on_connect_failed = Some(tramp_connect_failed);
    cbs.on_eof = Some(tramp_eof);
}

/// # Safety
/// `user` is the `Box<dyn Handler>` installed by start_native, alive until
/// the engine is destroyed; `r` is a live reactor of that engine.
unsafe fn with_handler(
    r: *mut sys::urk_reactor_t,
    conn: u64,
    user: *mut sys::c_void,
    f: impl FnOnce(&dyn Handler, &NativeReactor<'_>),
) {
    // SAFETY: per the contract above.
    let handler: &dyn Handler = unsafe { &**(user as *const Box<dyn Handler>) };
    let reactor = NativeReactor {
        ptr: NonNull::new(r).expect("NULL reactor"),
        _call: PhantomData,
    };
    IN_CALLBACK.with(|c| c.set(true));
    let res = catch_unwind(AssertUnwindSafe(|| f(handler, &reactor)));
    IN_CALLBACK.with(|c| c.set(false));
    if res.is_err() {
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
    let peer = std_addr(&Addr(unsafe { *peer }));
    // SAFETY: called by the engine with the user pointer we installed.
    unsafe {
        with_handler(r, conn, user, |h, re| {
            h.on_open(re, ConnId(conn), peer, tag)
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
    unsafe {
        with_handler(r, 0, user, |h, re| {
            h.on_close(re, ConnId(conn), close_reason(reason))
        })
    }
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
            h.on_send_done(re, ConnId(conn), send_result(res), tag)
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
            h.on_connect_failed(re, ConnId(conn), Error::from_code(res).into(), tag)
        })
    }
}

unsafe extern "C" fn tramp_eof(r: *mut sys::urk_reactor_t, conn: u64, user: *mut sys::c_void) {
    // SAFETY: as above.
    unsafe { with_handler(r, conn, user, |h, re| h.on_eof(re, ConnId(conn))) }
}

// ---- posted work ----

/// A closure posted with [`Waker::post`](crate::Waker::post).
pub(crate) type PostFn = Box<dyn FnOnce(&NativeReactor<'_>) + Send>;

/// Queues `f` for the reactor's thread (any thread may call this).
pub(crate) fn post(r: *mut sys::urk_reactor_t, f: PostFn) -> Result<()> {
    let arg = Box::into_raw(Box::new(f));
    // SAFETY: live reactor; tramp_post takes arg back exactly once.
    let rc = unsafe { sys::urk_reactor_post(r, Some(tramp_post), arg.cast()) };
    if rc < 0 {
        // SAFETY: not queued: still ours.
        drop(unsafe { Box::from_raw(arg) });
    }
    check(rc).map(drop)
}

/// Runs one posted closure: called by the engine (native mode, or the
/// stopping thread for posts still queued) or by the pull-mode poll for a
/// POST event.
unsafe extern "C" fn tramp_post(r: *mut sys::urk_reactor_t, arg: *mut sys::c_void) {
    // SAFETY: arg came from `post` and each post runs once.
    let f = unsafe { Box::from_raw(arg as *mut PostFn) };
    let reactor = NativeReactor {
        ptr: NonNull::new(r).expect("NULL reactor"),
        _call: PhantomData,
    };
    let was = IN_CALLBACK.with(|c| c.replace(true));
    let res = catch_unwind(AssertUnwindSafe(|| f(&reactor)));
    IN_CALLBACK.with(|c| c.set(was));
    if res.is_err() {
        eprintln!("urocket: a posted closure panicked");
    }
}

/// Runs the POST events of a pull-mode batch, in order, on the owner thread
/// while its handle is inside the poll (so `Engine::stop` waits for them).
///
/// # Safety
/// `r` is the live reactor that returned `events`; a POST's `data` is the
/// `urk_post_fn` and `user` the argument given to `urk_reactor_post`, whose
/// caller promised they stay valid until run.
pub(crate) unsafe fn run_posts(r: *mut sys::urk_reactor_t, events: &[sys::urk_event_t]) {
    for e in events.iter().filter(|e| e.r#type == sys::URK_EV_POST) {
        if e.data.is_null() {
            continue;
        }
        // SAFETY: data is the poster's function pointer (see above).
        let f: unsafe extern "C" fn(*mut sys::urk_reactor_t, *mut sys::c_void) =
            unsafe { std::mem::transmute(e.data) };
        // SAFETY: the poster's contract.
        unsafe { f(r, e.user as usize as *mut sys::c_void) };
    }
}

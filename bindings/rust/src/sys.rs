//! Raw declarations of `urocket.h`: every constant, struct and function, spelled
//! as in C. Everything here is `unsafe` to call; the safe layer is the crate root.
//!
//! The tables [`CONSTANTS`], [`STRUCTS`] and [`FUNCTIONS`] are produced by the
//! same macros that declare the items (sizes and offsets via `size_of` and
//! `offset_of!`), and `tests/abi.rs` compares them with
//! `tests/abi/abi_facts.json`, which the C compiler produced from the header.
#![allow(non_camel_case_types, non_upper_case_globals, missing_docs)]

pub use core::ffi::{c_char, c_void};
use core::mem::{align_of, offset_of, size_of};

/// One field of a struct as this crate lays it out.
#[derive(Debug, Clone, Copy)]
pub struct FieldLayout {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// The Rust type as written (`stringify!`).
    pub ty: &'static str,
}

/// One struct as this crate lays it out.
#[derive(Debug, Clone, Copy)]
pub struct StructLayout {
    pub name: &'static str,
    pub size: usize,
    pub align: usize,
    pub fields: &'static [FieldLayout],
}

/// One function as declared here: parameter names and Rust types as written.
#[derive(Debug, Clone, Copy)]
pub struct FnSig {
    pub name: &'static str,
    pub ret: &'static str,
    pub params: &'static [(&'static str, &'static str)],
}

macro_rules! abi_consts {
    ($( $name:ident : $t:ty = $v:expr ; )*) => {
        $( pub const $name: $t = $v; )*
        /// Every constant with its C name.
        pub const CONSTANTS: &[(&str, u64)] = &[ $( (stringify!($name), $name as u64) ),* ];
    };
}

macro_rules! abi_structs {
    ($( $(#[$m:meta])* $name:ident { $( $field:ident : $ty:ty ),* $(,)? } )*) => {
        $(
            $(#[$m])*
            #[repr(C)]
            #[derive(Clone, Copy, Debug)]
            pub struct $name { $( pub $field: $ty ),* }

            impl $name {
                /// All zero: a valid value for every field (integers, pointers,
                /// optional function pointers).
                pub fn zeroed() -> Self {
                    // SAFETY: every field type has all-zero as a valid value.
                    unsafe { core::mem::zeroed() }
                }
            }
        )*
        /// Every struct with its size, alignment and field offsets.
        pub const STRUCTS: &[StructLayout] = &[ $(
            StructLayout {
                name: stringify!($name),
                size: size_of::<$name>(),
                align: align_of::<$name>(),
                fields: &[ $( FieldLayout {
                    name: stringify!($field),
                    offset: offset_of!($name, $field),
                    size: size_of::<$ty>(),
                    ty: stringify!($ty),
                } ),* ],
            }
        ),* ];
    };
}

macro_rules! abi_functions {
    (@ret) => { "()" };
    (@ret $r:ty) => { stringify!($r) };
    ($( fn $name:ident ( $( $p:ident : $pty:ty ),* ) $( -> $ret:ty )? ; )*) => {
        extern "C" {
            $( pub fn $name( $( $p: $pty ),* ) $( -> $ret )?; )*
        }
        /// Every function with its parameters as declared here.
        pub const FUNCTIONS: &[FnSig] = &[ $(
            FnSig {
                name: stringify!($name),
                ret: abi_functions!(@ret $( $ret )?),
                params: &[ $( (stringify!($p), stringify!($pty)) ),* ],
            }
        ),* ];
    };
}

/// A connection id: reactor (8 bits) | slot (24 bits) | generation (32 bits).
pub type urk_conn_t = u64;

/// Work posted to a reactor's thread (`urk_reactor_post`).
pub type urk_post_fn = Option<unsafe extern "C" fn(*mut urk_reactor_t, *mut c_void)>;

/// Opaque handles.
#[repr(C)]
pub struct urk_ring_t {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct urk_bufring_t {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct urk_engine_t {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct urk_reactor_t {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct urk_loadgen_t {
    _opaque: [u8; 0],
}

abi_consts! {
URK_VERSION_MAJOR: u32 = 0;
URK_VERSION_MINOR: u32 = 2;
URK_VERSION_PATCH: u32 = 0;
URK_VERSION_NUMBER: u32 = (URK_VERSION_MAJOR << 16) | (URK_VERSION_MINOR << 8) | URK_VERSION_PATCH;
URK_ABI_VERSION: u32 = 1;
URK_EBASE: i32 = 10000;
URK_ESTALE_ID: i32 = 10001;
URK_ECLOSING: i32 = 10002;
URK_ENOTSUP: i32 = 10003;
URK_ESTATE: i32 = 10004;
URK_ETHREAD: i32 = 10005;
URK_EFRAMING: i32 = 10006;
URK_ELAST: i32 = 10006;
URK_CAP_MULTISHOT_ACCEPT: u64 = 1;
URK_CAP_MULTISHOT_RECV: u64 = 2;
URK_CAP_BUF_RING: u64 = 4;
URK_CAP_RECV_BUNDLE: u64 = 8;
URK_CAP_BUF_RING_INC: u64 = 16;
URK_CAP_MSG_RING: u64 = 32;
URK_CAP_MSG_RING_FD: u64 = 64;
URK_CAP_SEND_ZC: u64 = 128;
URK_CAP_SQPOLL: u64 = 256;
URK_CAP_SINGLE_ISSUER: u64 = 512;
URK_CAP_DEFER_TASKRUN: u64 = 1024;
URK_CAP_COOP_TASKRUN: u64 = 2048;
URK_CAP_REGISTERED_RING_FD: u64 = 4096;
URK_CAP_EXT_ARG: u64 = 8192;
URK_CAP_CQE_SKIP: u64 = 16384;
URK_CAP_NODROP: u64 = 32768;
URK_CAP_LAST: u64 = 32768;
URK_RING_SQPOLL: u32 = 1;
URK_RING_NO_DEFER_TASKRUN: u32 = 2;
URK_RING_NO_REGISTER_FD: u32 = 4;
URK_RING_FORCE_FALLBACK: u32 = 8;
URK_RING_DISABLED: u32 = 16;
URK_RING_ACTIVE_SQPOLL: u32 = 1;
URK_RING_ACTIVE_SINGLE_ISSUER: u32 = 2;
URK_RING_ACTIVE_DEFER_TASKRUN: u32 = 4;
URK_RING_ACTIVE_COOP_TASKRUN: u32 = 8;
URK_RING_ACTIVE_REGISTERED_FD: u32 = 16;
URK_RING_ACTIVE_FALLBACK: u32 = 32;
URK_RING_ACTIVE_ENABLED: u32 = 64;
URK_BUFRING_INC: u32 = 1;
URK_OP_LINK: u32 = 65536;
URK_OP_SKIP_SUCCESS: u32 = 131072;
URK_OP_ASYNC: u32 = 262144;
URK_RECV_BUNDLE: u32 = 1;
URK_CANCEL_ALL: u32 = 1;
URK_CQE_F_BUFFER: u32 = 1;
URK_CQE_F_MORE: u32 = 2;
URK_CQE_F_SOCK_NONEMPTY: u32 = 4;
URK_CQE_F_NOTIF: u32 = 8;
URK_CQE_F_BUF_MORE: u32 = 16;
URK_ENGINE_SQPOLL: u32 = 1;
URK_ENGINE_REUSEPORT: u32 = 2;
URK_ENGINE_NO_LISTEN: u32 = 4;
URK_ENGINE_LEAST_CONN: u32 = 8;
URK_ENGINE_NO_MSG_RING: u32 = 16;
URK_ENGINE_RELEASE_ON_POLL: u32 = 32;
URK_ENGINE_NO_DEFER_TASKRUN: u32 = 64;
URK_ENGINE_HALF_CLOSE: u32 = 128;
URK_ENGINE_NO_REGISTERED_RING: u32 = 256;
URK_ENGINE_NO_SEND_POOL: u32 = 512;
URK_ENGINE_NO_RECV_BUNDLE: u32 = 1024;
URK_EV_OPEN: u32 = 1;
URK_EV_DATA: u32 = 2;
URK_EV_WRITABLE: u32 = 3;
URK_EV_CLOSED: u32 = 4;
URK_EV_SEND_DONE: u32 = 5;
URK_EV_CONNECT_FAILED: u32 = 6;
URK_EV_EOF: u32 = 7;
URK_EV_POST: u32 = 8;
URK_SEND_NOCOPY: u32 = 1;
URK_SEND_NOTIFY: u32 = 2;
URK_SEND_FORCE: u32 = 4;
URK_FRAME_FIXED: u16 = 1;
URK_FRAME_DELIM: u16 = 2;
URK_FRAME_HTTP: u16 = 3;
URK_LOAD_OPEN_LOOP: u32 = 1;
URK_LOADGEN_MAX_REQUESTS: u32 = 32;
URK_LOADGEN_RESULT_SIZE_0_1: u32 = 144;
URK_LOADGEN_HIST_SUB_BITS: u32 = 7;
URK_LOADGEN_HIST_BUCKETS: u32 = 4864;}

abi_structs! {
/// `urk_addr_t`, 136 bytes.
urk_addr_t {
    bytes: [u8; 128],
    len: u32,
    reserved: u32,
}
/// `urk_ring_opts_t`, 48 bytes.
urk_ring_opts_t {
    struct_size: u32,
    flags: u32,
    sq_entries: u32,
    cq_entries: u32,
    sqpoll_idle_ms: u32,
    sqpoll_cpu: i32,
    reserved: [u32; 6],
}
/// `urk_ring_info_t`, 24 bytes.
urk_ring_info_t {
    struct_size: u32,
    active: u32,
    sq_entries: u32,
    cq_entries: u32,
    features: u32,
    setup_flags: u32,
}
/// `urk_ring_stats_t`, 48 bytes.
urk_ring_stats_t {
    submitted: u64,
    completed: u64,
    sq_full_waits: u64,
    cq_overflows: u64,
    enobufs: u64,
    bufs_out: u64,
}
/// `urk_bufring_opts_t`, 32 bytes.
urk_bufring_opts_t {
    struct_size: u32,
    flags: u32,
    count: u32,
    size: u32,
    group_id: u16,
    reserved0: u16,
    reserved: [u32; 3],
}
/// `urk_iovec_t`, 16 bytes.
urk_iovec_t {
    base: *mut c_void,
    len: u64,
}
/// `urk_cqe_t`, 32 bytes.
urk_cqe_t {
    user_data: u64,
    res: i32,
    flags: u32,
    buf: *mut c_void,
    buf_len: u32,
    buf_id: u16,
    buf_group: u16,
}
/// `urk_engine_opts_t`, 112 bytes.
urk_engine_opts_t {
    struct_size: u32,
    flags: u32,
    host: *const c_char,
    port: u16,
    reserved0: u16,
    backlog: i32,
    reactors: u32,
    sq_entries: u32,
    cq_entries: u32,
    buf_count: u32,
    buf_size: u32,
    buf_low_water: u32,
    max_conns: u32,
    idle_timeout_ms: u32,
    send_limit: u32,
    sqpoll_idle_ms: u32,
    acceptor_cpu: i32,
    reserved1: u32,
    reactor_cpus: *const i32,
    reserved: [u32; 8],
}
/// `urk_event_t`, 40 bytes.
urk_event_t {
    conn: urk_conn_t,
    r#type: u32,
    res: i32,
    data: *const u8,
    len: u32,
    buf: u32,
    user: u64,
}
/// `urk_send_req_t`, 40 bytes.
urk_send_req_t {
    conn: urk_conn_t,
    data: *const c_void,
    len: u32,
    flags: u32,
    tag: u64,
    result: i32,
    reserved: u32,
}
/// `urk_reactor_stats_t`, 112 bytes.
urk_reactor_stats_t {
    accepted: u64,
    connected: u64,
    closed: u64,
    bytes_in: u64,
    bytes_out: u64,
    events: u64,
    enobufs_rearms: u64,
    sq_full_waits: u64,
    cq_overflows: u64,
    live_conns: u64,
    bufs_held: u64,
    send_queued: u64,
    wakeups: u64,
    handoff_fallbacks: u64,
}
/// `urk_engine_stats_t`, 32 bytes.
urk_engine_stats_t {
    accepted: u64,
    accept_rearms: u64,
    accept_errors: u64,
    rejected: u64,
}
/// `urk_callbacks_t`, 72 bytes (64 in 0.1, without `on_eof`).
urk_callbacks_t {
    struct_size: u32,
    reserved0: u32,
    user: *mut c_void,
    on_open: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, *const urk_addr_t, u64, *mut c_void)>,
    on_data: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, *const u8, u32, u32, *mut c_void) -> i32>,
    on_writable: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, *mut c_void)>,
    on_close: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, i32, *mut c_void)>,
    on_send_done: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, i32, u64, *mut c_void)>,
    on_connect_failed: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, i32, u64, *mut c_void)>,
    on_eof: Option<unsafe extern "C" fn(*mut urk_reactor_t, urk_conn_t, *mut c_void)>,
}
/// `urk_loadgen_request_t`, 24 bytes (0.2): one kind of request of a scenario.
urk_loadgen_request_t {
    data: *const c_void,
    len: u32,
    weight: u32,
    reserved: [u32; 2],
}
/// `urk_loadgen_opts_t`, 136 bytes (120 in 0.1, without `requests`,
/// `nrequests` and `ramp_ms`).
urk_loadgen_opts_t {
    struct_size: u32,
    flags: u32,
    host: *const c_char,
    port: u16,
    framing: u16,
    connections: u32,
    threads: u32,
    response_len: u32,
    request: *const c_void,
    request_len: u32,
    delim_len: u32,
    delim: *const c_void,
    duration_ms: u64,
    max_requests: u64,
    rate: u64,
    timeout_ms: u64,
    cpu: i32,
    reserved: [u32; 7],
    requests: *const urk_loadgen_request_t,
    nrequests: u32,
    ramp_ms: u32,
}
/// `urk_loadgen_result_t`, 168 bytes (URK_LOADGEN_RESULT_SIZE_0_1 = 144 in
/// 0.1, what `urk_loadgen_result` still writes; `urk_loadgen_result_ex`
/// fills the rest).
urk_loadgen_result_t {
    requests: u64,
    responses: u64,
    bytes_out: u64,
    bytes_in: u64,
    elapsed_ns: u64,
    err_connect: u64,
    err_read: u64,
    err_write: u64,
    err_timeout: u64,
    err_framing: u64,
    lat_min_ns: u64,
    lat_mean_ns: u64,
    lat_max_ns: u64,
    lat_p50_ns: u64,
    lat_p90_ns: u64,
    lat_p99_ns: u64,
    lat_p999_ns: u64,
    cpu_ns: u64,
    reconnects: u64,
    non2xx: u64,
    lat_sum_ns: u64,
}
/// `urk_loadgen_second_t`, 32 bytes.
urk_loadgen_second_t {
    responses: u64,
    errors: u64,
    lat_p50_ns: u64,
    lat_p99_ns: u64,
}}

abi_functions! {
fn urk_version() -> u32;
fn urk_version_string() -> *const c_char;
fn urk_abi_version() -> u32;
fn urk_strerror(err: i32) -> *const c_char;
fn urk_err_name(err: i32) -> *const c_char;
fn urk_probe(caps: *mut u64) -> i32;
fn urk_cap_name(cap: u64) -> *const c_char;
fn urk_addr_parse(host: *const c_char, port: u16, out: *mut urk_addr_t) -> i32;
fn urk_addr_format(addr: *const urk_addr_t, buf: *mut c_char, cap: u32) -> i32;
fn urk_ring_opts_init(opts: *mut urk_ring_opts_t) -> i32;
fn urk_ring_create(opts: *const urk_ring_opts_t, out: *mut *mut urk_ring_t) -> i32;
fn urk_ring_destroy(ring: *mut urk_ring_t);
fn urk_ring_enable(ring: *mut urk_ring_t) -> i32;
fn urk_ring_fd(ring: *const urk_ring_t) -> i32;
fn urk_ring_info(ring: *const urk_ring_t, out: *mut urk_ring_info_t) -> i32;
fn urk_ring_stats(ring: *const urk_ring_t, out: *mut urk_ring_stats_t) -> i32;
fn urk_ring_register_eventfd(ring: *mut urk_ring_t, efd: i32) -> i32;
fn urk_ring_unregister_eventfd(ring: *mut urk_ring_t) -> i32;
fn urk_bufring_opts_init(opts: *mut urk_bufring_opts_t) -> i32;
fn urk_bufring_create(ring: *mut urk_ring_t, opts: *const urk_bufring_opts_t, out: *mut *mut urk_bufring_t) -> i32;
fn urk_bufring_destroy(br: *mut urk_bufring_t);
fn urk_bufring_buf(br: *const urk_bufring_t, bid: u32, ptr: *mut *mut c_void) -> i32;
fn urk_bufring_recycle(br: *mut urk_bufring_t, bids: *const u16, n: u32) -> i32;
fn urk_bufring_available(br: *const urk_bufring_t) -> i32;
fn urk_bufring_group(br: *const urk_bufring_t) -> i32;
fn urk_prep_accept_multishot(ring: *mut urk_ring_t, listen_fd: i32, user_data: u64, flags: u32) -> i32;
fn urk_prep_recv_multishot(ring: *mut urk_ring_t, fd: i32, group_id: u16, user_data: u64, flags: u32) -> i32;
fn urk_prep_recv(ring: *mut urk_ring_t, fd: i32, buf: *mut c_void, len: u32, user_data: u64, flags: u32) -> i32;
fn urk_prep_send(ring: *mut urk_ring_t, fd: i32, buf: *const c_void, len: u32, msg_flags: u32, user_data: u64, flags: u32) -> i32;
fn urk_prep_sendv(ring: *mut urk_ring_t, fd: i32, iov: *const urk_iovec_t, iovcnt: u32, msg_flags: u32, user_data: u64, flags: u32) -> i32;
fn urk_prep_connect(ring: *mut urk_ring_t, fd: i32, addr: *const urk_addr_t, user_data: u64, flags: u32) -> i32;
fn urk_prep_close(ring: *mut urk_ring_t, fd: i32, user_data: u64, flags: u32) -> i32;
fn urk_prep_shutdown(ring: *mut urk_ring_t, fd: i32, how: i32, user_data: u64, flags: u32) -> i32;
fn urk_prep_cancel(ring: *mut urk_ring_t, target_user_data: u64, user_data: u64, flags: u32) -> i32;
fn urk_prep_cancel_fd(ring: *mut urk_ring_t, fd: i32, user_data: u64, flags: u32) -> i32;
fn urk_prep_timeout(ring: *mut urk_ring_t, timeout_ns: u64, count: u32, user_data: u64, flags: u32) -> i32;
fn urk_prep_msg_ring(ring: *mut urk_ring_t, target_ring_fd: i32, res: i32, target_user_data: u64, user_data: u64, flags: u32) -> i32;
fn urk_prep_nop(ring: *mut urk_ring_t, user_data: u64, flags: u32) -> i32;
fn urk_ring_submit(ring: *mut urk_ring_t) -> i32;
fn urk_ring_complete(ring: *mut urk_ring_t, out: *mut urk_cqe_t, max: u32, min_complete: u32, timeout_ns: i64) -> i32;
fn urk_engine_opts_init(opts: *mut urk_engine_opts_t) -> i32;
fn urk_callbacks_init(cbs: *mut urk_callbacks_t) -> i32;
fn urk_engine_create(opts: *const urk_engine_opts_t, out: *mut *mut urk_engine_t) -> i32;
fn urk_engine_start(e: *mut urk_engine_t, cbs: *const urk_callbacks_t) -> i32;
fn urk_engine_stop(e: *mut urk_engine_t, drain_ms: u32) -> i32;
fn urk_engine_destroy(e: *mut urk_engine_t);
fn urk_engine_port(e: *const urk_engine_t) -> i32;
fn urk_engine_reactor_count(e: *const urk_engine_t) -> i32;
fn urk_engine_reactor(e: *mut urk_engine_t, index: u32, out: *mut *mut urk_reactor_t) -> i32;
fn urk_engine_stats(e: *const urk_engine_t, out: *mut urk_engine_stats_t) -> i32;
fn urk_reactor_poll(r: *mut urk_reactor_t, events: *mut urk_event_t, max: u32, timeout_ms: i32) -> i32;
fn urk_reactor_fd(r: *mut urk_reactor_t) -> i32;
fn urk_reactor_flush(r: *mut urk_reactor_t) -> i32;
fn urk_reactor_wake(r: *mut urk_reactor_t) -> i32;
fn urk_reactor_post(r: *mut urk_reactor_t, func: urk_post_fn, arg: *mut c_void) -> i32;
fn urk_reactor_release(r: *mut urk_reactor_t, bufs: *const u32, n: u32) -> i32;
fn urk_send(r: *mut urk_reactor_t, conn: urk_conn_t, data: *const c_void, len: u32, flags: u32, tag: u64) -> i32;
fn urk_send_batch(r: *mut urk_reactor_t, reqs: *mut urk_send_req_t, n: u32) -> i32;
fn urk_close(r: *mut urk_reactor_t, conn: urk_conn_t, abort: u32) -> i32;
fn urk_conn_pause_recv(r: *mut urk_reactor_t, conn: urk_conn_t, pause: u32) -> i32;
fn urk_shutdown_write(r: *mut urk_reactor_t, conn: urk_conn_t) -> i32;
fn urk_reactor_connect(r: *mut urk_reactor_t, addr: *const urk_addr_t, tag: u64, out: *mut urk_conn_t) -> i32;
fn urk_conn_peer(r: *mut urk_reactor_t, conn: urk_conn_t, out: *mut urk_addr_t) -> i32;
fn urk_conn_set_user(r: *mut urk_reactor_t, conn: urk_conn_t, user: u64) -> i32;
fn urk_conn_user(r: *mut urk_reactor_t, conn: urk_conn_t, user: *mut u64) -> i32;
fn urk_reactor_stats(r: *const urk_reactor_t, out: *mut urk_reactor_stats_t) -> i32;
fn urk_reactor_index(r: *const urk_reactor_t) -> i32;
fn urk_loadgen_opts_init(opts: *mut urk_loadgen_opts_t) -> i32;
fn urk_loadgen_create(opts: *const urk_loadgen_opts_t, out: *mut *mut urk_loadgen_t) -> i32;
fn urk_loadgen_run(lg: *mut urk_loadgen_t) -> i32;
fn urk_loadgen_stop(lg: *mut urk_loadgen_t) -> i32;
fn urk_loadgen_result(lg: *const urk_loadgen_t, out: *mut urk_loadgen_result_t) -> i32;
fn urk_loadgen_percentile(lg: *const urk_loadgen_t, q_ppm: u32, ns: *mut u64) -> i32;
fn urk_loadgen_timeline(lg: *const urk_loadgen_t, out: *mut urk_loadgen_second_t, max: u32) -> i32;
fn urk_loadgen_destroy(lg: *mut urk_loadgen_t);
fn urk_loadgen_result_ex(lg: *const urk_loadgen_t, out: *mut urk_loadgen_result_t, size: u32) -> i32;
fn urk_loadgen_status(lg: *const urk_loadgen_t, codes: *mut u32, counts: *mut u64, max: u32) -> i32;
fn urk_loadgen_histogram(lg: *const urk_loadgen_t, counts: *mut u64, max: u32) -> i32;
fn urk_loadgen_request_result(lg: *const urk_loadgen_t, index: u32, out: *mut urk_loadgen_result_t, size: u32) -> i32;
fn urk_loadgen_request_status(lg: *const urk_loadgen_t, index: u32, codes: *mut u32, counts: *mut u64, max: u32) -> i32;
fn urk_loadgen_request_histogram(lg: *const urk_loadgen_t, index: u32, counts: *mut u64, max: u32) -> i32;}

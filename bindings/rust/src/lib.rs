//! Safe Rust binding of uRocket, an io_uring networking engine behind a stable
//! C ABI. No dependencies by default; feature `tokio` adds the module `tokio`
//! (`urocket::tokio`: the engine inside a tokio runtime).
//!
//! * [`sys`]: the raw `extern "C"` declarations of `urocket.h`.
//! * The crate root: RAII handles ([`Ring`], [`BufRing`], [`Engine`],
//!   [`LoadGen`]), [`Result`] with errno and the library's message, and
//!   iterators over event batches. User code needs no `unsafe`.
//!
//! A minimal echo server in pull mode (one thread drives one reactor; the
//! README's keeps what a slow reader is owed and pauses it instead):
//!
//! ```no_run
//! use urocket::{Engine, EngineOptions, ErrorKind, Event};
//! # fn main() -> urocket::Result<()> {
//! let engine = Engine::new(&EngineOptions::default())?;
//! engine.start()?;
//! let mut reactor = engine.reactor(0)?; // Send, not Sync: one thread drives it
//! loop {
//!     let events = reactor.poll(None)?; // borrows the reactor until dropped
//!     for ev in events.iter() {
//!         if let Event::Data { conn, data, .. } = ev {
//!             // Copied into the engine. Over the send limit (a client that
//!             // does not read) this minimal server drops the client.
//!             if let Err(e) = events.send(conn, data) {
//!                 if e.kind() == ErrorKind::WouldBlock {
//!                     let _ = events.abort(conn);
//!                 }
//!             }
//!         }
//!     }
//! } // dropping the batch gives its receive buffers back
//! # }
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

pub mod sys;

mod addr;
mod engine;
mod error;
mod loadgen;
#[macro_use]
mod reactor;
mod native;
mod ring;
#[cfg(doctest)]
mod soundness;
#[cfg(feature = "tokio")]
pub mod tokio;

// The README's examples compile as doctests (with the tokio feature, which
// one of them needs).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use addr::Addr;
pub use engine::{CloseReason, ConnId, Engine, EngineOptions, EngineStats, Handler, ReactorStats};
pub use error::{Error, ErrorKind, Result};
pub use loadgen::{
    Framing, Histogram, LoadGen, LoadGenOptions, LoadGenResult, LoadGenSecond, Request,
};
pub use native::NativeReactor;
pub use reactor::{Event, Events, Reactor, SendFlags, Waker, DEFAULT_BATCH};
pub use ring::{BufRing, BufRingOptions, Cqe, Ring, RingInfo, RingOptions, RingStats};

use std::ffi::CStr;
use std::sync::OnceLock;

/// URK_ABI_VERSION this crate was written against.
pub const ABI_VERSION: u32 = sys::URK_ABI_VERSION;

/// (major, minor, patch) of the loaded library.
pub fn version() -> (u32, u32, u32) {
    // SAFETY: no arguments, no state.
    let v = unsafe { sys::urk_version() };
    (v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// "0.2.0" of the loaded library.
pub fn version_string() -> &'static str {
    // SAFETY: the library returns a static NUL-terminated string.
    unsafe { static_str(sys::urk_version_string()) }
}

/// URK_ABI_VERSION of the loaded library.
pub fn abi_version() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::urk_abi_version() }
}

/// Checks once that the loaded library has this crate's ABI and major
/// version. Every constructor calls it; an `Err` has kind
/// [`ErrorKind::AbiMismatch`].
pub fn check_abi() -> Result<()> {
    static CHECKED: OnceLock<bool> = OnceLock::new();
    let ok = *CHECKED
        .get_or_init(|| abi_version() == ABI_VERSION && version().0 == sys::URK_VERSION_MAJOR);
    if ok {
        Ok(())
    } else {
        Err(Error::abi_mismatch())
    }
}

/// The URK_CAP_* bitmask of the running kernel.
pub fn capabilities() -> Result<u64> {
    check_abi()?;
    let mut caps = 0u64;
    // SAFETY: caps is a valid out pointer.
    error::check(unsafe { sys::urk_probe(&mut caps) })?;
    Ok(caps)
}

/// Names of the capabilities the kernel has ("multishot_accept", ...).
pub fn capability_names() -> Result<Vec<&'static str>> {
    let caps = capabilities()?;
    let mut names = Vec::new();
    for bit in 0..64 {
        let cap = 1u64 << bit;
        if caps & cap != 0 {
            // SAFETY: returns NULL or a static string.
            let p = unsafe { sys::urk_cap_name(cap) };
            if !p.is_null() {
                // SAFETY: non-NULL static NUL-terminated string.
                names.push(unsafe { static_str(p) });
            }
        }
    }
    Ok(names)
}

/// # Safety
/// p must be a non-NULL, NUL-terminated string of static storage.
pub(crate) unsafe fn static_str(p: *const sys::c_char) -> &'static str {
    // SAFETY: per the contract above.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("?")
}

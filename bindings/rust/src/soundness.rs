//! Misuses the types rule out, each checked to fail compilation.
//!
//! A batch borrows its reactor mutably, so two batches of one reactor never
//! live at once (with any engine flag, a second poll would give the first
//! batch's buffers back):
//!
//! ```compile_fail,E0499
//! # fn f(engine: urocket::Engine) -> urocket::Result<()> {
//! let mut reactor = engine.reactor(0)?;
//! let first = reactor.poll(None)?;
//! let second = reactor.poll(None)?;
//! drop(first);
//! # Ok(()) }
//! ```
//!
//! Received bytes cannot outlive their batch:
//!
//! ```compile_fail,E0597
//! # fn f(engine: urocket::Engine) -> urocket::Result<()> {
//! let mut reactor = engine.reactor(0)?;
//! let mut kept: &[u8] = &[];
//! {
//!     let events = reactor.poll(None)?;
//!     if let Some(urocket::Event::Data { data, .. }) = events.iter().next() {
//!         kept = data;
//!     }
//! }
//! let _next = reactor.poll(None)?;
//! println!("{kept:?}");
//! # Ok(()) }
//! ```
//!
//! ... nor be taken out of an event collected from the batch:
//!
//! ```compile_fail,E0716
//! # fn f(engine: urocket::Engine) -> urocket::Result<()> {
//! let mut reactor = engine.reactor(0)?;
//! let events: Vec<urocket::Event<'_>> = reactor.poll(None)?.iter().collect();
//! println!("{events:?}");
//! # Ok(()) }
//! ```
//!
//! A reactor handle is not shared between threads (the library serves one
//! owner thread per reactor):
//!
//! ```compile_fail,E0277
//! fn shared<T: Sync>() {}
//! shared::<urocket::Reactor>();
//! ```
//!
//! ... nor copied:
//!
//! ```compile_fail,E0599
//! # fn f(engine: urocket::Engine) -> urocket::Result<()> {
//! let reactor = engine.reactor(0)?;
//! let again = reactor.clone();
//! # Ok(()) }
//! ```
//!
//! Native-mode bytes are lent for the callback only:
//!
//! ```compile_fail,E0521
//! use std::sync::Mutex;
//! struct Keep(Mutex<Vec<&'static [u8]>>);
//! impl urocket::Handler for Keep {
//!     fn on_data(&self, _r: &urocket::NativeReactor<'_>, _c: urocket::ConnId, data: &[u8]) {
//!         self.0.lock().unwrap().push(data);
//!     }
//! }
//! ```
//!
//! The same shapes compile when used correctly, and a reactor moves into a
//! `'static` thread:
//!
//! ```no_run
//! # fn f(engine: urocket::Engine) -> urocket::Result<()> {
//! let mut reactor = engine.reactor(0)?;
//! std::thread::spawn(move || -> urocket::Result<()> {
//!     let mut kept = Vec::new();
//!     {
//!         let events = reactor.poll(None)?;
//!         if let Some(urocket::Event::Data { data, .. }) = events.iter().next() {
//!             kept.extend_from_slice(data);
//!         };
//!     }
//!     let _next = reactor.poll(None)?;
//!     Ok(())
//! });
//! # Ok(()) }
//! ```

//! The engine inside tokio (cargo feature `tokio`).
//!
//! A [`LocalReactor`] drives one [`Reactor`] from a current-thread tokio
//! runtime: the reactor's fd is registered with tokio (`AsyncFd`); when it
//! turns readable, events are drained in batches (poll with a zero timeout)
//! and handed to per-connection [`Stream`]s, which implement
//! `AsyncRead`, `AsyncBufRead` and `AsyncWrite`. Writes from every task are
//! queued in the engine at once and handed to the kernel by one flush when
//! the tasks of a turn have run. Everything is `!Send` and lives on the
//! reactor's thread, inside a `tokio::task::LocalSet` (the driver is a local
//! task).
//!
//! * Reading is zero-copy where the trait allows: a stream keeps the
//!   engine's receive buffers and `AsyncBufRead::poll_fill_buf` lends them
//!   out directly (`AsyncRead` copies once, into the caller's `ReadBuf`).
//!   When streams hold half of the reactor's buffers, further data is copied
//!   out so that unread connections cannot starve the others; a stream with
//!   more than 256 KiB unread stops receiving until half of it is read.
//! * Writing: `poll_write` queues a copy in the engine; over the engine's
//!   send limit it returns `Pending` until the engine reports the queue
//!   below the limit again (backpressure). `poll_flush` hands queued data to
//!   the kernel; `poll_shutdown` sends FIN after the queued data, reading
//!   goes on.
//! * EOF: `poll_read` returns 0 bytes once the peer sent FIN and everything
//!   received was read; a reset or other failure is returned once as an
//!   error, then EOF. With `URK_ENGINE_HALF_CLOSE` (which [`Server`] and
//!   [`serve`] set) the stream stays writable after EOF, as a TCP socket
//!   does: read the request to EOF, then reply, then drop (or shut down) the
//!   stream. Without the flag the engine closes the connection at the
//!   peer's FIN, and writes after EOF fail.
//! * [`Server`] / [`serve`] run one thread per reactor, each with its own
//!   current-thread runtime, and call the handler for every connection.
//!   [`Engine::stop`](crate::Engine::stop) ends them.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! fn main() -> std::io::Result<()> {
//!     let addr = "127.0.0.1:7000".parse().unwrap();
//!     urocket::tokio::serve(addr, |mut stream| async move {
//!         let mut buf = vec![0u8; 16 * 1024];
//!         loop {
//!             let n = stream.read(&mut buf).await?;
//!             if n == 0 {
//!                 return Ok(()); // EOF
//!             }
//!             stream.write_all(&buf[..n]).await?; // waits when over the send limit
//!         }
//!     })
//! }
//! ```
use crate::engine::close_reason;
use crate::{addr::Addr, sys};
use crate::{ConnId, Error, ErrorKind, Reactor};
use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, Interest, ReadBuf};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

mod server;
pub use server::{serve, Server};

/// Unread bytes per stream above which receiving pauses.
const RX_PAUSE: usize = 256 * 1024;
/// Largest copy one `poll_write` queues.
const MAX_WRITE: usize = 1 << 20;
/// Tag of connections this module opens (accepted ones have tag 0).
const CONNECT_TAG: u64 = 1;

enum Chunk {
    /// An engine receive buffer, valid until given back.
    Held {
        buf: u32,
        ptr: *const u8,
        len: usize,
    },
    Owned(Vec<u8>),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::Held { len, .. } => *len,
            Chunk::Owned(v) => v.len(),
        }
    }
    fn ptr(&self) -> *const u8 {
        match self {
            Chunk::Held { ptr, .. } => *ptr,
            Chunk::Owned(v) => v.as_ptr(),
        }
    }
}

#[derive(Default)]
struct Conn {
    rx: VecDeque<Chunk>,
    /// Bytes of rx's front chunk already read.
    off: usize,
    rx_len: usize,
    paused: bool,
    /// Set by CLOSED; an error is handed out once (then None: EOF).
    closed: Option<Option<io::Error>>,
    /// The peer sent FIN (URK_ENGINE_HALF_CLOSE); sending goes on.
    eof: bool,
    connecting: bool,
    connect_error: Option<io::Error>,
    write_shut: bool,
    peer: Option<SocketAddr>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

struct Shared {
    fd: AsyncFd<Reactor>,
    conns: HashMap<ConnId, Conn>,
    accepted: VecDeque<ConnId>,
    accept_waker: Option<Waker>,
    driver_waker: Option<Waker>,
    /// Work queued since the last flush.
    dirty: bool,
    /// Buffers held by streams, and the most they may hold.
    held: usize,
    held_cap: usize,
    releases: Vec<u32>,
    scratch: Vec<sys::urk_event_t>,
    /// The driver ended (the engine stopped, or the fd failed).
    ended: Option<io::ErrorKind>,
}

fn wake(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        w.wake();
    }
}

impl Shared {
    fn reactor(&self) -> &Reactor {
        self.fd.get_ref()
    }

    /// Hands queued sends and releases to the engine at the driver's turn.
    fn touch(&mut self) {
        self.dirty = true;
        wake(&mut self.driver_waker);
    }

    fn give_back(&mut self) {
        if self.releases.is_empty() {
            return;
        }
        // SAFETY: each handle was delivered by poll_detached and its chunk
        // is gone (or never made), so nothing reads the buffer any more.
        let _ = unsafe { self.fd.get_ref().release_detached(&self.releases) };
        self.releases.clear();
    }

    /// Polls the reactor until it has nothing more and dispatches.
    fn drain(&mut self) -> crate::Result<()> {
        let mut evs = std::mem::take(&mut self.scratch);
        loop {
            let r = self.fd.get_mut();
            let n = r.poll_detached(Some(Duration::ZERO))?;
            evs.clear();
            evs.extend_from_slice(&r.raw_events()[..n]);
            let full = n == r.raw_events().len();
            for e in &evs {
                self.dispatch(e);
            }
            self.give_back();
            if !full {
                break;
            }
        }
        self.scratch = evs;
        Ok(())
    }

    fn dispatch(&mut self, e: &sys::urk_event_t) {
        let id = ConnId(e.conn);
        let Shared {
            fd,
            conns,
            accepted,
            accept_waker,
            held,
            held_cap,
            releases,
            ..
        } = self;
        let reactor = fd.get_ref();
        match e.r#type {
            sys::URK_EV_OPEN => {
                let bytes = raw_bytes(e);
                let peer = Addr::from_bytes(bytes).to_socket_addr();
                if let Some(c) = conns.get_mut(&id) {
                    c.connecting = false;
                    c.peer = peer;
                    wake(&mut c.write_waker);
                } else if e.user == 0 {
                    conns.insert(
                        id,
                        Conn {
                            peer,
                            ..Conn::default()
                        },
                    );
                    accepted.push_back(id);
                    wake(accept_waker);
                } else {
                    let _ = reactor.close(id); // its connect future was dropped
                }
            }
            sys::URK_EV_DATA => {
                let Some(c) = conns.get_mut(&id) else {
                    releases.push(e.buf);
                    return;
                };
                let len = e.len as usize;
                if len == 0 {
                    releases.push(e.buf);
                    return;
                }
                if *held < *held_cap && !e.data.is_null() {
                    *held += 1;
                    c.rx.push_back(Chunk::Held {
                        buf: e.buf,
                        ptr: e.data,
                        len,
                    });
                } else {
                    c.rx.push_back(Chunk::Owned(raw_bytes(e).to_vec()));
                    releases.push(e.buf);
                }
                c.rx_len += len;
                if c.rx_len >= RX_PAUSE && !c.paused && reactor.pause_recv(id, true).is_ok() {
                    c.paused = true;
                }
                wake(&mut c.read_waker);
            }
            sys::URK_EV_WRITABLE => {
                if let Some(c) = conns.get_mut(&id) {
                    wake(&mut c.write_waker);
                }
            }
            sys::URK_EV_EOF => {
                if let Some(c) = conns.get_mut(&id) {
                    c.eof = true;
                    wake(&mut c.read_waker);
                }
            }
            sys::URK_EV_CLOSED => {
                if let Some(c) = conns.get_mut(&id) {
                    c.closed = Some(close_reason(e.res).err());
                    wake(&mut c.read_waker);
                    wake(&mut c.write_waker);
                }
            }
            sys::URK_EV_CONNECT_FAILED => {
                if let Some(c) = conns.get_mut(&id) {
                    c.connect_error = Some(Error::from_code(e.res).into());
                    c.closed = Some(None);
                    wake(&mut c.write_waker);
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, kind: io::ErrorKind) {
        self.ended = Some(kind);
        wake(&mut self.accept_waker);
        for c in self.conns.values_mut() {
            wake(&mut c.read_waker);
            wake(&mut c.write_waker);
        }
    }

    fn ended_error(&self) -> Option<io::Error> {
        self.ended
            .map(|k| io::Error::new(k, "the engine stopped (urocket reactor no longer driven)"))
    }
}

fn raw_bytes(e: &sys::urk_event_t) -> &[u8] {
    if e.data.is_null() || e.len == 0 {
        &[]
    } else {
        // SAFETY: the event's buffer is valid until released, which happens
        // after this borrow ends (the caller copies or keeps the pointer).
        unsafe { std::slice::from_raw_parts(e.data, e.len as usize) }
    }
}

fn driver_turn(shared: &Rc<RefCell<Shared>>, cx: &mut Context<'_>) -> Poll<()> {
    let mut sh = shared.borrow_mut();
    loop {
        match sh.fd.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
            Poll::Ready(Err(e)) => {
                sh.end(e.kind());
                return Poll::Ready(());
            }
            Poll::Pending => break,
        }
        if let Err(e) = sh.drain() {
            let kind = if e.kind() == ErrorKind::State {
                io::ErrorKind::ConnectionAborted
            } else {
                io::Error::from(e).kind()
            };
            sh.end(kind);
            return Poll::Ready(());
        }
    }
    if sh.dirty {
        sh.dirty = false;
        sh.give_back();
        if let Err(e) = sh.reactor().flush() {
            if e.kind() == ErrorKind::State {
                sh.end(io::ErrorKind::ConnectionAborted);
                return Poll::Ready(());
            }
        }
    }
    sh.driver_waker = Some(cx.waker().clone());
    Poll::Pending
}

/// One reactor driven by tokio on the current thread (`Clone`: a shared
/// handle; not `Send`). Made inside a `LocalSet` on a current-thread
/// runtime; the reactor belongs to that thread from then on.
#[derive(Clone)]
pub struct LocalReactor {
    shared: Rc<RefCell<Shared>>,
}

impl LocalReactor {
    /// Registers the reactor's fd with tokio and starts its driver task
    /// (`tokio::task::spawn_local`: call inside a `LocalSet`).
    pub fn new(mut reactor: Reactor) -> io::Result<LocalReactor> {
        // The first call makes this thread the reactor's owner and takes
        // the events already waiting.
        let held_cap = (reactor.buf_count() as usize / 2).max(1);
        reactor.set_batch_size(crate::DEFAULT_BATCH);
        let fd = AsyncFd::with_interest(reactor, Interest::READABLE)?;
        let shared = Rc::new(RefCell::new(Shared {
            fd,
            conns: HashMap::new(),
            accepted: VecDeque::new(),
            accept_waker: None,
            driver_waker: None,
            dirty: false,
            held: 0,
            held_cap,
            releases: Vec::new(),
            scratch: Vec::new(),
            ended: None,
        }));
        shared.borrow_mut().drain()?;
        let weak = Rc::downgrade(&shared);
        ::tokio::task::spawn_local(poll_fn(move |cx| match weak.upgrade() {
            Some(s) => driver_turn(&s, cx),
            None => Poll::Ready(()),
        }));
        Ok(LocalReactor { shared })
    }

    /// The next accepted connection and its peer address.
    pub fn accept(&self) -> impl Future<Output = io::Result<(Stream, SocketAddr)>> + '_ {
        poll_fn(move |cx| {
            let mut sh = self.shared.borrow_mut();
            if let Some(id) = sh.accepted.pop_front() {
                let peer = sh.conns.get(&id).and_then(|c| c.peer);
                let stream = Stream {
                    shared: self.shared.clone(),
                    id,
                };
                let peer = peer.unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
                return Poll::Ready(Ok((stream, peer)));
            }
            if let Some(e) = sh.ended_error() {
                return Poll::Ready(Err(e));
            }
            sh.accept_waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Opens a connection through the engine.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<Stream> {
        let stream = {
            let mut sh = self.shared.borrow_mut();
            if let Some(e) = sh.ended_error() {
                return Err(e);
            }
            let id = sh.reactor().connect(addr, CONNECT_TAG)?;
            sh.conns.insert(
                id,
                Conn {
                    connecting: true,
                    ..Conn::default()
                },
            );
            sh.touch();
            // Dropping the future drops the stream, which closes the id.
            Stream {
                shared: self.shared.clone(),
                id,
            }
        };
        poll_fn(|cx| {
            let mut sh = stream.shared.borrow_mut();
            let ended = sh.ended_error();
            let c = sh.conns.get_mut(&stream.id).expect("a stream's connection");
            if let Some(e) = c.connect_error.take() {
                return Poll::Ready(Err(e));
            }
            if !c.connecting {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = ended {
                return Poll::Ready(Err(e));
            }
            c.write_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        Ok(stream)
    }
}

/// A connection of a [`LocalReactor`]: `AsyncRead`, `AsyncBufRead` (zero
/// copy) and `AsyncWrite`. Dropping it closes the connection gracefully
/// (queued data is sent first).
pub struct Stream {
    shared: Rc<RefCell<Shared>>,
    id: ConnId,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id).finish()
    }
}

impl Stream {
    pub fn conn_id(&self) -> ConnId {
        self.id
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let sh = self.shared.borrow();
        sh.conns
            .get(&self.id)
            .and_then(|c| c.peer)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Frees the front chunk once read; resumes receiving below half the
    /// pause threshold.
    fn consumed(sh: &mut Shared, id: ConnId, mut amt: usize) {
        let Shared {
            fd,
            conns,
            held,
            releases,
            ..
        } = sh;
        let c = conns.get_mut(&id).expect("a stream's connection");
        while amt > 0 {
            let Some(front) = c.rx.front() else { break };
            let left = front.len() - c.off;
            let n = left.min(amt);
            c.off += n;
            c.rx_len -= n;
            amt -= n;
            if c.off == front.len() {
                if let Some(Chunk::Held { buf, .. }) = c.rx.pop_front() {
                    *held -= 1;
                    releases.push(buf);
                }
                c.off = 0;
            }
        }
        let mut queued = !releases.is_empty();
        if c.paused && c.rx_len < RX_PAUSE / 2 && fd.get_ref().pause_recv(id, false).is_ok() {
            c.paused = false;
            queued = true;
        }
        sh.give_back();
        if queued {
            sh.touch(); // the resume and re-armed receives reach the kernel at the driver's turn
        }
    }

    /// Ready when bytes are buffered (Some) or at EOF / error (None).
    fn poll_data(&self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut sh = self.shared.borrow_mut();
        let ended = sh.ended_error();
        let c = sh.conns.get_mut(&self.id).expect("a stream's connection");
        if !c.rx.is_empty() {
            return Poll::Ready(Ok(true));
        }
        match &mut c.closed {
            Some(err) => match err.take() {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Ready(Ok(false)),
            },
            None if c.eof => Poll::Ready(Ok(false)),
            None => match ended {
                Some(e) => Poll::Ready(Err(e)),
                None => {
                    c.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            },
        }
    }

    fn write_error(c: &Conn, ended: Option<io::Error>) -> Option<io::Error> {
        if c.write_shut {
            return Some(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write half shut down",
            ));
        }
        if c.closed.is_some() {
            return Some(io::Error::from(io::ErrorKind::NotConnected));
        }
        ended
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match self.poll_data(cx) {
            Poll::Ready(Ok(true)) => {}
            Poll::Ready(Ok(false)) => return Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let mut sh = self.shared.borrow_mut();
        let c = sh.conns.get_mut(&self.id).expect("a stream's connection");
        let mut copied = 0;
        let mut off = c.off;
        for chunk in c.rx.iter() {
            if buf.remaining() == 0 {
                break;
            }
            // SAFETY: the chunk's bytes are valid while it is in rx.
            let bytes = unsafe { std::slice::from_raw_parts(chunk.ptr(), chunk.len()) };
            let n = (bytes.len() - off).min(buf.remaining());
            buf.put_slice(&bytes[off..off + n]);
            copied += n;
            off = 0;
        }
        Stream::consumed(&mut sh, self.id, copied);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for Stream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match self.poll_data(cx) {
            Poll::Ready(Ok(true)) => {}
            Poll::Ready(Ok(false)) => return Poll::Ready(Ok(&[])),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let sh = self.shared.borrow();
        let c = sh.conns.get(&self.id).expect("a stream's connection");
        let front = c.rx.front().expect("data is buffered");
        // SAFETY: the chunk (an engine buffer or a heap block) stays in rx,
        // unchanged, until consume or poll_read, which need `&mut self`,
        // so not while this borrow of self lives; the driver never removes
        // a live stream's chunks, and the engine's memory lives as long as
        // the reactor this stream's shared state owns.
        let bytes =
            unsafe { std::slice::from_raw_parts(front.ptr().add(c.off), front.len() - c.off) };
        Poll::Ready(Ok(bytes))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let mut sh = self.shared.borrow_mut();
        Stream::consumed(&mut sh, self.id, amt);
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut sh = self.shared.borrow_mut();
        let ended = sh.ended_error();
        let c = sh.conns.get(&self.id).expect("a stream's connection");
        if let Some(e) = Stream::write_error(c, ended) {
            return Poll::Ready(Err(e));
        }
        if c.connecting {
            // Not open yet: the write waits for OPEN.
            sh.conns.get_mut(&self.id).unwrap().write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(MAX_WRITE);
        match sh.reactor().send(self.id, &buf[..n]) {
            Ok(()) => {
                sh.touch();
                Poll::Ready(Ok(n))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // WRITABLE follows once the queue is below the limit.
                sh.conns.get_mut(&self.id).unwrap().write_waker = Some(cx.waker().clone());
                sh.touch();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sh = self.shared.borrow();
        match sh.reactor().flush() {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut sh = self.shared.borrow_mut();
        let c = sh.conns.get(&self.id).expect("a stream's connection");
        if c.write_shut || c.closed.is_some() {
            return Poll::Ready(Ok(()));
        }
        let rc = sh.reactor().shutdown_write(self.id);
        sh.conns.get_mut(&self.id).unwrap().write_shut = true;
        sh.touch();
        Poll::Ready(rc.map_err(io::Error::from))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let Ok(mut sh) = self.shared.try_borrow_mut() else {
            return; // only during a panic inside the driver
        };
        if let Some(c) = sh.conns.remove(&self.id) {
            for chunk in c.rx {
                if let Chunk::Held { buf, .. } = chunk {
                    sh.held -= 1;
                    sh.releases.push(buf);
                }
            }
            if c.closed.is_none() {
                let _ = sh.reactor().close(self.id);
            }
        }
        sh.touch();
    }
}

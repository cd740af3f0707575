//! [`Server`] and [`serve`]: one thread per reactor, each a current-thread
//! runtime with a `LocalSet`, a local task per connection.
use super::{LocalReactor, Stream};
use crate::{sys, Engine, EngineOptions, Reactor};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A server on the engine: one thread per reactor, each running a
/// current-thread tokio runtime with a `LocalSet`, calling the handler for
/// every accepted connection (as a local task).
pub struct Server {
    engine: Engine,
}

impl Server {
    /// Creates and starts the engine (pull mode), with
    /// `URK_ENGINE_HALF_CLOSE` added to the flags: a peer's FIN ends the
    /// stream's reading, and the handler can still reply.
    pub fn bind(opts: &EngineOptions) -> io::Result<Server> {
        let mut opts = opts.clone();
        opts.flags |= sys::URK_ENGINE_HALF_CLOSE;
        let engine = Engine::new(&opts)?;
        engine.start()?;
        Ok(Server { engine })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.engine.local_addr()?)
    }

    /// The engine: [`Engine::stop`] from any thread ends [`run`](Server::run).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until the engine stops. A handler's error closes its
    /// connection (the stream is dropped).
    pub fn run<F, Fut>(self, handler: F) -> io::Result<()>
    where
        F: Fn(Stream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        let handler = Arc::new(handler);
        let mut threads = Vec::new();
        for i in 0..self.engine.reactor_count()? {
            let reactor = self.engine.reactor(i)?;
            let h = handler.clone();
            threads.push(std::thread::spawn(move || run_reactor(reactor, h)));
        }
        let mut result = Ok(());
        for t in threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a reactor thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

fn run_reactor<F, Fut>(reactor: Reactor, handler: Arc<F>) -> io::Result<()>
where
    F: Fn(Stream) -> Fut + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let rt = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = ::tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let lr = LocalReactor::new(reactor)?;
        loop {
            match lr.accept().await {
                Ok((stream, _peer)) => {
                    let fut = handler(stream);
                    ::tokio::task::spawn_local(async move {
                        let _ = fut.await;
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
}

/// Serves `addr` with the engine's defaults (one reactor) until the engine
/// stops: `Server::bind(&EngineOptions { addr, .. })?.run(handler)`.
pub fn serve<F, Fut>(addr: SocketAddr, handler: F) -> io::Result<()>
where
    F: Fn(Stream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    Server::bind(&EngineOptions {
        addr,
        ..EngineOptions::default()
    })?
    .run(handler)
}

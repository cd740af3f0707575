//! urocket::tokio: byte-exact echo with tokio clients, backpressure from
//! the send limit, zero-copy buffered reads, outgoing connections, EOF and
//! shutdown semantics, buffer starvation, and stopping a server.
#![cfg(feature = "tokio")]
mod common;
use common::Rng;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use urocket::tokio::{LocalReactor, Server, Stream};
use urocket::{Engine, EngineOptions};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn echo(mut s: Stream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
    }
}

/// Runs a server with `handler` on its own threads while `client` runs.
fn with_server<F, Fut>(opts: EngineOptions, handler: F, client: impl FnOnce(SocketAddr))
where
    F: Fn(Stream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + 'static,
{
    let server = Server::bind(&opts).unwrap();
    let addr = server.local_addr().unwrap();
    let engine = server.engine().clone();
    let t = std::thread::spawn(move || server.run(handler));
    client(addr);
    engine.stop(Duration::from_millis(100)).unwrap();
    t.join()
        .unwrap()
        .expect("run ends cleanly when the engine stops");
}

/// Writes payload and reads the echo back concurrently (tokio client),
/// starting to read after `delay`. The client closes only once it has read
/// everything: without URK_ENGINE_HALF_CLOSE a peer's FIN closes the whole
/// connection in the engine.
async fn round_trip_after(addr: SocketAddr, payload: Vec<u8>, delay: Duration) -> Vec<u8> {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let len = payload.len();
    let writer = tokio::spawn(async move {
        w.write_all(&payload).await.unwrap();
        w
    });
    tokio::time::sleep(delay).await;
    let mut back = vec![0u8; len];
    r.read_exact(&mut back).await.unwrap();
    drop(writer.await.unwrap());
    back
}

async fn round_trip(addr: SocketAddr, payload: Vec<u8>) -> Vec<u8> {
    round_trip_after(addr, payload, Duration::ZERO).await
}

#[test]
fn echo_with_tokio_clients_is_byte_exact() {
    let opts = EngineOptions {
        reactors: 2,
        ..Default::default()
    };
    with_server(opts, echo, |addr| {
        rt().block_on(async {
            let mut tasks = Vec::new();
            for c in 0..6u64 {
                tasks.push(tokio::spawn(async move {
                    let mut rng = Rng::new(40 + c);
                    for _ in 0..5 {
                        let len = 1 + rng.below(if c % 2 == 0 { 400_000 } else { 3000 }) as usize;
                        let payload = rng.bytes(len);
                        assert!(
                            round_trip(addr, payload.clone()).await == payload,
                            "echo of {len} bytes"
                        );
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
}

#[test]
fn backpressure_from_the_send_limit_keeps_every_byte() {
    // The client writes 4 MiB before it reads anything: the server's writes
    // hit the 32 KiB send limit and wait; its reads pause in turn.
    let opts = EngineOptions {
        send_limit: 32 * 1024,
        buf_count: 64,
        ..Default::default()
    };
    with_server(opts, echo, |addr| {
        let payload = Rng::new(5).bytes(4 << 20);
        rt().block_on(async {
            let back = round_trip_after(addr, payload.clone(), Duration::from_millis(200)).await;
            assert!(back == payload, "4 MiB echo under backpressure differs");
        });
    });
}

#[test]
fn buffered_reads_lend_engine_buffers() {
    // Line echo through AsyncBufRead (fill_buf/consume without a BufReader).
    let handler = |mut s: Stream| async move {
        let mut line = String::new();
        loop {
            line.clear();
            if s.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            s.write_all(line.to_uppercase().as_bytes()).await?;
        }
    };
    with_server(EngineOptions::default(), handler, |addr| {
        rt().block_on(async {
            let text: String = (0..2000).map(|i| format!("line {i} of text\n")).collect();
            let back = round_trip(addr, text.clone().into_bytes()).await;
            assert!(
                String::from_utf8(back).unwrap() == text.to_uppercase(),
                "line echo differs"
            );
        });
    });
}

#[test]
fn unread_connections_do_not_starve_the_others() {
    // 8 buffers per reactor; four handlers never read while their peers
    // send 256 KiB each; a fifth connection must still be served.
    let handler = |mut s: Stream| async move {
        let mut first = [0u8; 1];
        s.read_exact(&mut first).await?;
        if first[0] == b'i' {
            std::future::pending::<()>().await; // idle: never reads again
        }
        s.write_all(&first).await?;
        echo(s).await
    };
    let opts = EngineOptions {
        buf_count: 8,
        ..Default::default()
    };
    with_server(opts, handler, |addr| {
        rt().block_on(async {
            let mut idle = Vec::new();
            for _ in 0..4 {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(b"i").await.unwrap();
                let junk = vec![1u8; 256 * 1024];
                let w = tokio::spawn(async move {
                    let _ = s.write_all(&junk).await;
                    s
                });
                idle.push(w);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut payload = b"a".to_vec();
            payload.extend(Rng::new(1).bytes(100_000));
            assert!(round_trip(addr, payload.clone()).await == payload);
            for w in idle {
                w.abort();
            }
        });
    });
}

#[test]
fn outgoing_connection_eof_and_shutdown() {
    let engine = Engine::new(&EngineOptions {
        flags: urocket::sys::URK_ENGINE_NO_LISTEN,
        ..Default::default()
    })
    .unwrap();
    engine.start().unwrap();
    let reactor = engine.reactor(0).unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt(), async move {
        let lr = LocalReactor::new(reactor).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap(); // ends at our shutdown
            s.write_all(b"bye").await.unwrap();
            got // dropped: closes
        });
        let mut s = lr.connect(addr).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        s.write_all(b"hello ").await.unwrap();
        s.write_all(b"world").await.unwrap();
        s.shutdown().await.unwrap(); // FIN after the queued bytes; reading goes on
        assert!(s.write_all(b"x").await.is_err(), "no writes after shutdown");
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"bye");
        assert_eq!(peer.await.unwrap(), b"hello world");
        assert_eq!(s.read(&mut [0u8; 8]).await.unwrap(), 0, "EOF stays EOF");

        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = lr.connect(refused).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
    engine.stop(Duration::ZERO).unwrap();
}

#[test]
fn serve_helper_runs_until_stopped() {
    // serve() binds with the defaults; here through Server for the port.
    let server = Server::bind(&EngineOptions::default()).unwrap();
    let engine = server.engine().clone();
    let addr = server.local_addr().unwrap();
    let t = std::thread::spawn(move || server.run(echo));
    let back = rt().block_on(round_trip(addr, b"ping".to_vec()));
    assert_eq!(back, b"ping");
    engine.stop(Duration::ZERO).unwrap();
    t.join().unwrap().unwrap();
    // A bad address is reported, not a panic.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = urocket::tokio::serve(busy.local_addr().unwrap(), echo).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn read_to_eof_then_reply() {
    // The client sends its request and shuts down its write half; the
    // handler reads to EOF and still replies (URK_ENGINE_HALF_CLOSE, set by
    // Server::bind), then drops the stream, which closes the connection.
    let handler = |mut s: Stream| async move {
        let mut req = Vec::new();
        s.read_to_end(&mut req).await?;
        s.write_all(format!("got {} bytes", req.len()).as_bytes())
            .await?;
        s.shutdown().await
    };
    with_server(EngineOptions::default(), handler, |addr| {
        rt().block_on(async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(&vec![7u8; 300_000]).await.unwrap();
            s.shutdown().await.unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).await.unwrap();
            assert_eq!(reply, "got 300000 bytes");
        });
    });
}

#[test]
fn posted_closures_run_on_the_reactor_thread() {
    let server = Server::bind(&EngineOptions::default()).unwrap();
    let engine = server.engine().clone();
    let waker = engine.waker(0).unwrap();
    let t = std::thread::spawn(move || server.run(echo));
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..3 {
        let tx = tx.clone();
        waker
            .post(move |r| {
                tx.send((i, r.index().unwrap(), std::thread::current().id()))
                    .unwrap();
            })
            .unwrap();
    }
    let got: Vec<_> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [0, 1, 2],
        "in order"
    );
    assert!(got
        .iter()
        .all(|g| g.1 == 0 && g.2 == got[0].2 && g.2 != std::thread::current().id()));
    engine.stop(Duration::ZERO).unwrap();
    t.join().unwrap().unwrap();
    let err = waker.post(|_| ()).unwrap_err();
    assert_eq!(err.kind(), urocket::ErrorKind::State, "the reactor stopped");
}

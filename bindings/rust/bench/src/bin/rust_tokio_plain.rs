//! The same HTTP benchmark server on tokio's own TcpListener (epoll through
//! mio), built from the same Debian crates: one current-thread runtime per
//! thread, each with its own SO_REUSEPORT listener.
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use urocket_bench::{args, count_requests, Responses};

async fn conn(mut s: tokio::net::TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let responses = Responses::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut state = 0u8;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut count = count_requests(&buf[..n], &mut state);
        while count > 0 {
            let k = count.min(Responses::MAX);
            s.write_all(responses.slice(k)).await?;
            count -= k;
        }
    }
}

fn run(addr: SocketAddr) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.set_reuseaddr(true)?;
        sock.set_reuseport(true)?;
        sock.bind(addr)?;
        let listener = sock.listen(4096)?;
        loop {
            let (s, _) = listener.accept().await?;
            tokio::task::spawn_local(async move {
                let _ = conn(s).await;
            });
        }
    })
}

fn main() -> std::io::Result<()> {
    let (port, threads) = args();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    println!("listening on {addr}");
    let ts: Vec<_> = (0..threads.max(1))
        .map(|_| std::thread::spawn(move || run(addr)))
        .collect();
    for t in ts {
        t.join().expect("server thread")?;
    }
    Ok(())
}

//! HTTP benchmark server on urocket::tokio: one current-thread runtime per
//! reactor, a task per connection reading and writing its Stream.
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use urocket::EngineOptions;
use urocket_bench::{args, count_requests, Responses};

fn main() -> std::io::Result<()> {
    let (port, reactors) = args();
    let server = urocket::tokio::Server::bind(&EngineOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        reactors,
        ..EngineOptions::default()
    })?;
    println!("listening on {}", server.local_addr()?);
    server.run(|mut stream| async move {
        let responses = Responses::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut state = 0u8;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            let mut count = count_requests(&buf[..n], &mut state);
            while count > 0 {
                let k = count.min(Responses::MAX);
                stream.write_all(responses.slice(k)).await?;
                count -= k;
            }
        }
    })
}

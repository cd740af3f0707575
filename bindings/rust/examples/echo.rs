//! Echo server: every byte read is written back.
//!
//!     cargo run --example echo -- [port] [reactors]
//!
//! Pull mode: one thread per reactor polls batches of events. A client that
//! sends faster than it reads hits the send limit; this server then stops
//! reading from it (pause_recv) until the engine says it is writable again,
//! keeping what it could not yet queue, so nothing is lost.
use std::collections::HashMap;
use std::net::SocketAddr;
use urocket::{ConnId, Engine, EngineOptions, ErrorKind, Event, Reactor, SendFlags};

fn serve(mut reactor: Reactor) -> urocket::Result<()> {
    // Bytes we owe a client that hit its send limit, sent once it is writable.
    let mut owed: HashMap<ConnId, Vec<u8>> = HashMap::new();
    loop {
        let events = reactor.poll(None)?;
        for ev in events.iter() {
            match ev {
                Event::Data { conn, data, .. } => {
                    if let Some(o) = owed.get_mut(&conn) {
                        o.extend_from_slice(data); // keep order behind what is owed
                        continue;
                    }
                    match events.send(conn, data) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            owed.insert(conn, data.to_vec());
                            events.pause_recv(conn, true)?;
                        }
                        _ => {} // sent, or the connection is already gone
                    }
                }
                Event::Writable { conn, .. } => {
                    if let Some(o) = owed.remove(&conn) {
                        // Over the limit on purpose: reading is paused, so
                        // this is bounded by what arrived meanwhile.
                        let force = SendFlags {
                            force: true,
                            ..SendFlags::default()
                        };
                        let _ = events.send_with(conn, &o, force, 0);
                        let _ = events.pause_recv(conn, false);
                    }
                }
                Event::Closed { conn, .. } => {
                    owed.remove(&conn);
                }
                _ => {}
            }
        }
    }
}

fn main() -> urocket::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(7000);
    let opts = EngineOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        reactors: args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1),
        ..EngineOptions::default()
    };
    let engine = Engine::new(&opts)?;
    engine.start()?;
    println!(
        "listening on {} with {} reactor(s)",
        engine.local_addr()?,
        engine.reactor_count()?
    );
    let workers: Vec<_> = (0..engine.reactor_count()?)
        .map(|i| {
            engine
                .reactor(i)
                .map(|r| std::thread::spawn(move || serve(r)))
        })
        .collect::<urocket::Result<_>>()?;
    for w in workers {
        w.join().expect("reactor thread panicked")?;
    }
    Ok(())
}

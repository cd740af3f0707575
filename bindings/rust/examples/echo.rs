//! Echo server: every byte read is written back.
//!
//!     cargo run --example echo -- [port] [reactors]
//!
//! Pull mode: one thread per reactor polls batches of events. A client that
//! sends faster than it reads hits the send limit; this server then stops
//! reading from it (pause_recv) until the engine says it is writable again,
//! keeping what it could not yet queue, so nothing is lost.
use std::collections::HashMap;
use urocket::{ConnId, Engine, EngineOptions, ErrorKind, Event, Reactor, SendFlags};

fn serve(reactor: Reactor<'_>) -> urocket::Result<()> {
    let mut events = reactor.events(256);
    // Bytes we owe a client that hit its send limit, sent once it is writable.
    let mut backlog: HashMap<ConnId, Vec<u8>> = HashMap::new();
    loop {
        // Bounded wait: see the README's "Known issues" on peer closes.
        events.poll(Some(std::time::Duration::from_millis(100)))?;
        for ev in events.iter() {
            match ev {
                Event::Data { conn, data, .. } => {
                    if let Some(owed) = backlog.get_mut(&conn) {
                        owed.extend_from_slice(data); // keep order behind what is owed
                        continue;
                    }
                    match reactor.send(conn, data) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            backlog.insert(conn, data.to_vec());
                            reactor.pause_recv(conn, true)?;
                        }
                        _ => {} // sent, or the connection is already gone
                    }
                }
                Event::Writable { conn, .. } => {
                    if let Some(owed) = backlog.remove(&conn) {
                        let force = SendFlags {
                            force: true,
                            ..SendFlags::default()
                        };
                        let _ = reactor.send_with(conn, &owed, force, 0);
                        let _ = reactor.pause_recv(conn, false);
                    }
                }
                Event::Closed { conn, .. } => {
                    backlog.remove(&conn);
                }
                _ => {}
            }
        }
    }
}

fn main() -> urocket::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let opts = EngineOptions {
        port: args.get(1).and_then(|p| p.parse().ok()).unwrap_or(7000),
        reactors: args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1),
        ..EngineOptions::default()
    };
    let engine = Engine::new(&opts)?;
    engine.start()?;
    println!(
        "listening on 127.0.0.1:{} with {} reactor(s)",
        engine.port()?,
        engine.reactor_count()?
    );
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for i in 0..engine.reactor_count()? {
            let reactor = engine.reactor(i)?;
            workers.push(s.spawn(move || serve(reactor)));
        }
        for w in workers {
            w.join().expect("reactor thread panicked")?;
        }
        Ok(())
    })
}

//! HTTP benchmark server on the urocket pull loop: one thread per reactor.
//! A connection's request-terminator state lives in the engine's per-
//! connection user value, so the hot path needs no map lookup.
use std::collections::HashMap;
use std::net::SocketAddr;
use urocket::{ConnId, Engine, EngineOptions, ErrorKind, Event, Reactor, SendFlags};
use urocket_bench::{args, count_requests, Responses};

fn serve(mut reactor: Reactor) -> urocket::Result<()> {
    let responses = Responses::new();
    // Responses owed to clients over their send limit (pipelining floods).
    let mut owed: HashMap<ConnId, usize> = HashMap::new();
    loop {
        let events = reactor.poll(None)?;
        for ev in events.iter() {
            match ev {
                Event::Data { conn, data, user } => {
                    let mut state = user as u8;
                    let n = count_requests(data, &mut state);
                    if state as u64 != user {
                        let _ = events.set_user(conn, state as u64);
                    }
                    if n == 0 {
                        continue;
                    }
                    if let Some(o) = owed.get_mut(&conn) {
                        *o += n;
                        continue;
                    }
                    let mut sent = 0;
                    let r = responses.each(n, |b| {
                        events.send(conn, b)?;
                        sent += b.len() / urocket_bench::RESPONSE.len();
                        Ok::<(), urocket::Error>(())
                    });
                    if let Err(e) = r {
                        if e.kind() == ErrorKind::WouldBlock {
                            owed.insert(conn, n - sent);
                            let _ = events.pause_recv(conn, true);
                        }
                    }
                }
                Event::Writable { conn, .. } => {
                    if let Some(n) = owed.remove(&conn) {
                        let force = SendFlags {
                            force: true,
                            ..SendFlags::default()
                        };
                        let _ = responses.each(n, |b| events.send_with(conn, b, force, 0));
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
    let (port, reactors) = args();
    let engine = Engine::new(&EngineOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        reactors,
        ..EngineOptions::default()
    })?;
    engine.start()?;
    println!("listening on {}", engine.local_addr()?);
    let threads: Vec<_> = (0..engine.reactor_count()?)
        .map(|i| {
            engine
                .reactor(i)
                .map(|r| std::thread::spawn(move || serve(r)))
        })
        .collect::<urocket::Result<_>>()?;
    for t in threads {
        t.join().expect("reactor thread")?;
    }
    Ok(())
}

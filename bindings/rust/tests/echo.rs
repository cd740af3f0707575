//! Echo integrity over loopback through the engine: random payloads from
//! several std clients, outgoing connections made by the engine itself,
//! native mode, and the load generator.
mod common;
use common::{connect, round_trip, Rng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use urocket::*;

/// Pull-mode echo loop for one reactor, until `stop` is set (and the reactor
/// woken). Connections opened with a non-zero tag are this test's own clients:
/// `on_client` gets their events instead.
fn echo_loop(
    mut reactor: Reactor,
    stop: &AtomicBool,
    mut on_client: impl FnMut(&Reactor, &Event<'_>),
) {
    reactor.set_batch_size(128);
    let mut owed: HashMap<ConnId, Vec<u8>> = HashMap::new();
    let mut clients: Vec<ConnId> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let events = reactor.poll(None).expect("poll");
        let reactor: &Reactor = &events;
        for ev in events.iter() {
            if let Event::Open { conn, tag, .. } = &ev {
                if *tag != 0 {
                    clients.push(*conn);
                    on_client(reactor, &ev);
                    continue;
                }
            }
            let conn = ev.conn();
            if clients.contains(&conn) || matches!(ev, Event::ConnectFailed { .. }) {
                on_client(reactor, &ev);
                continue;
            }
            match ev {
                Event::Data { conn, data, .. } => {
                    if let Some(o) = owed.get_mut(&conn) {
                        o.extend_from_slice(data);
                    } else if let Err(e) = reactor.send(conn, data) {
                        assert_eq!(e.kind(), ErrorKind::WouldBlock, "send: {e}");
                        owed.insert(conn, data.to_vec());
                        reactor.pause_recv(conn, true).unwrap();
                    }
                }
                Event::Writable { conn, .. } => {
                    if let Some(o) = owed.remove(&conn) {
                        reactor
                            .send_with(
                                conn,
                                &o,
                                SendFlags {
                                    force: true,
                                    notify: false,
                                },
                                0,
                            )
                            .unwrap();
                        reactor.pause_recv(conn, false).unwrap();
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

#[test]
fn random_payloads_from_several_clients() {
    let engine = Engine::new(&EngineOptions {
        reactors: 2,
        buf_count: 256,
        ..Default::default()
    })
    .unwrap();
    engine.start().unwrap();
    let port = engine.port().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut servers = Vec::new();
        for i in 0..2 {
            let r = engine.reactor(i).unwrap();
            assert!(engine.reactor(i).is_err(), "handed out once");
            let stop = &stop;
            servers.push(s.spawn(move || echo_loop(r, stop, |_, _| {})));
        }
        let clients: Vec<_> = (0..4)
            .map(|c| {
                s.spawn(move || {
                    let mut rng = Rng::new(100 + c);
                    let sock = connect(port);
                    for _ in 0..25 {
                        // Mostly small, sometimes far larger than a receive buffer.
                        let len = if rng.below(4) == 0 {
                            1 + rng.below(300_000)
                        } else {
                            1 + rng.below(2000)
                        };
                        let payload = rng.bytes(len as usize);
                        assert!(
                            round_trip(&sock, &payload) == payload,
                            "echo of {len} bytes differs"
                        );
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        stop.store(true, Ordering::Release);
        for i in 0..2 {
            engine.waker(i).unwrap().wake().unwrap();
        }
        for srv in servers {
            srv.join().unwrap();
        }
    });
    assert_eq!(engine.stats().unwrap().accepted, 4);
    engine.stop(Duration::from_millis(100)).unwrap();
}

#[test]
fn backpressure_keeps_every_byte() {
    let engine = Engine::new(&EngineOptions {
        send_limit: 32 * 1024,
        buf_count: 64,
        ..Default::default()
    })
    .unwrap();
    engine.start().unwrap();
    let port = engine.port().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let r = engine.reactor(0).unwrap();
        let stop_ref = &stop;
        let server = s.spawn(move || echo_loop(r, stop_ref, |_, _| {}));
        let payload = Rng::new(7).bytes(3 << 20);
        let sock = connect(port);
        // round_trip reads only after its writer started: the server hits its
        // 32 KiB send limit long before the 3 MiB are through.
        assert!(
            round_trip(&sock, &payload) == payload,
            "3 MiB echo under backpressure"
        );
        stop.store(true, Ordering::Release);
        engine.waker(0).unwrap().wake().unwrap();
        server.join().unwrap();
    });
}

#[test]
fn outgoing_connections_through_the_engine() {
    // One reactor serves the echo and also runs three clients of its own.
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let addr = engine.local_addr().unwrap();
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let r = engine.reactor(0).unwrap();
        let (stop, finished) = (&stop, &finished);
        s.spawn(move || {
            struct Client {
                payload: Vec<u8>,
                got: Vec<u8>,
            }
            let mut rng = Rng::new(9);
            let mut clients: HashMap<ConnId, Client> = HashMap::new();
            for tag in 1..=3u64 {
                r.connect(addr, tag).unwrap();
            }
            echo_loop(r, stop, |re, ev| match ev {
                Event::Open { conn, tag, .. } => {
                    assert!(*tag >= 1 && *tag <= 3, "connect tag comes back");
                    let len = 1 + rng.below(100_000) as usize;
                    let payload = rng.bytes(len);
                    re.send_with(
                        *conn,
                        &payload,
                        SendFlags {
                            force: true,
                            notify: false,
                        },
                        0,
                    )
                    .unwrap();
                    clients.insert(
                        *conn,
                        Client {
                            payload,
                            got: Vec::new(),
                        },
                    );
                }
                Event::Data { conn, data, .. } => {
                    let c = clients.get_mut(conn).unwrap();
                    c.got.extend_from_slice(data);
                    if c.got.len() == c.payload.len() {
                        assert!(c.got == c.payload, "client echo differs");
                        re.close(*conn).unwrap();
                    }
                }
                Event::Closed { reason, .. } => {
                    assert_eq!(
                        reason.as_ref().unwrap(),
                        &CloseReason::Local,
                        "closed by us"
                    );
                    if finished.fetch_add(1, Ordering::AcqRel) + 1 == 3 {
                        stop.store(true, Ordering::Release);
                    }
                }
                Event::ConnectFailed { error, .. } => panic!("connect failed: {error}"),
                _ => {}
            });
        });
    });
    assert_eq!(finished.load(Ordering::Acquire), 3);
    let st = engine.reactor_stats(0).unwrap();
    assert_eq!(st.connected, 3);
    assert_eq!(st.accepted, 3);
}

struct NativeEcho {
    closed: std::sync::Arc<AtomicUsize>,
}

impl Handler for NativeEcho {
    fn on_data(&self, r: &NativeReactor<'_>, conn: ConnId, data: &[u8]) {
        r.send_with(
            conn,
            data,
            SendFlags {
                force: true,
                notify: false,
            },
            0,
        )
        .unwrap();
    }
    fn on_close(
        &self,
        _r: &NativeReactor<'_>,
        _conn: ConnId,
        reason: std::io::Result<CloseReason>,
    ) {
        assert!(reason.is_ok(), "{reason:?}");
        self.closed.fetch_add(1, Ordering::AcqRel);
    }
}

#[test]
fn native_mode_echo() {
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    let closed = std::sync::Arc::new(AtomicUsize::new(0));
    engine
        .start_native(NativeEcho {
            closed: closed.clone(),
        })
        .unwrap();
    let mut rng = Rng::new(3);
    {
        let sock = connect(engine.port().unwrap());
        for _ in 0..20 {
            let len = 1 + rng.below(50_000) as usize;
            let payload = rng.bytes(len);
            assert!(
                round_trip(&sock, &payload) == payload,
                "native echo differs"
            );
        }
    }
    engine.stop(Duration::from_millis(100)).unwrap();
    assert_eq!(closed.load(Ordering::Acquire), 1, "on_close ran once");
    assert_eq!(engine.stats().unwrap().accepted, 1);
}

#[test]
fn load_generator_against_the_engine() {
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let port = engine.port().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let r = engine.reactor(0).unwrap();
        let stop_ref = &stop;
        let server = s.spawn(move || echo_loop(r, stop_ref, |_, _| {}));
        let lg = LoadGen::new(&LoadGenOptions {
            port,
            framing: Framing::Fixed(16),
            request: vec![7u8; 16],
            connections: 4,
            max_requests: 2000,
            timeout: Some(Duration::from_secs(10)),
            ..Default::default()
        })
        .unwrap();
        lg.run().unwrap();
        let res = lg.result().unwrap();
        assert_eq!(res.responses, 2000);
        assert_eq!(res.requests, 2000);
        assert_eq!(
            res.err_connect + res.err_read + res.err_write + res.err_timeout + res.err_framing,
            0
        );
        assert_eq!(res.bytes_in, 32_000);
        assert_eq!((res.reconnects, res.non2xx), (0, 0));
        assert!(
            lg.status().unwrap().is_empty(),
            "no status codes without HTTP"
        );
        assert_eq!(lg.histogram().unwrap().total(), 2000);
        let p50 = lg.percentile(0.5).unwrap();
        assert!(p50 > Duration::ZERO && p50.as_nanos() as u64 <= res.lat_max_ns);
        stop.store(true, Ordering::Release);
        engine.waker(0).unwrap().wake().unwrap();
        server.join().unwrap();
    });
}

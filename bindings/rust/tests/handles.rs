//! Every handle is created, used a little, and dropped.
use std::time::Duration;
use urocket::*;

#[test]
fn ring_create_use_drop() {
    let ring = Ring::new(&RingOptions {
        sq_entries: 64,
        ..Default::default()
    })
    .unwrap();
    assert!(ring.fd().unwrap() >= 0);
    assert_eq!(ring.info().unwrap().sq_entries, 64);
    ring.prep_nop(42, 0).unwrap();
    let mut cqes = [Cqe::zeroed(); 4];
    let done = ring
        .complete(&mut cqes, 1, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].user_data, 42);
    assert_eq!(done[0].result().unwrap(), 0);
    assert!(ring.stats().unwrap().completed >= 1);
}

#[test]
fn bufring_receives_and_recycles() {
    use std::io::Write;
    let ring = Ring::with_defaults().unwrap();
    let mut br = BufRing::new(
        &ring,
        &BufRingOptions {
            count: 8,
            size: 256,
            group_id: 3,
            flags: 0,
        },
    )
    .unwrap();
    assert_eq!(br.group().unwrap(), 3);
    assert_eq!(br.available().unwrap(), 8);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    use std::os::fd::AsRawFd;
    ring.prep_recv_multishot(server.as_raw_fd(), 3, 7, 0)
        .unwrap();
    client.write_all(b"hello ring").unwrap();
    let mut cqes = [Cqe::zeroed(); 4];
    let done = ring
        .complete(&mut cqes, 1, Some(Duration::from_secs(5)))
        .unwrap();
    let c = done[0];
    assert_eq!(c.user_data, 7);
    assert_eq!(br.data(&c).unwrap(), b"hello ring");
    let bid = c.buffer_id().unwrap();
    assert_eq!(br.available().unwrap(), 7);
    br.recycle(&[bid]).unwrap();
    assert_eq!(br.available().unwrap(), 8);
    ring.prep_cancel(7, 8, 0).unwrap();
    ring.submit().unwrap();
}

#[test]
fn engine_create_start_stop_drop() {
    let engine = Engine::new(&EngineOptions {
        reactors: 2,
        buf_count: 64,
        ..Default::default()
    })
    .unwrap();
    assert!(engine.port().unwrap() > 0);
    assert_eq!(engine.local_addr().unwrap().port(), engine.port().unwrap());
    assert_eq!(engine.reactor_count().unwrap(), 2);
    assert_eq!(engine.reactor(1).unwrap().index().unwrap(), 1);
    assert!(engine.reactor(2).is_err(), "no third reactor");
    engine.start().unwrap();
    engine.stop(Duration::ZERO).unwrap();
    engine.clone().stop(Duration::ZERO).unwrap();
    assert_eq!(engine.stats().unwrap().accepted, 0);
}

#[test]
fn engine_dropped_without_start() {
    let engine = Engine::new(&EngineOptions {
        flags: sys::URK_ENGINE_NO_LISTEN,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(engine.reactor_count().unwrap(), 1);
}

#[test]
fn loadgen_create_drop() {
    let lg = LoadGen::new(&LoadGenOptions {
        port: 9,
        framing: Framing::Fixed(4),
        request: vec![1, 2, 3, 4],
        duration: Some(Duration::from_millis(100)),
        connections: 1,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(lg.result().unwrap().requests, 0);
    assert!(lg.timeline().unwrap().is_empty());
}

#[test]
fn address_round_trip() {
    let a = Addr::parse("127.0.0.1", 8080).unwrap();
    assert_eq!(a.to_string(), "127.0.0.1:8080");
    assert_eq!(a.to_socket_addr().unwrap().to_string(), "127.0.0.1:8080");
    let b = Addr::parse("::1", 443).unwrap();
    assert_eq!(b.to_string(), "[::1]:443");
    let c: Addr = "[::1]:80".parse::<std::net::SocketAddr>().unwrap().into();
    assert_eq!(c.to_string(), "[::1]:80");
}

#[test]
fn reactor_fd_is_its_eventfd() {
    use std::os::fd::{AsFd, AsRawFd};
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    let reactor = engine.reactor(0).unwrap();
    let fd = reactor.as_raw_fd();
    assert_eq!(
        fd,
        reactor.as_fd().as_raw_fd(),
        "one fd for the reactor's life"
    );
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    assert!(target.to_string_lossy().contains("eventfd"), "{target:?}");
}

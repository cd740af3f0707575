//! Error paths: bad arguments, stale connection ids, wrong threads and
//! states give the right error, with errno, name and the library's message.
mod common;
use common::connect;
use std::io::Read;
use std::time::Duration;
use urocket::*;

const EINVAL: i32 = 22;
const EEXIST: i32 = 17;
const EALREADY: i32 = 114;
const ECONNREFUSED: i32 = 111;

#[test]
fn error_carries_errno_name_and_message() {
    let e = Addr::parse("localhost", 80).unwrap_err();
    assert_eq!(e.errno(), EINVAL);
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.name(), "EINVAL");
    assert!(!e.message().is_empty());
    assert!(e.to_string().contains("EINVAL"), "{e}");
    let stale = Error::from_code(-sys::URK_ESTALE_ID);
    assert_eq!(stale.kind(), ErrorKind::StaleId);
    assert_eq!(stale.name(), "URK_ESTALE_ID");
    assert_eq!(Error::from_code(-999_999).name(), "UNKNOWN");
    assert_eq!(Error::from_code(i32::MIN).errno(), i32::MAX, "no overflow");
    let io: std::io::Error = Error::from_code(-ECONNREFUSED).into();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn shim_codes_have_their_kinds() {
    let k = |c: i32| Error::from_code(-c).kind();
    assert_eq!(k(sys::URK_ECLOSING), ErrorKind::Closing);
    assert_eq!(k(sys::URK_ENOTSUP), ErrorKind::NotSupported);
    assert_eq!(k(sys::URK_ESTATE), ErrorKind::State);
    assert_eq!(k(sys::URK_ETHREAD), ErrorKind::WrongThread);
    assert_eq!(k(sys::URK_EFRAMING), ErrorKind::Framing);
    assert_eq!(k(11), ErrorKind::WouldBlock);
}

#[test]
fn bad_arguments() {
    let kind = |r: Result<()>| r.unwrap_err().kind();
    assert_eq!(
        kind(
            Ring::new(&RingOptions {
                sq_entries: 3,
                ..Default::default()
            })
            .map(drop)
        ),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(
            Engine::new(&EngineOptions {
                reactors: 65,
                ..Default::default()
            })
            .map(drop)
        ),
        ErrorKind::InvalidArgument
    );
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    let range = engine.reactor(1).unwrap_err();
    assert_eq!(range.errno(), 34, "ERANGE");
    assert_eq!(range.kind(), ErrorKind::InvalidArgument);
    let io: std::io::Error = range.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    assert!(engine.waker(1).is_err() && engine.reactor_stats(1).is_err());
    let _r = engine.reactor(0).unwrap();
    assert_eq!(
        engine.reactor(0).unwrap_err().kind(),
        ErrorKind::State,
        "handed out once"
    );
    let io: std::io::Error = Error::from_code(-sys::URK_ESTALE_ID).into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotConnected);
    let io: std::io::Error = Error::from_code(-11).into();
    assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(io.raw_os_error(), Some(11));
    assert_eq!(
        kind(
            LoadGen::new(&LoadGenOptions {
                port: 0,
                request: vec![1],
                ..Default::default()
            })
            .map(drop)
        ),
        ErrorKind::InvalidArgument
    );
    // SAFETY: the library checks its arguments; NULL is answered with -EINVAL.
    assert_eq!(
        unsafe { sys::urk_ring_opts_init(std::ptr::null_mut()) },
        -EINVAL
    );
    assert_eq!(
        unsafe { sys::urk_reactor_poll(std::ptr::null_mut(), std::ptr::null_mut(), 0, 0) },
        -EINVAL
    );

    let ring = Ring::with_defaults().unwrap();
    assert!(
        ring.prep_recv_multishot(0, 77, 1, 0).is_err(),
        "no such buffer group"
    );
    let mut br = BufRing::new(
        &ring,
        &BufRingOptions {
            count: 4,
            size: 64,
            group_id: 1,
            flags: 0,
        },
    )
    .unwrap();
    assert_eq!(
        br.recycle(&[0]).unwrap_err().errno(),
        EALREADY,
        "the kernel owns buffer 0"
    );
    assert_eq!(
        br.recycle(&[4]).unwrap_err().errno(),
        EINVAL,
        "out of range"
    );
    let taken = BufRing::new(
        &ring,
        &BufRingOptions {
            count: 4,
            size: 64,
            group_id: 1,
            flags: 0,
        },
    );
    assert_eq!(taken.err().unwrap().errno(), EEXIST, "group id taken");
    // A forged completion never yields a slice of memory outside the ring.
    let mut forged = Cqe::zeroed();
    forged.flags = sys::URK_CQE_F_BUFFER;
    forged.buf_group = 1;
    forged.buf = 0x1000 as *mut sys::c_void;
    forged.buf_len = 16;
    assert!(br.data(&forged).is_none());
}

#[test]
fn stale_ids_and_wrong_threads() {
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let mut r = engine.reactor(0).unwrap();
    let wait_for = |r: &mut Reactor, pred: &mut dyn FnMut(&Event<'_>) -> bool| {
        for _ in 0..100 {
            let events = r.poll(Some(Duration::from_millis(100))).unwrap();
            if events.iter().any(|e| pred(&e)) {
                return;
            }
        }
        panic!("event did not arrive");
    };
    let mut sock = connect(engine.port().unwrap());
    let mut id = ConnId(0);
    wait_for(&mut r, &mut |e| match e {
        Event::Open { conn, peer, tag } => {
            assert_eq!(*tag, 0, "accepted");
            assert_eq!(peer.ip().to_string(), "127.0.0.1");
            id = *conn;
            true
        }
        _ => false,
    });
    r.send(id, b"abc").unwrap();
    assert!(
        r.flush().unwrap() >= 1,
        "flush hands the send to the kernel"
    );
    let mut back = [0u8; 3];
    sock.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"abc");
    r.set_user(id, 99).unwrap();
    assert_eq!(r.user(id).unwrap(), 99);
    assert_eq!(r.peer(id).unwrap(), sock.local_addr().unwrap());

    // Another thread may wake the reactor; a handle moved away after its
    // first use is refused there.
    let waker = r.waker();
    let r = std::thread::spawn(move || {
        waker.wake().unwrap();
        assert_eq!(r.send(id, b"x").unwrap_err().kind(), ErrorKind::WrongThread);
        r
    })
    .join()
    .unwrap();
    let mut r = r;

    drop(sock);
    let mut user = 0;
    let mut reason = None;
    wait_for(&mut r, &mut |e| match e {
        Event::Closed {
            conn,
            user: u,
            reason: why,
        } if *conn == id => {
            user = *u;
            reason = Some(why.as_ref().map(|r| *r).map_err(|e| e.kind()));
            true
        }
        _ => false,
    });
    assert_eq!(user, 99, "CLOSED carries the user value");
    assert_eq!(reason, Some(Ok(CloseReason::Peer)));
    assert_eq!(r.send(id, b"x").unwrap_err().kind(), ErrorKind::StaleId);
    assert_eq!(r.close(id).unwrap_err().kind(), ErrorKind::StaleId);
    assert_eq!(r.set_user(id, 1).unwrap_err().kind(), ErrorKind::StaleId);
    assert_eq!(r.peer(id).unwrap_err().kind(), ErrorKind::StaleId);
    assert_eq!(
        r.send(ConnId(0), b"x").unwrap_err().kind(),
        ErrorKind::StaleId,
        "0 is never valid"
    );
    assert_eq!(
        r.send(id, b"").unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "empty send"
    );
    engine.stop(Duration::ZERO).unwrap();
    // After stop the handle reports the state, on any thread.
    assert_eq!(
        r.poll(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::State
    );
    assert_eq!(r.send(id, b"x").unwrap_err().kind(), ErrorKind::State);
    assert!(engine.is_stopped());
}

#[test]
fn stop_from_another_thread_ends_a_blocked_poll() {
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let mut r = engine.reactor(0).unwrap();
    let e2 = engine.clone();
    let t = std::thread::spawn(move || loop {
        match r.poll(None) {
            Ok(_) => continue,
            Err(e) => return e.kind(),
        }
    });
    // No timing assumption: stop waits until the poll is out of the library.
    std::thread::sleep(Duration::from_millis(20));
    e2.stop(Duration::ZERO).unwrap();
    assert_eq!(t.join().unwrap(), ErrorKind::State);
}

#[test]
fn polling_a_native_engine_is_a_state_error() {
    struct Nothing;
    impl Handler for Nothing {}
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start_native(Nothing).unwrap();
    assert_eq!(engine.reactor(0).unwrap_err().kind(), ErrorKind::State);
    engine.stop(Duration::ZERO).unwrap();
}

#[test]
fn timeouts_round_up() {
    // A sub-millisecond timeout waits (at least 1 ms), it does not return
    // at once as a busy poll would; 0 never waits.
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let mut r = engine.reactor(0).unwrap();
    let t0 = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(r.poll(Some(Duration::from_micros(10))).unwrap().len(), 0);
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(5),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(r.poll(Some(Duration::ZERO)).unwrap().len(), 0);
}

#[test]
fn refused_connect_is_reported() {
    let engine = Engine::new(&EngineOptions {
        flags: sys::URK_ENGINE_NO_LISTEN,
        ..Default::default()
    })
    .unwrap();
    engine.start().unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut r = engine.reactor(0).unwrap();
    let id = r
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], closed_port)), 5)
        .unwrap();
    for _ in 0..100 {
        let events = r.poll(Some(Duration::from_millis(100))).unwrap();
        for e in events.iter() {
            if let Event::ConnectFailed { conn, error, tag } = e {
                assert_eq!(conn, id);
                assert_eq!(tag, 5);
                assert_eq!(error.raw_os_error(), Some(ECONNREFUSED));
                assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
                return;
            }
        }
    }
    panic!("no CONNECT_FAILED");
}

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
    assert_eq!(
        kind(
            Engine::new(&EngineOptions {
                host: Some("1.2.3".into()),
                ..Default::default()
            })
            .map(drop)
        ),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(
            Engine::new(&EngineOptions {
                host: Some("a\0b".into()),
                ..Default::default()
            })
            .map(drop)
        ),
        ErrorKind::InvalidArgument
    );
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
    let mut engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let r = engine.reactor(0).unwrap();
    let mut events = r.events(16);
    let mut wait_for = |pred: &mut dyn FnMut(&Event<'_>) -> bool| {
        for _ in 0..100 {
            events.poll(Some(Duration::from_millis(100))).unwrap();
            if events.iter().any(|e| pred(&e)) {
                return;
            }
        }
        panic!("event did not arrive");
    };
    let mut sock = connect(engine.port().unwrap());
    let mut id = ConnId(0);
    wait_for(&mut |e| match e {
        Event::Open { conn, peer, tag } => {
            assert_eq!(*tag, 0, "accepted");
            assert_eq!(peer.to_socket_addr().unwrap().ip().to_string(), "127.0.0.1");
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
    assert_eq!(
        r.peer(id).unwrap().to_socket_addr().unwrap(),
        sock.local_addr().unwrap()
    );

    // Another thread may wake the reactor, not use it.
    std::thread::scope(|s| {
        s.spawn(|| {
            r.wake().unwrap();
            assert!(r.stats().is_ok());
            assert_eq!(r.send(id, b"x").unwrap_err().kind(), ErrorKind::WrongThread);
        });
    });

    drop(sock);
    let mut user = 0;
    wait_for(&mut |e| match e {
        Event::Closed { conn, user: u, .. } if *conn == id => {
            user = *u;
            true
        }
        _ => false,
    });
    assert_eq!(user, 99, "CLOSED carries the user value");
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
    drop(events);
    engine.stop(Duration::ZERO).unwrap();
}

#[test]
fn polling_a_native_engine_is_a_state_error() {
    struct Nothing;
    impl Handler for Nothing {}
    let mut engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start_native(Nothing).unwrap();
    let mut events = engine.reactor(0).unwrap().events(4);
    assert_eq!(
        events.poll(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::State
    );
    drop(events);
    engine.stop(Duration::ZERO).unwrap();
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
    let r = engine.reactor(0).unwrap();
    let id = r
        .connect(&Addr::parse("127.0.0.1", closed_port).unwrap(), 5)
        .unwrap();
    let mut events = r.events(8);
    for _ in 0..100 {
        events.poll(Some(Duration::from_millis(100))).unwrap();
        for e in events.iter() {
            if let Event::ConnectFailed { conn, error, tag } = e {
                assert_eq!(conn, id);
                assert_eq!(tag, 5);
                assert_eq!(error.errno(), ECONNREFUSED);
                return;
            }
        }
    }
    panic!("no CONNECT_FAILED");
}

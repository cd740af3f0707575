//! URK_ENGINE_HALF_CLOSE in pull and native mode (Event::Eof, on_eof), and
//! work posted to a reactor (Waker::post) in both modes.
mod common;
use common::connect;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::time::Duration;
use urocket::*;

#[test]
fn pull_mode_reads_to_eof_then_replies() {
    let engine = Engine::new(&EngineOptions {
        flags: sys::URK_ENGINE_HALF_CLOSE,
        ..Default::default()
    })
    .unwrap();
    engine.start().unwrap();
    let mut r = engine.reactor(0).unwrap();
    let mut sock = connect(engine.port().unwrap());
    sock.write_all(b"request").unwrap();
    sock.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    let (mut eof, mut closed) = (false, false);
    for _ in 0..200 {
        let events = r.poll(Some(Duration::from_millis(50))).unwrap();
        for ev in events.iter() {
            match ev {
                Event::Data { data, .. } => {
                    assert!(!eof, "no data after EOF");
                    got.extend_from_slice(data);
                }
                Event::Eof { conn, .. } => {
                    eof = true;
                    events.send(conn, b"reply").unwrap(); // still writable
                    events.close(conn).unwrap();
                }
                Event::Closed { reason, .. } => {
                    assert!(eof);
                    assert_eq!(reason.unwrap(), CloseReason::Local);
                    closed = true;
                }
                _ => {}
            }
        }
        if closed {
            break;
        }
    }
    assert!(eof && closed, "EOF, then our close");
    assert_eq!(got, b"request");
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"reply");
}

#[test]
fn pull_mode_runs_posts_inside_poll() {
    let engine = Engine::new(&EngineOptions::default()).unwrap();
    engine.start().unwrap();
    let mut r = engine.reactor(0).unwrap();
    let waker = r.waker();
    let (tx, rx) = mpsc::channel();
    let poster = std::thread::spawn(move || {
        for i in 0..5 {
            let tx = tx.clone();
            waker
                .post(move |re| tx.send((i, re.index().unwrap())).unwrap())
                .unwrap();
        }
    });
    poster.join().unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        drop(r.poll(Some(Duration::from_millis(20))).unwrap());
        got.extend(rx.try_iter());
        if got.len() == 5 {
            break;
        }
    }
    assert_eq!(got, (0..5).map(|i| (i, 0)).collect::<Vec<_>>());
    // Posts still queued at stop run on the stopping thread, none is lost.
    let (tx, rx) = mpsc::channel();
    r.waker().post(move |_| tx.send(()).unwrap()).unwrap();
    engine.stop(Duration::ZERO).unwrap();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("ran at stop");
}

struct EofReply;
impl Handler for EofReply {
    fn on_data(&self, r: &NativeReactor<'_>, conn: ConnId, data: &[u8]) {
        let _ = r.set_user(conn, r.user(conn).unwrap() + data.len() as u64);
    }
    fn on_eof(&self, r: &NativeReactor<'_>, conn: ConnId) {
        let n = r.user(conn).unwrap();
        r.send(conn, format!("{n}").as_bytes()).unwrap();
        r.close(conn).unwrap();
    }
}

#[test]
fn native_mode_on_eof_and_posts() {
    let engine = Engine::new(&EngineOptions {
        flags: sys::URK_ENGINE_HALF_CLOSE,
        ..Default::default()
    })
    .unwrap();
    engine.start_native(EofReply).unwrap();
    let mut sock = connect(engine.port().unwrap());
    sock.write_all(&[1u8; 100_000]).unwrap();
    sock.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    sock.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "100000");
    let (tx, rx) = mpsc::channel();
    engine
        .waker(0)
        .unwrap()
        .post(move |r| tx.send(r.index().unwrap()).unwrap())
        .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 0);
    engine.stop(Duration::ZERO).unwrap();
}

//! Received bytes stay put while the safe layer lends them out, whatever
//! happens meanwhile: with one receive buffer per reactor (`buf_count: 1`)
//! any early release would let the kernel overwrite "AAAA" with "BBBB".
//! The misuses the types forbid are compile_fail doctests (src/soundness.rs).
mod common;
use common::connect;
use std::io::Write;
use std::time::Duration;
use urocket::*;

const FLAGS: [u32; 2] = [0, sys::URK_ENGINE_RELEASE_ON_POLL];

fn engine(flags: u32) -> Engine {
    let e = Engine::new(&EngineOptions {
        flags,
        buf_count: 1,
        ..Default::default()
    })
    .unwrap();
    e.start().unwrap();
    e
}

/// Polls until a DATA event, then runs `f` with the live batch and its bytes.
fn with_data<R>(r: &mut Reactor, f: impl FnOnce(&Events<'_>, &[u8]) -> R) -> R {
    for _ in 0..200 {
        let events = r.poll(Some(Duration::from_millis(50))).unwrap();
        let data = events.iter().find_map(|e| match e {
            Event::Data { data, .. } => Some(data),
            _ => None,
        });
        if let Some(d) = data {
            return f(&events, d);
        }
    }
    panic!("no data arrived");
}

/// Sends "BBBB" and gives the engine time to try to receive it.
fn more(sock: &mut std::net::TcpStream) {
    sock.write_all(b"BBBB").unwrap();
    std::thread::sleep(Duration::from_millis(30));
}

#[test]
fn a_held_batch_survives_stop_on_its_thread() {
    for flags in FLAGS {
        let e = engine(flags);
        let mut r = e.reactor(0).unwrap();
        let mut sock = connect(e.port().unwrap());
        sock.write_all(b"AAAA").unwrap();
        with_data(&mut r, |_, d| {
            assert_eq!(d, b"AAAA");
            more(&mut sock);
            // The drain runs the reactor on this thread: it must not give
            // the held buffer back.
            e.stop(Duration::from_millis(50)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(d, b"AAAA", "flags {flags:#x}");
        });
    }
}

#[test]
fn a_held_batch_survives_stop_from_another_thread_and_engine_drop() {
    for flags in FLAGS {
        let e = engine(flags);
        let mut r = e.reactor(0).unwrap();
        let mut sock = connect(e.port().unwrap());
        sock.write_all(b"AAAA").unwrap();
        let e2 = e.clone();
        drop(e);
        with_data(&mut r, |_, d| {
            more(&mut sock);
            std::thread::spawn(move || {
                e2.stop(Duration::from_millis(20)).unwrap();
                drop(e2); // the last engine handle but the reactor's
            })
            .join()
            .unwrap();
            assert_eq!(d, b"AAAA", "flags {flags:#x}");
        });
    }
}

#[test]
fn the_next_poll_gets_fresh_bytes_only_after_the_batch_is_gone() {
    for flags in FLAGS {
        let e = engine(flags);
        let mut r = e.reactor(0).unwrap();
        let mut sock = connect(e.port().unwrap());
        sock.write_all(b"AAAA").unwrap();
        let copy = with_data(&mut r, |_, d| {
            more(&mut sock);
            assert_eq!(d, b"AAAA", "nothing refilled a held buffer");
            d.to_vec()
        });
        // Dropped: the single buffer is back, so BBBB can arrive.
        let next = with_data(&mut r, |_, d| d.to_vec());
        assert_eq!(
            (copy.as_slice(), next.as_slice()),
            (&b"AAAA"[..], &b"BBBB"[..])
        );
    }
}

#[test]
fn a_leaked_batch_is_given_back_by_the_next_poll() {
    for flags in FLAGS {
        let e = engine(flags);
        let mut r = e.reactor(0).unwrap();
        let mut sock = connect(e.port().unwrap());
        for round in 0..3u8 {
            let msg = [b'a' + round; 4];
            sock.write_all(&msg).unwrap();
            for _ in 0..200 {
                let events = r.poll(Some(Duration::from_millis(50))).unwrap();
                let got = events
                    .iter()
                    .any(|e| matches!(e, Event::Data { data, .. } if data == msg));
                // Leaking the batch must not starve the one-buffer reactor.
                std::mem::forget(events);
                if got {
                    break;
                }
                assert!(round < 3);
            }
        }
        assert_eq!(
            r.stats().unwrap().bufs_held,
            1,
            "only the last batch's buffer is out"
        );
        r.poll(Some(Duration::ZERO)).unwrap();
        assert_eq!(r.stats().unwrap().bufs_held, 0);
    }
}

//! The load generator against a small HTTP/1.1 server on loopback (std
//! TcpListener, a thread per connection): status counts, reconnects when the
//! server closes, weighted scenarios counted per kind, ramp, histograms, and
//! bad options. Every count is exact: a clean run with max_requests N sends
//! exactly N requests, so nothing here depends on timing.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use urocket::{ErrorKind, Histogram, LoadGen, LoadGenOptions, Request};

/// What the server saw and answered.
#[derive(Default, Debug)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    by_path: BTreeMap<String, u64>,
    closes: u64,
}

/// (path, 1-based request number over all connections, 1-based request
/// number on this connection) -> (status, close after the response).
type Policy = dyn Fn(&str, u64, u64) -> (u16, bool) + Send + Sync;

fn serve(policy: Arc<Policy>) -> (u16, Arc<Mutex<Tally>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let t = tally.clone();
    // The accept loop ends with the test process.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (policy, tally) = (policy.clone(), t.clone());
            std::thread::spawn(move || connection(stream, &*policy, &tally));
        }
    });
    (port, tally)
}

fn connection(stream: TcpStream, policy: &Policy, tally: &Mutex<Tally>) {
    stream.set_nodelay(true).unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut rd = BufReader::new(stream);
    let mut on_conn = 0u64;
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return; // the generator closed
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        on_conn += 1;
        let (status, close) = {
            // Counted before the answer leaves, so the tally is complete when
            // the generator has counted the response.
            let mut t = tally.lock().unwrap();
            t.requests += 1;
            let (status, close) = policy(&path, t.requests, on_conn);
            *t.by_status.entry(status).or_default() += 1;
            *t.by_path.entry(path).or_default() += 1;
            t.closes += u64::from(close);
            (status, close)
        };
        // 1xx, 204 and 304 have no body.
        let body = if matches!(status, 100..=199 | 204 | 304) {
            ""
        } else {
            "Content-Length: 5\r\n"
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\n{body}{}\r\n{}",
            if close { "Connection: close\r\n" } else { "" },
            if body.is_empty() { "" } else { "hello" }
        );
        if out.write_all(resp.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

fn opts(port: u16) -> LoadGenOptions {
    LoadGenOptions {
        port,
        timeout: Some(Duration::from_secs(10)),
        ..LoadGenOptions::default()
    }
}

fn kind<T>(r: urocket::Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

#[test]
fn status_counts_non2xx_and_reconnects() {
    // 200 and 404 alternately; every 7th response on a connection closes it.
    let (port, tally) = serve(Arc::new(|_: &str, k: u64, on_conn: u64| {
        (if k % 2 == 1 { 200 } else { 404 }, on_conn % 7 == 0)
    }));
    let lg = LoadGen::new(&LoadGenOptions {
        connections: 1,
        request: get("/"),
        max_requests: 200,
        ..opts(port)
    })
    .unwrap();
    lg.run().unwrap();
    let res = lg.result().unwrap();
    assert_eq!(res.errors(), 0, "{res:?}");
    assert_eq!((res.requests, res.responses), (200, 200));
    let status = lg.status().unwrap();
    assert_eq!(status, BTreeMap::from([(200, 100), (404, 100)]));
    assert_eq!(res.non2xx, 100);
    // Closes after responses 7, 14, ..., 196: each followed by more requests.
    assert_eq!(res.reconnects, 28);
    let t = tally.lock().unwrap();
    assert_eq!(t.requests, 200, "the server saw exactly what was counted");
    assert_eq!(t.by_status, status);
    assert_eq!(t.closes, 28);
    drop(t);

    // The histogram holds every latency and reproduces the percentiles.
    let h = lg.histogram().unwrap();
    assert_eq!(h.counts().len(), Histogram::BUCKETS);
    assert_eq!(h.total(), 200);
    assert!(res.lat_sum_ns >= res.lat_min_ns * 200 && res.lat_sum_ns <= res.lat_max_ns * 200);
    assert_eq!(res.lat_mean_ns, res.lat_sum_ns / 200);
    for q in [0.5, 0.9, 0.99, 0.999] {
        let ours = h.percentile(q).unwrap().as_nanos() as u64;
        let lib = lg.percentile(q).unwrap().as_nanos() as u64;
        assert_eq!(ours.clamp(res.lat_min_ns, res.lat_max_ns), lib, "q {q}");
    }
    assert!(h.percentile(0.5).unwrap().as_nanos() as u64 >= res.lat_p50_ns);

    // No scenario: no kinds to ask about.
    assert_eq!(lg.request_kinds(), 0);
    assert_eq!(kind(lg.request_result(0)), ErrorKind::InvalidArgument);
    assert_eq!(kind(lg.request_status(0)), ErrorKind::InvalidArgument);
    assert_eq!(kind(lg.request_histogram(0)), ErrorKind::InvalidArgument);
}

#[test]
fn weighted_scenario_counted_per_request() {
    let (port, tally) = serve(Arc::new(|path: &str, _: u64, _: u64| {
        (if path == "/a" { 200 } else { 404 }, false)
    }));
    let o = LoadGenOptions {
        connections: 2,
        max_requests: 400,
        ..opts(port)
    }
    .with_request(get("/a"), 3)
    .with_request(get("/b"), 1);
    let lg = LoadGen::new(&o).unwrap();
    drop(o); // the library copied the request bytes
    assert_eq!(lg.request_kinds(), 2);
    lg.run().unwrap();

    let res = lg.result().unwrap();
    assert_eq!(res.errors(), 0, "{res:?}");
    assert_eq!((res.requests, res.responses, res.non2xx), (400, 400, 100));
    assert_eq!(
        lg.status().unwrap(),
        BTreeMap::from([(200, 300), (404, 100)])
    );
    let t = tally.lock().unwrap();
    assert_eq!(
        t.by_path,
        BTreeMap::from([("/a".to_string(), 300), ("/b".to_string(), 100)])
    );
    drop(t);

    let a = lg.request_result(0).unwrap();
    let b = lg.request_result(1).unwrap();
    assert_eq!(
        (a.requests, a.responses, a.non2xx, a.errors()),
        (300, 300, 0, 0)
    );
    assert_eq!(
        (b.requests, b.responses, b.non2xx, b.errors()),
        (100, 100, 100, 0)
    );
    assert_eq!(a.elapsed_ns, res.elapsed_ns, "elapsed is the run's");
    assert_eq!((a.bytes_in, a.reconnects), (0, 0), "not split per kind");
    assert_eq!(lg.request_status(0).unwrap(), BTreeMap::from([(200, 300)]));
    assert_eq!(lg.request_status(1).unwrap(), BTreeMap::from([(404, 100)]));

    let (ha, hb) = (
        lg.request_histogram(0).unwrap(),
        lg.request_histogram(1).unwrap(),
    );
    assert_eq!((ha.total(), hb.total()), (300, 100));
    let mut merged = ha.clone();
    merged += &hb;
    assert_eq!(merged, lg.histogram().unwrap(), "kinds add up to the total");
    assert!(a.lat_min_ns >= res.lat_min_ns && a.lat_max_ns <= res.lat_max_ns);

    assert_eq!(kind(lg.request_result(2)), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(lg.request_status(usize::MAX)),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn ramp_run_completes_exactly() {
    let (port, tally) = serve(Arc::new(|_: &str, _: u64, _: u64| (204, false)));
    let lg = LoadGen::new(&LoadGenOptions {
        connections: 4,
        request: get("/"),
        max_requests: 100,
        ramp: Some(Duration::from_millis(100)),
        ..opts(port)
    })
    .unwrap();
    lg.run().unwrap();
    let res = lg.result().unwrap();
    assert_eq!(res.errors(), 0, "{res:?}");
    assert_eq!((res.requests, res.responses, res.non2xx), (100, 100, 0));
    assert_eq!(lg.status().unwrap(), BTreeMap::from([(204, 100)]));
    assert_eq!(tally.lock().unwrap().requests, 100);
}

#[test]
fn bad_scenarios_are_refused() {
    // Port 1 is never contacted: the options are checked at creation.
    let base = || LoadGenOptions {
        port: 1,
        max_requests: 1,
        ..LoadGenOptions::default()
    };
    let too_many = (0..33).fold(base(), |o, _| o.with_request(get("/"), 1));
    assert_eq!(kind(LoadGen::new(&too_many)), ErrorKind::InvalidArgument);
    let most = (0..32).fold(base(), |o, i| o.with_request(get(&format!("/{i}")), i));
    assert_eq!(LoadGen::new(&most).unwrap().request_kinds(), 32);

    let both = LoadGenOptions {
        request: get("/"),
        ..base().with_request(get("/a"), 1)
    };
    assert_eq!(kind(LoadGen::new(&both)), ErrorKind::InvalidArgument);
    let empty = base()
        .with_request(get("/a"), 1)
        .with_request(Vec::new(), 1);
    assert_eq!(kind(LoadGen::new(&empty)), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(LoadGen::new(&base())),
        ErrorKind::InvalidArgument,
        "no request at all"
    );

    let long_ramp = LoadGenOptions {
        request: get("/"),
        ramp: Some(Duration::from_millis(u64::from(u32::MAX) + 1)),
        ..base()
    };
    assert_eq!(kind(LoadGen::new(&long_ramp)), ErrorKind::InvalidArgument);
    let ok = LoadGenOptions {
        request: get("/"),
        ramp: Some(Duration::from_micros(1)),
        ..base()
    };
    assert!(LoadGen::new(&ok).is_ok());
    assert_eq!(
        Request::new(&b"x"[..], 2),
        Request {
            data: vec![b'x'],
            weight: 2
        }
    );
}

#[test]
fn histogram_layout_and_merge() {
    let n = Histogram::BUCKETS;
    assert_eq!(Histogram::bucket_range(0), 0..=0);
    assert_eq!(Histogram::bucket_range(127), 127..=127);
    assert_eq!(Histogram::bucket_range(128), 128..=128);
    assert_eq!(Histogram::bucket_range(256), 256..=257);
    for i in 0..n - 1 {
        let (r, next) = (Histogram::bucket_range(i), Histogram::bucket_range(i + 1));
        assert_eq!(
            r.end() + 1,
            *next.start(),
            "bucket {i} and the next are contiguous"
        );
        assert_eq!(Histogram::bucket_of(*r.start()), i);
        assert_eq!(Histogram::bucket_of(*r.end()), i);
        // At most 1/128 of the values wide.
        assert!((r.end() - r.start()) * 128 <= *r.start().max(&1));
    }
    assert_eq!(*Histogram::bucket_range(n - 1).start(), 255 << 36);
    assert_eq!(Histogram::bucket_of(1 << 44), n - 1);
    assert_eq!(Histogram::bucket_of(u64::MAX), n - 1);

    let mut counts = vec![0u64; n];
    counts[10] = 3; // 10 ns
    counts[Histogram::bucket_of(1_000_000)] = 1;
    let a = Histogram::from_counts(counts).unwrap();
    assert_eq!(a.total(), 4);
    assert_eq!(a.percentile(0.75), Some(Duration::from_nanos(10)));
    let top = a.percentile(1.0).unwrap().as_nanos() as u64;
    assert!(Histogram::bucket_range(Histogram::bucket_of(1_000_000)).contains(&top));
    assert!((1_000_000..=1_000_000 + 1_000_000 / 128).contains(&top));
    assert_eq!(a.percentile(1.5), None);
    assert_eq!(Histogram::new().percentile(0.5), None);
    let mut b = a.clone();
    b += &a;
    assert_eq!(b.total(), 8);
    assert_eq!(b.iter().map(|(_, c)| c).collect::<Vec<_>>(), vec![6, 2]);
    assert_eq!(
        kind(Histogram::from_counts(vec![0; n - 1])),
        ErrorKind::InvalidArgument
    );
}

use crate::error::{check, Error, Result};
use crate::sys;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::ops::{AddAssign, RangeInclusive};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How the load generator finds the end of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// Each response is this many bytes.
    Fixed(u32),
    /// Each response ends with these bytes.
    Delimited(Vec<u8>),
    /// HTTP/1.x: bodies by Content-Length, chunked or until the close;
    /// no body for 1xx, 204, 304 and `HEAD`; keep-alive, and a server that
    /// closes after a response is replaced (counted in `reconnects`).
    /// Responses are counted by status code ([`LoadGen::status`]).
    Http,
}

/// One kind of request of a scenario ([`LoadGenOptions::requests`]): the bytes
/// sent and the share of the requests it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The whole request, e.g. `GET /a HTTP/1.1\r\nHost: x\r\n\r\n`. A
    /// request starting with `HEAD ` expects answers without a body.
    pub data: Vec<u8>,
    /// Relative share: with weights 3 and 1, every run of 4 requests of a
    /// thread holds 3 of the first kind and 1 of the second, interleaved.
    /// 0 counts as 1.
    pub weight: u32,
}

impl Request {
    pub fn new(data: impl Into<Vec<u8>>, weight: u32) -> Request {
        Request {
            data: data.into(),
            weight,
        }
    }
}

/// Options of a load generator run.
#[derive(Debug, Clone)]
pub struct LoadGenOptions {
    pub host: String,
    pub port: u16,
    pub framing: Framing,
    pub connections: u32,
    pub threads: u32,
    /// Sent per request (copied). Leave empty when `requests` is used.
    pub request: Vec<u8>,
    /// A scenario: 1..=32 kinds of request chosen by weight and counted
    /// apart ([`LoadGen::request_result`] & co., by index in this list) as
    /// well as in the totals. Replaces `request`, which must then be empty.
    /// [`LoadGen::new`] copies the bytes: the options may be dropped or
    /// reused afterwards.
    pub requests: Vec<Request>,
    pub duration: Option<Duration>,
    pub max_requests: u64,
    /// Some(rate): open loop at `rate` requests per second, latency measured
    /// from the intended send time.
    pub open_loop_rate: Option<u64>,
    /// Per request and connect; None: 5 s.
    pub timeout: Option<Duration>,
    /// Pin thread i to cpu + i.
    pub cpu: Option<i32>,
    /// Some(ramp): the connections open one after another over `ramp` into
    /// the run (rounded up to whole milliseconds, at most u32::MAX ms)
    /// instead of all before it, so the load grows over that time.
    pub ramp: Option<Duration>,
}

impl LoadGenOptions {
    /// Adds one kind of request to the scenario (`requests`).
    pub fn with_request(mut self, data: impl Into<Vec<u8>>, weight: u32) -> Self {
        self.requests.push(Request::new(data, weight));
        self
    }
}

impl Default for LoadGenOptions {
    fn default() -> Self {
        LoadGenOptions {
            host: "127.0.0.1".into(),
            port: 0,
            framing: Framing::Http,
            connections: 64,
            threads: 1,
            request: Vec::new(),
            requests: Vec::new(),
            duration: None,
            max_requests: 0,
            open_loop_rate: None,
            timeout: None,
            cpu: None,
            ramp: None,
        }
    }
}

/// Totals of a run (or of one kind of request): counts, errors by kind,
/// latencies in nanoseconds, `reconnects` and `non2xx`.
pub type LoadGenResult = sys::urk_loadgen_result_t;
pub type LoadGenSecond = sys::urk_loadgen_second_t;

impl sys::urk_loadgen_result_t {
    /// Every error counted: connect, read, write, timeout and framing.
    pub fn errors(&self) -> u64 {
        self.err_connect
            .saturating_add(self.err_read)
            .saturating_add(self.err_write)
            .saturating_add(self.err_timeout)
            .saturating_add(self.err_framing)
    }
}

/// A latency histogram in the library's layout (`URK_LOADGEN_HIST_BUCKETS`
/// log-linear buckets: 128 per power of two, so a bucket is at most 1/128 of
/// its values wide). Histograms of several runs, processes or machines
/// merge exactly with `+=`: percentiles of the sum are those one run of all
/// the samples would report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
}

const HIST_SUB: usize = 1 << sys::URK_LOADGEN_HIST_SUB_BITS;
// Values of 2^44 ns and more land in the last bucket.
const HIST_MAX_BITS: u32 = 44;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; Histogram::BUCKETS],
        }
    }
}

impl Histogram {
    /// Number of buckets (`URK_LOADGEN_HIST_BUCKETS`).
    pub const BUCKETS: usize = sys::URK_LOADGEN_HIST_BUCKETS as usize;

    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// From bucket counts saved earlier (e.g. by another process);
    /// [`crate::ErrorKind::InvalidArgument`] unless there are exactly
    /// [`Histogram::BUCKETS`].
    pub fn from_counts(counts: Vec<u64>) -> Result<Histogram> {
        if counts.len() != Histogram::BUCKETS {
            return Err(Error::from_code(-22));
        }
        Ok(Histogram { counts })
    }

    /// The count of each bucket.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of latencies recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// The bucket a latency of `ns` nanoseconds lands in.
    pub fn bucket_of(ns: u64) -> usize {
        if ns < HIST_SUB as u64 {
            return ns as usize;
        }
        let v = ns.min((1u64 << HIST_MAX_BITS) - 1);
        let k = 63 - v.leading_zeros();
        let shift = k - sys::URK_LOADGEN_HIST_SUB_BITS;
        let sub = (v >> shift) as usize - HIST_SUB;
        HIST_SUB + shift as usize * HIST_SUB + sub
    }

    /// The latencies (ns) bucket `index` holds; the last bucket holds
    /// everything from its low end up. Panics if `index >= BUCKETS`.
    pub fn bucket_range(index: usize) -> RangeInclusive<u64> {
        assert!(index < Histogram::BUCKETS, "bucket {index} out of range");
        if index == Histogram::BUCKETS - 1 {
            return Histogram::bucket_low(index)..=u64::MAX;
        }
        Histogram::bucket_low(index)..=Histogram::bucket_high(index)
    }

    fn bucket_low(index: usize) -> u64 {
        if index < HIST_SUB {
            return index as u64;
        }
        let j = index - HIST_SUB;
        ((HIST_SUB + j % HIST_SUB) as u64) << (j / HIST_SUB)
    }

    // The library's upper end, also for the last bucket (2^44 - 1).
    fn bucket_high(index: usize) -> u64 {
        if index < HIST_SUB {
            return index as u64;
        }
        let j = index - HIST_SUB;
        (((HIST_SUB + j % HIST_SUB + 1) as u64) << (j / HIST_SUB)) - 1
    }

    /// The latency at quantile `q` (0.0..=1.0, taken in parts per million as
    /// [`LoadGen::percentile`] does): the upper end of the bucket holding
    /// rank `ceil(q * total)` (at least 1). `None` when empty or `q` is out
    /// of range. The library clamps this to the run's min and max latency,
    /// which a histogram alone does not know: `clamp(lat_min_ns,
    /// lat_max_ns)` the value to get its figure exactly (for 0 < q < 1).
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        if !(0.0..=1.0).contains(&q) {
            return None;
        }
        let total = u128::from(self.total());
        if total == 0 {
            return None;
        }
        let ppm = (q * 1e6).round() as u128;
        let rank = (total * ppm).div_ceil(1_000_000).max(1);
        let mut seen = 0u128;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u128::from(c);
            if seen >= rank {
                return Some(Duration::from_nanos(Histogram::bucket_high(i)));
            }
        }
        None
    }

    /// Non-empty buckets as (range of ns, count), ascending.
    pub fn iter(&self) -> impl Iterator<Item = (RangeInclusive<u64>, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (Histogram::bucket_range(i), c))
    }
}

impl AddAssign<&Histogram> for Histogram {
    /// Merges `other` in, bucket by bucket.
    fn add_assign(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
    }
}

/// An io_uring load generator (`urk_loadgen_t`). `run` blocks the calling
/// thread; `stop`, `result` and friends work from any thread meanwhile.
pub struct LoadGen {
    ptr: NonNull<sys::urk_loadgen_t>,
    running: AtomicBool,
    kinds: u32,
}

// SAFETY: the library documents stop/result/percentile/timeline as callable
// from any thread, during or after a run; run is serialized by `running`.
unsafe impl Send for LoadGen {}
unsafe impl Sync for LoadGen {}

const RESULT_SIZE: u32 = std::mem::size_of::<LoadGenResult>() as u32;

fn einval() -> Error {
    Error::from_code(-22)
}

/// Whole milliseconds, rounded up (a 1 µs ramp is a ramp), for a u32 field.
fn ms_ceil_u32(d: Duration) -> Result<u32> {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).map_err(|_| einval())
}

/// (code, count) pairs from a status call, growing the arrays if codes
/// appeared between the sizing call and the copy (a run going on).
fn status_table(mut f: impl FnMut(*mut u32, *mut u64, u32) -> i32) -> Result<BTreeMap<u16, u64>> {
    let mut n = check(f(std::ptr::null_mut(), std::ptr::null_mut(), 0))?;
    loop {
        let mut codes = vec![0u32; n as usize];
        let mut counts = vec![0u64; n as usize];
        let avail = check(f(codes.as_mut_ptr(), counts.as_mut_ptr(), n))?;
        if avail <= n {
            return Ok(codes
                .into_iter()
                .zip(counts)
                .take(avail as usize)
                // Status codes are 100..999.
                .map(|(c, k)| (u16::try_from(c).unwrap_or(u16::MAX), k))
                .collect());
        }
        n = avail;
    }
}

fn histogram_of(f: impl FnOnce(*mut u64, u32) -> i32) -> Result<Histogram> {
    let mut h = Histogram::new();
    let n = check(f(h.counts.as_mut_ptr(), sys::URK_LOADGEN_HIST_BUCKETS))?;
    debug_assert_eq!(n as usize, Histogram::BUCKETS);
    Ok(h)
}

fn ms(d: Option<Duration>) -> u64 {
    d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl LoadGen {
    pub fn new(opts: &LoadGenOptions) -> Result<LoadGen> {
        crate::check_abi()?;
        let mut o = sys::urk_loadgen_opts_t::zeroed();
        // SAFETY: valid out pointer.
        check(unsafe { sys::urk_loadgen_opts_init(&mut o) })?;
        let host = CString::new(opts.host.as_str()).map_err(|_| einval())?;
        o.host = host.as_ptr();
        o.port = opts.port;
        match &opts.framing {
            Framing::Fixed(n) => {
                o.framing = sys::URK_FRAME_FIXED;
                o.response_len = *n;
            }
            Framing::Delimited(d) => {
                o.framing = sys::URK_FRAME_DELIM;
                o.delim = d.as_ptr().cast();
                o.delim_len = u32::try_from(d.len()).map_err(|_| einval())?;
            }
            Framing::Http => o.framing = sys::URK_FRAME_HTTP,
        }
        o.connections = opts.connections;
        o.threads = opts.threads;
        if !opts.request.is_empty() {
            o.request = opts.request.as_ptr().cast();
            o.request_len = u32::try_from(opts.request.len()).map_err(|_| einval())?;
        }
        // The library checks the count (1..=32), the bytes and that `request`
        // is not set too; it copies the bytes, so `kinds` need only live
        // through urk_loadgen_create.
        let kinds = opts
            .requests
            .iter()
            .map(|r| {
                let mut k = sys::urk_loadgen_request_t::zeroed();
                k.data = if r.data.is_empty() {
                    std::ptr::null()
                } else {
                    r.data.as_ptr().cast()
                };
                k.len = u32::try_from(r.data.len()).map_err(|_| einval())?;
                k.weight = r.weight;
                Ok(k)
            })
            .collect::<Result<Vec<_>>>()?;
        if !kinds.is_empty() {
            o.requests = kinds.as_ptr();
            o.nrequests = u32::try_from(kinds.len()).map_err(|_| einval())?;
        }
        if let Some(ramp) = opts.ramp {
            o.ramp_ms = ms_ceil_u32(ramp)?;
        }
        o.duration_ms = ms(opts.duration);
        o.max_requests = opts.max_requests;
        if let Some(rate) = opts.open_loop_rate {
            o.flags |= sys::URK_LOAD_OPEN_LOOP;
            o.rate = rate;
        }
        o.timeout_ms = ms(opts.timeout);
        o.cpu = opts.cpu.unwrap_or(-1);
        let mut raw = std::ptr::null_mut();
        // SAFETY: o and what it points to (host, request, delim, kinds and
        // their bytes) live through the call; the library copies them all.
        check(unsafe { sys::urk_loadgen_create(&o, &mut raw) })?;
        Ok(LoadGen {
            ptr: NonNull::new(raw).expect("urk_loadgen_create returned 0 and NULL"),
            running: AtomicBool::new(false),
            kinds: o.nrequests,
        })
    }

    pub fn as_ptr(&self) -> *mut sys::urk_loadgen_t {
        self.ptr.as_ptr()
    }

    /// Runs to completion on this thread (plus threads-1 helpers).
    /// [`crate::ErrorKind::State`] if a run is already going on.
    pub fn run(&self) -> Result<()> {
        if self.running.swap(true, Ordering::AcqRel) {
            return Err(Error::from_code(-sys::URK_ESTATE));
        }
        // SAFETY: live handle; one run at a time.
        let rc = unsafe { sys::urk_loadgen_run(self.as_ptr()) };
        self.running.store(false, Ordering::Release);
        check(rc).map(drop)
    }

    /// Ends a run early. Any thread.
    pub fn stop(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::urk_loadgen_stop(self.as_ptr()) }).map(drop)
    }

    /// Totals so far, every field (`reconnects`, `non2xx`, `lat_sum_ns`
    /// included). Any thread, during or after a run.
    pub fn result(&self) -> Result<LoadGenResult> {
        let mut r = LoadGenResult::zeroed();
        // SAFETY: live handle; r is a whole struct of the size passed.
        check(unsafe { sys::urk_loadgen_result_ex(self.as_ptr(), &mut r, RESULT_SIZE) })?;
        Ok(r)
    }

    /// HTTP responses by status code (empty for the other framings).
    pub fn status(&self) -> Result<BTreeMap<u16, u64>> {
        // SAFETY: live handle; status_table passes arrays of `max` entries
        // (NULL with 0).
        status_table(|c, k, max| unsafe { sys::urk_loadgen_status(self.as_ptr(), c, k, max) })
    }

    /// The latency histogram of the run, for merging with others.
    pub fn histogram(&self) -> Result<Histogram> {
        // SAFETY: live handle; histogram_of passes BUCKETS counts.
        histogram_of(|c, max| unsafe { sys::urk_loadgen_histogram(self.as_ptr(), c, max) })
    }

    /// The number of kinds of request of the scenario (0 without one).
    pub fn request_kinds(&self) -> usize {
        self.kinds as usize
    }

    fn kind_index(&self, index: usize) -> Result<u32> {
        u32::try_from(index)
            .ok()
            .filter(|&i| i < self.kinds)
            .ok_or_else(einval)
    }

    /// Totals of request kind `index` (its place in
    /// [`LoadGenOptions::requests`]): requests, responses, errors met while
    /// one of its requests was outstanding, `non2xx`, latency; `elapsed_ns`
    /// and `cpu_ns` are the run's; bytes and `reconnects` are not split (0).
    /// [`crate::ErrorKind::InvalidArgument`] for an index out of range or a
    /// run without a scenario.
    pub fn request_result(&self, index: usize) -> Result<LoadGenResult> {
        let i = self.kind_index(index)?;
        let mut r = LoadGenResult::zeroed();
        // SAFETY: live handle; r is a whole struct of the size passed.
        check(unsafe { sys::urk_loadgen_request_result(self.as_ptr(), i, &mut r, RESULT_SIZE) })?;
        Ok(r)
    }

    /// HTTP responses of request kind `index` by status code.
    pub fn request_status(&self, index: usize) -> Result<BTreeMap<u16, u64>> {
        let i = self.kind_index(index)?;
        // SAFETY: as in `status`.
        status_table(|c, k, max| unsafe {
            sys::urk_loadgen_request_status(self.as_ptr(), i, c, k, max)
        })
    }

    /// The latency histogram of request kind `index`.
    pub fn request_histogram(&self, index: usize) -> Result<Histogram> {
        let i = self.kind_index(index)?;
        // SAFETY: as in `histogram`.
        histogram_of(|c, max| unsafe {
            sys::urk_loadgen_request_histogram(self.as_ptr(), i, c, max)
        })
    }

    /// Latency at quantile q (0.0..=1.0).
    pub fn percentile(&self, q: f64) -> Result<Duration> {
        if !(0.0..=1.0).contains(&q) {
            return Err(Error::from_code(-22));
        }
        let mut ns = 0;
        // SAFETY: live handle, valid out pointer.
        check(unsafe {
            sys::urk_loadgen_percentile(self.as_ptr(), (q * 1e6).round() as u32, &mut ns)
        })?;
        Ok(Duration::from_nanos(ns))
    }

    /// Per-second samples of the run.
    pub fn timeline(&self) -> Result<Vec<LoadGenSecond>> {
        // SAFETY: live handle; NULL with max 0 asks for the count.
        let n =
            check(unsafe { sys::urk_loadgen_timeline(self.as_ptr(), std::ptr::null_mut(), 0) })?;
        let mut v = vec![LoadGenSecond::zeroed(); n as usize];
        if n > 0 {
            // SAFETY: v has room for n samples.
            let avail =
                check(unsafe { sys::urk_loadgen_timeline(self.as_ptr(), v.as_mut_ptr(), n) })?;
            v.truncate(avail.min(n) as usize);
        }
        Ok(v)
    }
}

impl Drop for LoadGen {
    fn drop(&mut self) {
        // SAFETY: we own the handle; no run can be going on (&mut self).
        unsafe { sys::urk_loadgen_destroy(self.as_ptr()) }
    }
}

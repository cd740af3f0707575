use crate::error::{check, Error, Result};
use crate::sys;
use std::ffi::CString;
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
    /// HTTP/1.1 with Content-Length, keep-alive.
    Http,
}

/// Options of a load generator run.
#[derive(Debug, Clone)]
pub struct LoadGenOptions {
    pub host: String,
    pub port: u16,
    pub framing: Framing,
    pub connections: u32,
    pub threads: u32,
    /// Sent per request (copied).
    pub request: Vec<u8>,
    pub duration: Option<Duration>,
    pub max_requests: u64,
    /// Some(rate): open loop at `rate` requests per second, latency measured
    /// from the intended send time.
    pub open_loop_rate: Option<u64>,
    /// Per request and connect; None: 5 s.
    pub timeout: Option<Duration>,
    /// Pin thread i to cpu + i.
    pub cpu: Option<i32>,
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
            duration: None,
            max_requests: 0,
            open_loop_rate: None,
            timeout: None,
            cpu: None,
        }
    }
}

pub type LoadGenResult = sys::urk_loadgen_result_t;
pub type LoadGenSecond = sys::urk_loadgen_second_t;

/// An io_uring load generator (`urk_loadgen_t`). `run` blocks the calling
/// thread; `stop`, `result` and friends work from any thread meanwhile.
pub struct LoadGen {
    ptr: NonNull<sys::urk_loadgen_t>,
    running: AtomicBool,
}

// SAFETY: the library documents stop/result/percentile/timeline as callable
// from any thread, during or after a run; run is serialized by `running`.
unsafe impl Send for LoadGen {}
unsafe impl Sync for LoadGen {}

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
        let einval = || Error::from_code(-22);
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
        o.request = opts.request.as_ptr().cast();
        o.request_len = u32::try_from(opts.request.len()).map_err(|_| einval())?;
        o.duration_ms = ms(opts.duration);
        o.max_requests = opts.max_requests;
        if let Some(rate) = opts.open_loop_rate {
            o.flags |= sys::URK_LOAD_OPEN_LOOP;
            o.rate = rate;
        }
        o.timeout_ms = ms(opts.timeout);
        o.cpu = opts.cpu.unwrap_or(-1);
        let mut raw = std::ptr::null_mut();
        // SAFETY: o and what it points to live through the call; the library
        // copies host, request and delim.
        check(unsafe { sys::urk_loadgen_create(&o, &mut raw) })?;
        Ok(LoadGen {
            ptr: NonNull::new(raw).expect("urk_loadgen_create returned 0 and NULL"),
            running: AtomicBool::new(false),
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

    /// Totals so far.
    pub fn result(&self) -> Result<LoadGenResult> {
        let mut r = LoadGenResult::zeroed();
        // SAFETY: live handle, valid out pointer.
        check(unsafe { sys::urk_loadgen_result(self.as_ptr(), &mut r) })?;
        Ok(r)
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

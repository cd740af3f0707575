"""The load generator, scripted from Python; the hot path is C (io_uring
client connections, see shim/src/loadgen/).

    import urocket
    r = urocket.loadtest("127.0.0.1", 8080, connections=64, duration=5)
    print(r.table())                     # or r.rps, r.p99 (seconds), r.errors

Units: every latency attribute of LoadResult is in SECONDS (floats: r.p99 *
1000 is milliseconds); the raw C values, in nanoseconds, are in r.raw and in
to_json() under their C names (lat_p99_ns, ...).

urk_loadgen_run releases the GIL (cffi does), so the run goes on a worker
thread while the calling thread reports progress every second from
urk_loadgen_result (any thread may read it) and stays interruptible:
KeyboardInterrupt stops the run cleanly before propagating.
"""
import collections
import threading
import time

from ._cdef import CONSTANTS as _K
from ._ffi import ffi, lib
from ._util import Handle, new_opts, struct_fields
from .errors import _check

__all__ = ["LoadGenerator", "LoadResult", "Latency", "Second", "Progress", "loadtest",
           "DEFAULT_REQUEST", "RESULT_FIELDS"]

DEFAULT_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
RESULT_FIELDS = tuple(struct_fields("urk_loadgen_result_t"))
_FRAMING = {"fixed": _K["URK_FRAME_FIXED"], "delim": _K["URK_FRAME_DELIM"],
            "http": _K["URK_FRAME_HTTP"]}
_ERROR_KINDS = ("connect", "read", "write", "timeout", "framing")
_NS = 1e-9
# Quantiles (parts per million) sampled for LoadResult.distribution: dense
# near the tail, where latency plots are read.
_CDF_PPM = sorted(set(
    [q * 10000 for q in range(0, 100)] +
    [990000 + q * 1000 for q in range(10)] +
    [999000 + q * 100 for q in range(10)] +
    [999900 + q * 10 for q in range(10)] + [1000000]))

_DEFAULT = object()

Latency = collections.namedtuple("Latency", "min mean p50 p90 p99 p999 max")
Latency.__doc__ = "Latency summary in seconds."

Second = collections.namedtuple("Second", "second responses errors p50 p99")
Second.__doc__ = ("One second of the run: responses and errors counted in it, "
                  "latency p50/p99 in seconds.")

Progress = collections.namedtuple(
    "Progress", "elapsed requests responses errors rps p50 p99")
Progress.__doc__ = ("A live sample, passed to the progress callback every second: "
                    "elapsed seconds, totals so far, rps over the last interval, "
                    "p50/p99 in seconds (of the last full second when there is one, "
                    "else of the whole run so far).")


class LoadResult:
    """What a load test measured.

    requests, responses, bytes_out, bytes_in: totals.
    elapsed: seconds of the measured run (connection set-up excluded).
    rps: responses per second.
    errors: dict kind -> count, kinds "connect", "read", "write",
        "timeout", "framing"; error_count: their sum.
    min, mean, p50, p90, p99, p999, max: latency in SECONDS (also
        .latency, a Latency tuple; .latency_ms() for milliseconds).
    cpu: CPU seconds used by the generator's threads.
    timeline: list of Second (per-second responses, errors, p50, p99).
    distribution: list of (quantile 0..1, latency seconds), for plots.
    raw: dict of every urk_loadgen_result_t field (nanoseconds), as C names it.
    """

    __slots__ = ("raw", "timeline", "distribution", "config")

    def __init__(self, raw, timeline=(), distribution=(), config=None):
        self.raw = dict(raw)
        self.timeline = list(timeline)
        self.distribution = list(distribution)
        self.config = dict(config or {})

    def __getattr__(self, name):
        # requests, responses, bytes_out, bytes_in straight from raw
        raw = object.__getattribute__(self, "raw")
        if name in ("requests", "responses", "bytes_out", "bytes_in"):
            return raw[name]
        raise AttributeError(name)

    @property
    def elapsed(self):
        return self.raw["elapsed_ns"] * _NS

    @property
    def rps(self):
        el = self.raw["elapsed_ns"]
        return self.raw["responses"] * 1e9 / el if el else 0.0

    @property
    def cpu(self):
        return self.raw["cpu_ns"] * _NS

    @property
    def errors(self):
        return {k: self.raw["err_" + k] for k in _ERROR_KINDS}

    @property
    def error_count(self):
        return sum(self.raw["err_" + k] for k in _ERROR_KINDS)

    @property
    def latency(self):
        r = self.raw
        return Latency(*(r["lat_%s_ns" % k] * _NS
                         for k in ("min", "mean", "p50", "p90", "p99", "p999", "max")))

    def latency_ms(self):
        """Latency summary as a dict of milliseconds."""
        return {k: v * 1e3 for k, v in self.latency._asdict().items()}

    min = property(lambda self: self.raw["lat_min_ns"] * _NS)
    mean = property(lambda self: self.raw["lat_mean_ns"] * _NS)
    p50 = property(lambda self: self.raw["lat_p50_ns"] * _NS)
    p90 = property(lambda self: self.raw["lat_p90_ns"] * _NS)
    p99 = property(lambda self: self.raw["lat_p99_ns"] * _NS)
    p999 = property(lambda self: self.raw["lat_p999_ns"] * _NS)
    max = property(lambda self: self.raw["lat_max_ns"] * _NS)

    def to_json(self):
        """A JSON-ready dict: every urk_loadgen_result_t field under its C
        name (integers, nanoseconds), rps, and timeline (one dict per second:
        second, responses, errors, lat_p50_ns, lat_p99_ns)."""
        d = {k: self.raw[k] for k in RESULT_FIELDS if k in self.raw}
        d["rps"] = round(self.rps, 3)
        d["timeline"] = [{"second": s.second, "responses": s.responses, "errors": s.errors,
                          "lat_p50_ns": int(round(s.p50 * 1e9)),
                          "lat_p99_ns": int(round(s.p99 * 1e9))} for s in self.timeline]
        return d

    def table(self):
        """The result as a small human-readable table."""
        lines = []
        cfg = self.config
        if cfg:
            mode = "open loop at %s req/s" % _fmt_int(cfg["rate"]) if cfg.get("rate") \
                else "closed loop"
            lines.append("target      %s:%s  (%d connections, %d thread%s, %s)" % (
                cfg.get("host"), cfg.get("port"), cfg.get("connections", 0),
                cfg.get("threads", 1), "" if cfg.get("threads", 1) == 1 else "s", mode))
        lines.append("duration    %.2f s" % self.elapsed)
        lines.append("requests    %s sent, %s responses" % (
            _fmt_int(self.requests), _fmt_int(self.responses)))
        lines.append("throughput  %s responses/s, %s in, %s out" % (
            _fmt_int(round(self.rps)), _fmt_bytes(self.raw["bytes_in"]),
            _fmt_bytes(self.raw["bytes_out"])))
        if self.responses:
            lines.append("latency     min %s  mean %s  max %s" % (
                fmt_seconds(self.min), fmt_seconds(self.mean), fmt_seconds(self.max)))
            lines.append("            p50 %s  p90 %s  p99 %s  p99.9 %s" % (
                fmt_seconds(self.p50), fmt_seconds(self.p90), fmt_seconds(self.p99),
                fmt_seconds(self.p999)))
        errs = self.errors
        if any(errs.values()):
            lines.append("errors      " + ", ".join("%s %s" % (k, _fmt_int(v))
                                                    for k, v in errs.items() if v))
        else:
            lines.append("errors      none")
        cpu = self.cpu
        if cpu and self.responses:
            lines.append("client CPU  %.2f s (%s responses per CPU-second)" % (
                cpu, _fmt_int(round(self.responses / cpu))))
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def __repr__(self):
        return "<LoadResult %d responses, %.0f rps, p50 %s, p99 %s, %d errors>" % (
            self.responses, self.rps, fmt_seconds(self.p50), fmt_seconds(self.p99),
            self.error_count)

    def plot(self, path, title=None):
        """Draw throughput over time and the latency distribution into `path`
        (PNG) with matplotlib (Agg). RuntimeError if matplotlib is missing."""
        from ._plot import plot_result
        plot_result(self, path, title)
        return path


def fmt_seconds(s):
    """0.000123 -> "123 us", 0.0123 -> "12.3 ms"."""
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.3g ms" % (s * 1e3)
    return "%.3g us" % (s * 1e6)


def _fmt_int(n):
    return "{:,}".format(int(n))


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0


class LoadGenerator(Handle):
    """One load-test run (urk_loadgen_t): create, run() once, read results.

    host, port: a numeric address (no DNS). connections (spread over
    threads), threads. duration (seconds) and/or requests (exact number of
    responses; a failed request is retried): with neither, 5 seconds; with
    only requests, until that many responses. rate: open loop at that many
    requests per second in total, latency measured from each request's
    intended send time; None: closed loop (each connection sends its next
    request when the response arrived). request: bytes sent per request.
    framing: "http" (Content-Length, keep-alive), "fixed" (response_len
    bytes) or "delim" (responses end with `delim`). timeout: seconds per
    request and per connect. cpu: pin thread i to cpu + i (-1: no pinning).
    """

    __slots__ = ("_config", "_thread", "_rc", "_done")
    _kind = "load generator"

    def __init__(self, host, port, connections=64, threads=1, duration=_DEFAULT, requests=None,
                 rate=None, request=DEFAULT_REQUEST, framing="http", response_len=None,
                 delim=None, timeout=5.0, cpu=-1):
        if duration is _DEFAULT:
            duration = None if requests is not None else 5.0
        if framing not in _FRAMING:
            raise ValueError("framing must be one of %s, got %r" % (sorted(_FRAMING), framing))
        if isinstance(request, str):
            request = request.encode()
        if isinstance(delim, str):
            delim = delim.encode()
        if duration is not None and duration <= 0:
            raise ValueError("duration must be > 0 seconds")
        if requests is not None and requests < 1:
            raise ValueError("requests must be >= 1")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 requests per second")
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError("port must be in 1..65535, got %r" % (port,))
        if framing == "fixed" and not response_len:
            raise ValueError('framing="fixed" needs response_len')
        if framing == "delim" and not delim:
            raise ValueError('framing="delim" needs delim')
        self._config = {"host": host, "port": port, "connections": connections,
                        "threads": threads, "duration": duration, "requests": requests,
                        "rate": rate, "framing": framing}
        opts, keep = new_opts("urk_loadgen_opts_t", lib.urk_loadgen_opts_init, {
            "flags": _K["URK_LOAD_OPEN_LOOP"] if rate is not None else 0,
            "host": host, "port": port, "framing": _FRAMING[framing],
            "connections": connections, "threads": threads,
            "response_len": response_len if framing == "fixed" else None,
            "request": request, "request_len": len(request) if request else 0,
            "delim": delim if framing == "delim" else None,
            "delim_len": len(delim) if framing == "delim" else None,
            "duration_ms": int(round(duration * 1000)) if duration is not None else 0,
            "max_requests": requests or 0,
            "rate": max(1, int(round(rate))) if rate is not None else 0,
            "timeout_ms": max(1, int(round(timeout * 1000))),
            "cpu": cpu})
        out = ffi.new("urk_loadgen_t **")
        _check(lib.urk_loadgen_create(opts, out))
        del keep  # copied by the library
        self._thread = None
        self._rc = None
        self._done = threading.Event()
        self._register(out[0])

    def _destroy(self, ptr):
        t = self._thread
        if t is not None and t.is_alive():
            # Never free it under a running thread.
            lib.urk_loadgen_stop(ptr)
            t.join()
        lib.urk_loadgen_destroy(ptr)

    def _p(self):
        p = self._ptr
        if p is None:
            raise self._closed_error()
        return p

    def __repr__(self):
        c = self._config
        return "<urocket.LoadGenerator %s:%s connections=%d%s>" % (
            c["host"], c["port"], c["connections"], " closed" if self._ptr is None else "")

    @property
    def config(self):
        return dict(self._config)

    # ---- running ----

    def _worker(self, p):
        try:
            self._rc = lib.urk_loadgen_run(p)
        finally:
            self._done.set()

    def start(self):
        """Start the run on a worker thread; returns at once. Then wait(),
        snapshot() any time, stop() to end early."""
        p = self._p()
        if self._thread is not None:
            raise RuntimeError("a load generator runs once")
        self._thread = threading.Thread(target=self._worker, args=(p,),
                                        name="urocket-loadgen", daemon=True)
        self._thread.start()

    def wait(self, timeout=None):
        """Wait for the run to end (True) or timeout seconds (False)."""
        if self._thread is None:
            raise RuntimeError("not started")
        if not self._done.wait(timeout):
            return False
        self._thread.join()
        if self._rc is not None and self._rc < 0:
            rc, self._rc = self._rc, 0
            _check(rc)
        return True

    def stop(self):
        """End the run early (any thread); results so far are kept."""
        _check(lib.urk_loadgen_stop(self._p()))

    def run(self, progress=None, interval=1.0):
        """Run to completion and return a LoadResult. progress: called with
        a Progress every `interval` seconds from this thread while the run
        goes on. KeyboardInterrupt stops the run, then propagates."""
        self.start()
        try:
            start = time.monotonic()
            tick = 1
            last = (0, 0)   # (elapsed_ns, responses) at the previous report
            while True:
                left = start + tick * interval - time.monotonic()
                if self.wait(max(left, 0)):
                    break
                tick += 1
                if progress is not None:
                    sample, last = self._progress(last)
                    progress(sample)
        except BaseException:
            lib.urk_loadgen_stop(self._p())
            self._done.wait()
            self._thread.join()
            raise
        return self.result()

    def _progress(self, last):
        r = self.snapshot()
        el, resp = r["elapsed_ns"], r["responses"]
        d_el = el - last[0]
        rps = (resp - last[1]) * 1e9 / d_el if d_el > 0 else 0.0
        p50, p99 = r["lat_p50_ns"], r["lat_p99_ns"]
        tl = self.timeline()
        if tl and tl[-1].responses:
            p50, p99 = tl[-1].p50 * 1e9, tl[-1].p99 * 1e9
        errors = sum(r["err_" + k] for k in _ERROR_KINDS)
        return (Progress(el * _NS, r["requests"], resp, errors, rps, p50 * _NS, p99 * _NS),
                (el, resp))

    # ---- results ----

    def snapshot(self):
        """Totals so far as a dict of urk_loadgen_result_t fields (ns);
        any thread, during or after the run."""
        out = ffi.new("urk_loadgen_result_t *")
        _check(lib.urk_loadgen_result_ex(self._p(), out, ffi.sizeof("urk_loadgen_result_t")))
        return {k: getattr(out, k) for k in RESULT_FIELDS}

    def percentile(self, q):
        """Latency in seconds at quantile q (0..1)."""
        if not 0 <= q <= 1:
            raise ValueError("q must be in 0..1")
        out = ffi.new("uint64_t *")
        _check(lib.urk_loadgen_percentile(self._p(), int(round(q * 1e6)), out))
        return out[0] * _NS

    def timeline(self):
        """Per-second samples so far, as a list of Second."""
        p = self._p()
        n = _check(lib.urk_loadgen_timeline(p, ffi.NULL, 0))
        if n == 0:
            return []
        arr = ffi.new("urk_loadgen_second_t[]", n)
        n = min(n, _check(lib.urk_loadgen_timeline(p, arr, n)))
        return [Second(i, arr[i].responses, arr[i].errors, arr[i].lat_p50_ns * _NS,
                       arr[i].lat_p99_ns * _NS) for i in range(n)]

    def distribution(self):
        """(quantile, latency seconds) pairs from 0 to 1, tail-dense."""
        p = self._p()
        out = ffi.new("uint64_t *")
        pts = []
        for ppm in _CDF_PPM:
            _check(lib.urk_loadgen_percentile(p, ppm, out))
            pts.append((ppm / 1e6, out[0] * _NS))
        return pts

    def result(self):
        """A LoadResult of what was measured so far."""
        raw = self.snapshot()
        dist = self.distribution() if raw["responses"] else []
        return LoadResult(raw, self.timeline(), dist, self._config)


def loadtest(host, port, connections=64, threads=1, duration=_DEFAULT, requests=None, rate=None,
             request=DEFAULT_REQUEST, framing="http", response_len=None, delim=None,
             timeout=5.0, cpu=-1, progress=None):
    """Load-test host:port and return a LoadResult (latencies in seconds).

    duration: seconds (default 5, or unlimited when only `requests` is
    given); requests: exact number of responses to collect; rate: open
    loop at that many requests/s (None: closed loop); framing "http",
    "fixed" (with response_len) or "delim" (with delim); progress: a
    callable given a Progress every second. See LoadGenerator for the rest.
    """
    with LoadGenerator(host, port, connections=connections, threads=threads,
                       duration=duration, requests=requests, rate=rate, request=request,
                       framing=framing, response_len=response_len, delim=delim,
                       timeout=timeout, cpu=cpu) as lg:
        return lg.run(progress=progress)

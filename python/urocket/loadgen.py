"""The load generator, scripted from Python; the hot path is C (io_uring
client connections, see shim/src/loadgen/).

    import urocket
    r = urocket.loadtest("http://localhost:8080/", connections=64, duration=5)
    print(r.table())                     # or r.rps, r.p99 (seconds), r.status

Targets: a URL (http://host[:port]/path?query; the host may be a name,
resolved to IPv4 or IPv6 before the run, and the Host header comes from
the URL), or a host plus a port as before (loadtest("127.0.0.1", 8080)).
method, headers and body build the request; `request` gives raw bytes.

Units: every latency attribute of LoadResult is in SECONDS (floats: r.p99 *
1000 is milliseconds); the raw C values, in nanoseconds, are in r.raw and in
to_json() under their C names (lat_p99_ns, ...). Results of several runs
merge exactly with merge_results (histograms add).

urk_loadgen_run releases the GIL (cffi does), so the run goes on a worker
thread while the calling thread reports progress every second and stays
interruptible: KeyboardInterrupt stops the run cleanly before propagating.
"""
from __future__ import annotations

import collections
import ipaddress
import socket
import threading
import time
import urllib.parse
from typing import (Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, Union)

from ._cdef import CONSTANTS as _K
from ._ffi import ffi, lib
from ._loadgen_result import (ERROR_KINDS, HIST_BUCKETS, RESULT_FIELDS, LoadResult, Latency,
                              Second, _CDF_PPM, fmt_seconds, merge_results)
from ._util import Handle, new_opts
from .errors import _check

__all__ = ["LoadGenerator", "LoadResult", "Latency", "Second", "Progress", "Request",
           "Target", "loadtest", "merge_results", "parse_target", "resolve", "resolve_all",
           "DEFAULT_REQUEST", "RESULT_FIELDS", "fmt_seconds"]

DEFAULT_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
_FRAMING = {"fixed": _K["URK_FRAME_FIXED"], "delim": _K["URK_FRAME_DELIM"],
            "http": _K["URK_FRAME_HTTP"]}
_ERROR_KINDS = ERROR_KINDS
_NS = 1e-9
_MAX_STATUS = 1000

_DEFAULT: Any = object()

Progress = collections.namedtuple(
    "Progress", "elapsed requests responses errors rps p50 p99 second")
Progress.__doc__ = ("One complete second of the run, passed to the progress callback: "
                    "elapsed seconds at its end, totals (requests so far; responses and "
                    "errors up to its end), then rps, p50 and p99 (seconds) of that one "
                    "second, and `second` (0-based).")

HeadersArg = Union[Mapping[str, str], Sequence[str], Sequence[Tuple[str, str]], None]


class Target(NamedTuple):
    """A parsed load-test target: `host` as given, `address` numeric (after
    name resolution), `port`, `path` (with the query), `host_header`."""
    host: str
    address: str
    port: int
    path: str
    host_header: str
    url: str


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        return False


def resolve_all(host: str, port: int = 80) -> List[str]:
    """Every numeric address of host, in the resolver's order (a literal:
    itself). ValueError naming the host when it does not resolve."""
    h = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not h:
        raise ValueError("empty host name")
    if _is_literal(h):
        return [h]
    try:
        infos = socket.getaddrinfo(h, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError("cannot resolve host name %r: %s" % (h, exc.strerror)) from None
    out: List[str] = []
    for info in infos:
        a = str(info[4][0])
        if a not in out:
            out.append(a)
    if not out:
        raise ValueError("cannot resolve host name %r: no address" % h)
    return out


def _accepts(address: str, port: int, timeout: float) -> bool:
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((address, port))
            return True
        except OSError:
            return False


def resolve(host: str, port: int = 80) -> str:
    """A numeric address for host. A name with several addresses (localhost:
    ::1 and 127.0.0.1) gets the first that accepts a connection on port, as
    a browser would; the first one when none does."""
    addrs = resolve_all(host, port)
    if len(addrs) > 1:
        for a in addrs:
            if _accepts(a, port, 0.5):
                return a
    return addrs[0]


def parse_target(target: str, port: Optional[int] = None, resolve_name: bool = True) -> Target:
    """http://host[:port][/path][?query], or a bare host name / address
    with `port`. The name is resolved now (resolve_name), so a typo fails
    before the run."""
    if not isinstance(target, str) or not target:
        raise ValueError("target must be a URL or a host, got %r" % (target,))
    if "://" in target:
        u = urllib.parse.urlsplit(target)
        if u.scheme.lower() != "http":
            raise ValueError("only http:// URLs are supported, got %r" % (u.scheme + "://",))
        if not u.hostname:
            raise ValueError("URL %r has no host" % target)
        try:
            uport = u.port
        except ValueError:
            raise ValueError("URL %r: the port must be a number in 1..65535" % target) \
                from None
        if uport is not None and port is not None and uport != port:
            raise ValueError("the URL says port %d but port %d was also given" % (uport, port))
        p = uport if uport is not None else (port if port is not None else 80)
        host = u.hostname
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        shown = "[%s]" % host if ":" in host else host
        header = shown if p == 80 else "%s:%d" % (shown, p)
        url = target
    else:
        if port is None:
            raise ValueError("a host needs a port (or give a URL: http://%s:PORT/)" % target)
        host = target[1:-1] if target.startswith("[") and target.endswith("]") else target
        p = port
        path = "/"
        shown = "[%s]" % host if ":" in host else host
        header = "%s:%d" % (shown, p)
        url = "http://%s/" % header
    if not isinstance(p, int) or not 1 <= p <= 65535:
        raise ValueError("port must be in 1..65535, got %r" % (p,))
    address = resolve(host, p) if resolve_name else host
    return Target(host, address, p, path, header, url)


def _header_pairs(headers: HeadersArg) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    items: List[Tuple[str, str]] = []
    if isinstance(headers, Mapping):
        items = [(str(k), str(v)) for k, v in headers.items()]
    else:
        for h in headers:
            if isinstance(h, str):
                name, sep, value = h.partition(":")
                if not sep:
                    raise ValueError("header %r: expected 'Name: value'" % h)
                items.append((name.strip(), value.strip()))
            else:
                items.append((str(h[0]), str(h[1])))
    for name, value in items:
        if not name or any(c in name for c in " \t\r\n:") or any(c in value for c in "\r\n"):
            raise ValueError("bad header %r: a name without spaces or ':', no line breaks"
                             % ("%s: %s" % (name, value)))
    return items


class Request:
    """One kind of request of a load test: method, path (with query),
    headers ({name: value} or ["Name: value", ...]), body (bytes or str),
    weight (its share among several requests), name (for the per-request
    results; default "METHOD path")."""

    __slots__ = ("method", "path", "headers", "body", "weight", "name")

    def __init__(self, method: str = "GET", path: str = "/", headers: HeadersArg = None,
                 body: Union[bytes, str, None] = None, weight: int = 1,
                 name: Optional[str] = None) -> None:
        if not method or any(c in method for c in " \t\r\n"):
            raise ValueError("bad method %r" % (method,))
        if not path.startswith("/") and path != "*":
            raise ValueError("path must start with '/', got %r" % (path,))
        if any(c in path for c in " \r\n"):
            raise ValueError("path %r: no spaces or line breaks (percent-encode them)" % path)
        if not isinstance(weight, int) or weight < 1:
            raise ValueError("weight must be an integer >= 1, got %r" % (weight,))
        self.method = method
        self.path = path
        self.headers = _header_pairs(headers)
        self.body: Optional[bytes] = body.encode() if isinstance(body, str) else body
        self.weight = weight
        self.name = name or "%s %s" % (method, path)

    def encode(self, host_header: str) -> bytes:
        """The request's bytes (HTTP/1.1, Host from the target unless the
        headers give one, Content-Length for a body)."""
        names = {n.lower() for n, _ in self.headers}
        lines = ["%s %s HTTP/1.1" % (self.method, self.path)]
        if "host" not in names:
            lines.append("Host: " + host_header)
        lines += ["%s: %s" % (n, v) for n, v in self.headers]
        if self.body is not None and "content-length" not in names:
            lines.append("Content-Length: %d" % len(self.body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (self.body or b"")

    def __repr__(self) -> str:
        return "Request(%r, %r, weight=%d)" % (self.method, self.path, self.weight)


class LoadGenerator(Handle):
    """One load-test run (urk_loadgen_t): create, run() once, read results.

    host: a URL (http://host:port/path) or a host name / address with
    `port`; names are resolved before the run. connections (spread over
    threads), threads. duration (seconds) and/or requests (exact number of
    responses; a failed request is retried): with neither, 5 seconds; with
    only requests, until that many responses. rate: open loop at that many
    requests per second in total, latency measured from each request's
    intended send time; None: closed loop (each connection sends its next
    request when the response arrived). method, headers, body: the request
    (HTTP/1.1, Host from the target); request: raw bytes instead.
    framing: "http" (Content-Length, chunked, close-delimited; keep-alive
    and Connection: close), "fixed" (response_len bytes) or "delim"
    (responses end with `delim`). timeout: seconds per request and per
    connect. cpu: pin thread i to cpu + i (-1: no pinning). scenario: a
    list of Request mixed by weight (exact shares), counted apart too
    (result().by_request). ramp: seconds over which the connections start.
    """

    __slots__ = ("_config", "_thread", "_rc", "_done", "_last_sec")
    _kind = "load generator"

    def __init__(self, host: str, port: Optional[int] = None, connections: int = 64,
                 threads: int = 1, duration: Optional[float] = _DEFAULT,
                 requests: Optional[int] = None, rate: Optional[float] = None,
                 request: Union[bytes, str, Request, Sequence[Request], None] = None,
                 framing: str = "http",
                 response_len: Optional[int] = None, delim: Union[bytes, str, None] = None,
                 timeout: float = 5.0, cpu: int = -1, method: str = "GET",
                 headers: HeadersArg = None, body: Union[bytes, str, None] = None,
                 scenario: Optional[Sequence[Request]] = None, ramp: float = 0.0) -> None:
        if duration is _DEFAULT:
            duration = None if requests is not None else 5.0
        if framing not in _FRAMING:
            raise ValueError("framing must be one of %s, got %r" % (sorted(_FRAMING), framing))
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
        if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
            raise ValueError("port must be in 1..65535, got %r" % (port,))
        if not isinstance(connections, int) or connections < 1:
            raise ValueError("connections must be >= 1, got %r" % (connections,))
        if not isinstance(threads, int) or threads < 1:
            raise ValueError("threads must be >= 1, got %r" % (threads,))
        if threads > connections:
            raise ValueError("threads (%d) must be <= connections (%d)" % (threads, connections))
        if framing == "fixed" and not response_len:
            raise ValueError('framing="fixed" needs response_len')
        if framing == "delim" and not delim:
            raise ValueError('framing="delim" needs delim')
        _check_cpu(cpu, threads)
        if isinstance(request, (list, tuple)):
            scenario, request = request, None  # a list of Request is a scenario
        if ramp is None or ramp < 0:
            raise ValueError("ramp must be >= 0 seconds, got %r" % (ramp,))
        if scenario is not None:
            scenario = list(scenario)
            if not 1 <= len(scenario) <= _K["URK_LOADGEN_MAX_REQUESTS"]:
                raise ValueError("a scenario has 1..%d requests, got %d" % (
                    _K["URK_LOADGEN_MAX_REQUESTS"], len(scenario)))
            if not all(isinstance(s, Request) for s in scenario):
                raise ValueError("a scenario is a list of urocket.Request")
            names = [s.name for s in scenario]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError("request names must differ (name=...): %s" % ", ".join(dup))
            if request is not None:
                raise ValueError("give request or scenario, not both")
        target = parse_target(host, port)
        if scenario is not None:
            raw = b"unused"
        elif isinstance(request, Request):
            raw = request.encode(target.host_header)
        elif isinstance(request, str):
            raw = request.encode()
        elif isinstance(request, (bytes, bytearray, memoryview)):
            raw = bytes(request)
        elif request is not None:
            raise ValueError("request must be bytes, str, a Request or a list of Request")
        else:
            path = target.path
            raw = Request(method, path, headers, body).encode(target.host_header)
        if not raw:
            raise ValueError("the request is empty")
        self._config: Dict[str, Any] = {
            "host": target.host, "address": target.address, "port": target.port,
            "url": target.url if "://" in host else None,
            "connections": connections, "threads": threads, "duration": duration,
            "requests": requests, "rate": rate, "framing": framing, "ramp": ramp,
            "scenario": [s.name for s in scenario] if scenario else None}
        opts, keep = new_opts("urk_loadgen_opts_t", lib.urk_loadgen_opts_init, {
            "flags": _K["URK_LOAD_OPEN_LOOP"] if rate is not None else 0,
            "host": target.address, "port": target.port, "framing": _FRAMING[framing],
            "connections": connections, "threads": threads,
            "response_len": response_len if framing == "fixed" else None,
            "request": raw if scenario is None else None,
            "request_len": len(raw) if scenario is None else 0,
            "delim": delim if framing == "delim" else None,
            "delim_len": len(delim) if framing == "delim" and delim else None,
            "duration_ms": int(round(duration * 1000)) if duration is not None else 0,
            "max_requests": requests or 0,
            "rate": max(1, int(round(rate))) if rate is not None else 0,
            "timeout_ms": max(1, int(round(timeout * 1000))),
            "cpu": cpu, "ramp_ms": int(round(ramp * 1000))})
        if scenario is not None:
            arr = ffi.new("urk_loadgen_request_t[]", len(scenario))
            for i, s in enumerate(scenario):
                data = s.encode(target.host_header)
                buf = ffi.from_buffer(data)
                keep += [data, buf]
                arr[i].data = buf
                arr[i].len = len(data)
                arr[i].weight = s.weight
            keep.append(arr)
            opts.requests = arr
            opts.nrequests = len(scenario)
        out = ffi.new("urk_loadgen_t **")
        _check(lib.urk_loadgen_create(opts, out))
        del keep  # copied by the library
        self._thread: Optional[threading.Thread] = None
        self._rc: Optional[int] = None
        self._done = threading.Event()
        self._last_sec = -1
        self._register(out[0])

    def _destroy(self, ptr: Any) -> None:
        t = self._thread
        if t is not None and t.is_alive():
            # Never free it under a running thread.
            lib.urk_loadgen_stop(ptr)
            t.join()
        lib.urk_loadgen_destroy(ptr)

    def _p(self) -> Any:
        p = self._ptr
        if p is None:
            raise self._closed_error()
        return p

    def __repr__(self) -> str:
        c = self._config
        return "<urocket.LoadGenerator %s:%s connections=%d%s>" % (
            c["host"], c["port"], c["connections"], " closed" if self._ptr is None else "")

    @property
    def config(self) -> Dict[str, Any]:
        return dict(self._config)

    # ---- running ----

    def _worker(self, p: Any) -> None:
        try:
            self._rc = lib.urk_loadgen_run(p)
        finally:
            self._done.set()

    def start(self) -> None:
        """Start the run on a worker thread; returns at once. Then wait(),
        snapshot() any time, stop() to end early."""
        p = self._p()
        if self._thread is not None:
            raise RuntimeError("a load generator runs once")
        self._thread = threading.Thread(target=self._worker, args=(p,),
                                        name="urocket-loadgen", daemon=True)
        self._thread.start()

    def wait(self, timeout: Optional[float] = None) -> bool:
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

    def stop(self) -> None:
        """End the run early (any thread); results so far are kept."""
        _check(lib.urk_loadgen_stop(self._p()))

    def run(self, progress: Optional[Callable[[Any], None]] = None,
            interval: float = 1.0) -> LoadResult:
        """Run to completion and return a LoadResult. progress: called from
        this thread with a Progress for every second of the run, once that
        second is complete (checked every `interval` seconds; late seconds
        are caught up in order). KeyboardInterrupt stops the run, then
        propagates."""
        self.start()
        assert self._thread is not None
        try:
            start = time.monotonic()
            tick = 1
            while True:
                left = start + tick * interval - time.monotonic()
                if self.wait(max(left, 0)):
                    if progress is not None:  # the full seconds not reported yet
                        for sample in self._progress(final=True):
                            progress(sample)
                    break
                tick += 1
                if progress is not None:
                    for sample in self._progress():
                        progress(sample)
        except BaseException:
            lib.urk_loadgen_stop(self._p())
            self._done.wait()
            self._thread.join()
            raise
        return self.result()

    def _progress(self, final: bool = False) -> List[Any]:
        """A Progress per second completed since the last call: rps, p50
        and p99 all of that one second; totals up to its end. After the
        run (final), the last, partial second is left out."""
        r = self.snapshot()
        tl = self.timeline()
        if final:
            tl = [s for s in tl if (s.second + 1) * 1000000000 <= r["elapsed_ns"]]
        out = []
        responses = sum(s.responses for s in tl[:self._last_sec + 1])
        errors = sum(s.errors for s in tl[:self._last_sec + 1])
        for s in tl[self._last_sec + 1:]:
            responses += s.responses
            errors += s.errors
            out.append(Progress(float(s.second + 1), r["requests"], responses, errors,
                                float(s.responses), s.p50, s.p99, s.second))
        self._last_sec = max(self._last_sec, len(tl) - 1)
        return out

    # ---- results ----

    def snapshot(self) -> Dict[str, int]:
        """Totals so far as a dict of urk_loadgen_result_t fields (ns);
        any thread, during or after the run."""
        out = ffi.new("urk_loadgen_result_t *")
        _check(lib.urk_loadgen_result_ex(self._p(), out, ffi.sizeof("urk_loadgen_result_t")))
        return {k: getattr(out, k) for k in RESULT_FIELDS}

    def status(self) -> Dict[int, int]:
        """HTTP responses by status code so far."""
        codes = ffi.new("uint32_t[]", _MAX_STATUS)
        counts = ffi.new("uint64_t[]", _MAX_STATUS)
        n = _check(lib.urk_loadgen_status(self._p(), codes, counts, _MAX_STATUS))
        return {int(codes[i]): int(counts[i]) for i in range(min(n, _MAX_STATUS))}

    def histogram(self) -> Dict[int, int]:
        """The latency histogram as {bucket index: count} (non-empty
        buckets; layout in urocket.h, urk_loadgen_histogram)."""
        buf = ffi.new("uint64_t[]", HIST_BUCKETS)
        _check(lib.urk_loadgen_histogram(self._p(), buf, HIST_BUCKETS))
        return {i: int(buf[i]) for i in range(HIST_BUCKETS) if buf[i]}

    def percentile(self, q: float) -> float:
        """Latency in seconds at quantile q (0..1)."""
        if not 0 <= q <= 1:
            raise ValueError("q must be in 0..1")
        out = ffi.new("uint64_t *")
        _check(lib.urk_loadgen_percentile(self._p(), int(round(q * 1e6)), out))
        return float(out[0]) * _NS

    def timeline(self) -> List[Second]:
        """Per-second samples so far, as a list of Second."""
        p = self._p()
        n = _check(lib.urk_loadgen_timeline(p, ffi.NULL, 0))
        if n == 0:
            return []
        arr = ffi.new("urk_loadgen_second_t[]", n)
        n = min(n, _check(lib.urk_loadgen_timeline(p, arr, n)))
        return [Second(i, arr[i].responses, arr[i].errors, arr[i].lat_p50_ns * _NS,
                       arr[i].lat_p99_ns * _NS) for i in range(n)]

    def distribution(self) -> List[Tuple[float, float]]:
        """(quantile, latency seconds) pairs from 0 to 1, tail-dense."""
        p = self._p()
        out = ffi.new("uint64_t *")
        pts = []
        for ppm in _CDF_PPM:
            _check(lib.urk_loadgen_percentile(p, ppm, out))
            pts.append((ppm / 1e6, out[0] * _NS))
        return pts

    def request_result(self, index: int) -> LoadResult:
        """Scenario runs: the LoadResult of request `index` alone."""
        p = self._p()
        out = ffi.new("urk_loadgen_result_t *")
        _check(lib.urk_loadgen_request_result(p, index, out,
                                              ffi.sizeof("urk_loadgen_result_t")))
        raw = {k: getattr(out, k) for k in RESULT_FIELDS}
        codes = ffi.new("uint32_t[]", _MAX_STATUS)
        counts = ffi.new("uint64_t[]", _MAX_STATUS)
        n = _check(lib.urk_loadgen_request_status(p, index, codes, counts, _MAX_STATUS))
        status = {int(codes[i]): int(counts[i]) for i in range(min(n, _MAX_STATUS))}
        buf = ffi.new("uint64_t[]", HIST_BUCKETS)
        _check(lib.urk_loadgen_request_histogram(p, index, buf, HIST_BUCKETS))
        hist = {i: int(buf[i]) for i in range(HIST_BUCKETS) if buf[i]}
        return LoadResult(raw, (), (), None, status, hist)

    def result(self) -> LoadResult:
        """A LoadResult of what was measured so far (with by_request for a
        scenario)."""
        raw = self.snapshot()
        dist = self.distribution() if raw["responses"] else []
        names = self._config.get("scenario") or []
        by = {name: self.request_result(i) for i, name in enumerate(names)}
        return LoadResult(raw, self.timeline(), dist, self._config, self.status(),
                          self.histogram(), by)


def _check_cpu(cpu: int, threads: int) -> None:
    if cpu == -1:
        return
    if not isinstance(cpu, int) or cpu < -1:
        raise ValueError("cpu must be -1 (no pinning) or a CPU number, got %r" % (cpu,))
    have = sorted(_allowed_cpus())
    want = list(range(cpu, cpu + threads))
    missing = [c for c in want if c not in have]
    if missing:
        raise ValueError("cpu %d: this machine has CPUs %s (%d thread%s pinned from cpu "
                         "%d need CPUs %s)" % (cpu, _cpu_ranges(have), threads,
                                               "" if threads == 1 else "s", cpu,
                                               _cpu_ranges(want)))


def _allowed_cpus() -> List[int]:
    import os
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _cpu_ranges(cpus: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    runs: List[List[int]] = []
    for c in sorted(cpus):
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in runs)


def loadtest(target: str, port: Optional[int] = None, *, connections: int = 64,
             threads: int = 1, duration: Optional[float] = _DEFAULT,
             requests: Optional[int] = None, rate: Optional[float] = None,
             method: str = "GET", headers: HeadersArg = None,
             body: Union[bytes, str, None] = None,
             request: Union[bytes, str, Request, Sequence[Request], None] = None,
             framing: str = "http",
             response_len: Optional[int] = None, delim: Union[bytes, str, None] = None,
             timeout: float = 5.0, cpu: int = -1,
             scenario: Optional[Sequence[Request]] = None, ramp: float = 0.0,
             progress: Optional[Callable[[Any], None]] = None) -> LoadResult:
    """Load-test a target and return a LoadResult (latencies in seconds).

    target: "http://host:port/path" (names resolve, Host from the URL), or
    a host with `port`. duration: seconds (default 5, or unlimited when only
    `requests` is given); requests: exact number of responses to collect;
    rate: open loop at that many requests/s (None: closed loop); method,
    headers, body: the HTTP request (or `request`: raw bytes or a Request);
    framing "http", "fixed" (with response_len) or "delim" (with delim);
    scenario: a list of urocket.Request mixed by weight, results per
    request name in r.by_request as well as in total; ramp: seconds over
    which the connections start; progress: a callable given a Progress
    every second. See LoadGenerator.
    """
    with LoadGenerator(target, port, connections=connections, threads=threads,
                       duration=duration, requests=requests, rate=rate, request=request,
                       framing=framing, response_len=response_len, delim=delim,
                       timeout=timeout, cpu=cpu, method=method, headers=headers,
                       body=body, scenario=scenario, ramp=ramp) as lg:
        result: LoadResult = lg.run(progress=progress)
        return result

"""HTTP framing of the load generator against a scripted Python server:
chunked bodies split at every byte position, 1xx/204/304/HEAD responses,
close-delimited bodies, and hostile servers (garbage, resets, silence) that
are counted by kind while the run ends on time. Also: merged results give
exactly the percentiles the library computes, and the typed API passes
mypy --strict."""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

import urocket
from urocket._loadgen_result import hist_percentile
from urk_net import LIVENESS

CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
           b"0\r\nX-Trailer: t\r\n\r\n")


class HttpServer:
    """Thread per connection; reads requests (ending in a blank line) and
    answers request k (0-based, counted over all connections) with
    script(k, request) -> (list of byte pieces, then "keep", "close" or
    "reset"). Pieces go out as separate segments (TCP_NODELAY, a short
    pause between them)."""

    def __init__(self, script, pause=0.002, drop=False):
        self.script = script
        self.drop = drop  # close every connection at once, before any request
        self.pause = pause
        self.lock = threading.Lock()
        self.count = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            if self.drop:
                s.close()
                continue
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.socks.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        buf = b""
        try:
            while not self.closing:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                req, buf = buf.split(b"\r\n\r\n", 1)
                for line in req.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        need = int(line.split(b":", 1)[1])
                        while len(buf) < need:
                            d = s.recv(65536)
                            if not d:
                                return
                            buf += d
                        buf = buf[need:]  # the body
                with self.lock:
                    k = self.count
                    self.count += 1
                pieces, then = self.script(k, req)
                for i, p in enumerate(pieces):
                    if i:
                        time.sleep(self.pause)
                    if p:
                        s.sendall(p)
                if then == "reset":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                    return
                if then == "close":
                    s.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            pass
        finally:
            s.close()

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def close(self):
        self.closing = True
        self.listener.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_chunked_body_split_at_every_byte_position():
    n = len(CHUNKED) + 1

    def script(k, req):
        cut = k % n
        return [CHUNKED[:cut], CHUNKED[cut:]], "keep"

    with HttpServer(script) as srv:
        r = urocket.loadtest(srv.url, connections=1, requests=n)
    assert r.responses == n == r.requests == srv.count
    assert r.error_count == 0 and r.status == {200: n} and r.reconnects == 0


def test_chunked_body_byte_by_byte():
    def script(k, req):
        return [CHUNKED[i:i + 1] for i in range(len(CHUNKED))], "keep"

    with HttpServer(script, pause=0.0005) as srv:
        r = urocket.loadtest(srv.url, connections=2, requests=10)
    assert r.responses == 10 and r.error_count == 0


def test_interim_no_body_and_head_responses():
    cycle = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\n"
        b"Content-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n",
    ]
    with HttpServer(lambda k, req: ([cycle[k % 4]], "keep")) as srv:
        r = urocket.loadtest(srv.url, connections=1, requests=400)
    assert r.error_count == 0 and r.responses == 400
    assert r.status == {200: 100, 201: 100, 204: 100, 304: 100}
    assert r.non2xx == 100

    # HEAD: Content-Length (and chunked) announced, no body follows
    head = [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"]
    seen = []

    def script(k, req):
        seen.append(req.split(b" ", 1)[0])
        return [head[k % 2]], "keep"

    with HttpServer(script) as srv:
        r = urocket.loadtest(srv.url, connections=1, requests=100, method="HEAD")
    assert r.error_count == 0 and r.status == {200: 50, 404: 50}
    assert set(seen) == {b"HEAD"}


def test_close_delimited_and_http10_bodies_are_reconnects():
    bodies = [
        ([b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", b"body until the close"], "close"),
        ([b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length"], "close"),
        ([b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"], "close"),
        ([b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 1\r\n\r\n!"], "close"),
    ]
    with HttpServer(lambda k, req: bodies[k % 4]) as srv:
        r = urocket.loadtest(srv.url, connections=2, requests=200)
    assert r.error_count == 0, r.errors
    assert r.responses == 200 == r.requests == srv.count
    assert r.reconnects == 200
    assert r.status == {200: 150, 500: 50}


@pytest.mark.parametrize("kind", ["garbage", "reset", "truncated", "silent", "extra"])
def test_hostile_servers_are_counted_by_kind_and_the_run_ends_on_time(kind):
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def script(k, req):
        if k % 2 == 0:
            return [ok], "keep"
        return {
            "garbage": ([b"SMTP ready\r\n\r\n"], "keep"),
            "reset": ([], "reset"),
            "truncated": ([ok[:-1]], "close"),
            "silent": ([], "keep"),
            "extra": ([ok + b"HTTP/1.1 200 OK\r\n"], "keep"),
        }[kind]

    with HttpServer(script) as srv:
        t0 = time.monotonic()
        r = urocket.loadtest(srv.url, connections=4, duration=1.0, timeout=0.3)
        took = time.monotonic() - t0
    assert took < 1.0 + 1.0 + 3.0  # connect phase (<= 1 s) + run + teardown slack
    assert r.responses > 0
    errs = r.errors
    want = {"garbage": "framing", "reset": "read", "truncated": "read", "silent": "timeout",
            "extra": "framing"}[kind]
    assert errs[want] > 0, errs
    assert sum(v for k, v in errs.items() if k not in (want, "connect")) == 0, errs


@pytest.mark.parametrize("rate", [None, 50])
def test_a_server_that_drops_every_connection_is_counted_not_spun_on(rate):
    with HttpServer(lambda k, req: ([], "keep"), drop=True) as srv:
        t0 = time.monotonic()
        r = urocket.loadtest(srv.url, connections=4, duration=1.0, rate=rate, timeout=0.5)
        took = time.monotonic() - t0
    assert took < 5.0
    assert r.responses == 0 and r.reconnects == 0
    assert r.errors["read"] > 0
    # failures back off: nowhere near a tight reconnect loop
    assert r.errors["read"] + r.errors["connect"] < 4000


def test_merged_percentiles_are_exact():
    delays = {0: 0.0, 1: 0.003}

    def server(slow):
        def script(k, req):
            if slow and k % 3 == 0:
                time.sleep(0.004)
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], "keep"
        return HttpServer(script)

    with server(False) as a, server(True) as b:
        ra = urocket.loadtest(a.url, connections=2, requests=300)
        rb = urocket.loadtest(b.url, connections=2, requests=200)
    assert delays  # two different latency profiles
    # Python's percentile rule is the library's
    for r in (ra, rb):
        assert sum(r.histogram.values()) == r.responses
        for name, ppm in (("p50", 500000), ("p90", 900000), ("p99", 990000),
                          ("p999", 999000)):
            assert r.percentile_ns(ppm) == r.raw["lat_%s_ns" % name]
    m = urocket.merge_results([ra, rb])
    assert m.responses == 500 and m.requests == 500 and m.status == {200: 500}
    hist = dict(ra.histogram)
    for k, v in rb.histogram.items():
        hist[k] = hist.get(k, 0) + v
    assert m.histogram == hist
    lo, hi = min(ra.raw["lat_min_ns"], rb.raw["lat_min_ns"]), max(ra.raw["lat_max_ns"],
                                                                    rb.raw["lat_max_ns"])
    assert m.raw["lat_p99_ns"] == hist_percentile(hist, 990000, lo, hi)
    assert m.raw["lat_mean_ns"] == (ra.raw["lat_sum_ns"] + rb.raw["lat_sum_ns"]) // 500
    # through JSON and back: the same result
    back = urocket.LoadResult.from_json(m.to_json())
    assert back.to_json() == m.to_json()
    # merging a run with itself doubles the counts and keeps the percentiles
    d = urocket.merge_results([ra, ra])
    assert d.responses == 600 and d.raw["lat_p99_ns"] == ra.raw["lat_p99_ns"]


def test_merge_cli(tmp_path):
    with HttpServer(lambda k, req: ([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
                                    "keep")) as srv:
        ra = urocket.loadtest(srv.url, connections=2, requests=100)
        rb = urocket.loadtest(srv.url, connections=2, requests=50)
    import json
    (tmp_path / "a.json").write_text("some table text\n" + json.dumps(ra.to_json()) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(rb.to_json()))
    env = dict(os.environ)
    pydir = os.path.dirname(os.path.dirname(os.path.abspath(urocket.__file__)))
    env["PYTHONPATH"] = pydir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("URK_LIBRARY", os.path.abspath(urocket.library_path))
    p = subprocess.run([sys.executable, "-m", "urocket", "merge", str(tmp_path / "a.json"),
                        str(tmp_path / "b.json"), "--json", "--latency",
                        "--fail-if", "p99>10s"], env=env, capture_output=True,
                       timeout=LIVENESS)
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout.decode().strip().splitlines()[-1])
    want = urocket.merge_results([ra, rb]).to_json()
    assert j["responses"] == 150 and j["lat_p99_ns"] == want["lat_p99_ns"]
    assert j["histogram"] == want["histogram"]
    assert "99.99%" in p.stdout.decode()
    bad = subprocess.run([sys.executable, "-m", "urocket", "merge", str(tmp_path / "nope")],
                         env=env, capture_output=True, timeout=LIVENESS)
    assert bad.returncode == 2 and b"nope" in bad.stderr


def test_public_api_types_pass_mypy_strict(tmp_path):
    mypy = subprocess.run([sys.executable, "-m", "mypy", "--version"], capture_output=True)
    if mypy.returncode != 0:
        pytest.skip("mypy is not installed (make deps)")
    script = tmp_path / "user.py"
    script.write_text('''
import urocket
from urocket import LoadResult, Request, merge_results


def run(url: str) -> LoadResult:
    r: LoadResult = urocket.loadtest(url, connections=4, duration=1.0,
                                     headers={"Accept": "*/*"}, method="GET")
    p99: float = r.p99
    codes: dict[int, int] = r.status
    n: int = r.responses + r.non2xx + r.reconnects + r.error_count
    print(p99, codes, n, r.table(), r.to_json()["status"])
    return r


def both(a: LoadResult, b: LoadResult) -> float:
    req = Request("POST", "/api", ["X-A: 1"], b"{}", weight=2)
    print(req.encode("h"))
    mixed = urocket.loadtest("http://127.0.0.1:1/", scenario=[req, Request("GET", "/")],
                             ramp=1.0)
    per: dict[str, LoadResult] = mixed.by_request
    print(per)
    return merge_results([a, b]).percentile(0.99)
''')
    pydir = os.path.dirname(os.path.dirname(os.path.abspath(urocket.__file__)))
    env = dict(os.environ, MYPYPATH=pydir)
    p = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                        "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
                        str(script)], env=env, capture_output=True, timeout=300)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_scenario_mixes_requests_by_weight_with_results_per_request():
    seen = []

    def script(k, req):
        method, path = req.split(b"\r\n", 1)[0].split(b" ")[:2]
        seen.append(method + b" " + path)
        if path == b"/missing":
            return [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"], "keep"
        if method == b"HEAD":
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"], "keep"
        if method == b"POST":
            assert req.endswith(b"Content-Length: 2") or b"Content-Length: 2\r\n" in req
            return [b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", b""], "keep"
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"], \
            "keep"

    scenario = [urocket.Request("GET", "/", weight=5),
                urocket.Request("POST", "/api?x=1", {"Content-Type": "application/json"}, b"{}",
                                weight=3, name="post"),
                urocket.Request("HEAD", "/", weight=1),
                urocket.Request("GET", "/missing", weight=1)]
    with HttpServer(script) as srv:
        r = urocket.loadtest(srv.url, scenario=scenario, connections=1, requests=1000)
    assert r.error_count == 0 and r.responses == 1000 == len(seen)
    by = r.by_request
    assert list(by) == ["GET /", "post", "HEAD /", "GET /missing"]
    assert [by[n].responses for n in by] == [500, 300, 100, 100]   # exact shares
    assert [by[n].requests for n in by] == [500, 300, 100, 100]
    assert by["post"].status == {201: 300} and by["HEAD /"].status == {200: 100}
    assert by["GET /missing"].non2xx == 100 and r.non2xx == 100
    assert r.status == {200: 600, 201: 300, 404: 100}
    assert sum(sum(b.histogram.values()) for b in by.values()) == 1000
    # smooth weighted round robin: interleaved, not in blocks
    weights, cur, order = [5, 3, 1, 1], [0, 0, 0, 0], []
    for _ in range(1000):
        cur = [c + w for c, w in zip(cur, weights)]
        best = max(range(4), key=lambda i: (cur[i], -i))
        cur[best] -= sum(weights)
        order.append([b"GET /", b"POST /api?x=1", b"HEAD /", b"GET /missing"][best])
    assert seen == order
    j = r.to_json()
    assert j["by_request"]["post"]["status"] == {"201": 300}
    assert "request post" in r.table()
    # a list given as `request` is a scenario too; names must differ
    with pytest.raises(ValueError, match="names must differ"):
        urocket.LoadGenerator(srv.url, request=[urocket.Request(), urocket.Request()])


def test_ramp_starts_connections_over_time():
    conns = []

    def script(k, req):
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], "keep"

    with HttpServer(script) as srv:
        r = urocket.loadtest(srv.url, connections=4, duration=0.5, ramp=30.0)
        conns.append(len(srv.socks))
    assert r.responses > 0 and r.error_count == 0
    assert conns == [1]   # the others were due 7.5 s, 15 s and 22.5 s in

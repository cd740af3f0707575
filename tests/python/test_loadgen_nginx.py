"""The load generator against nginx from Debian (started by the test on a
loopback port, with its own config, files and logs in a temp dir): static
file, 404, gzip (chunked), keepalive_requests 10, Connection: close, HEAD.
The generator's counts must equal nginx's access log exactly (runs with
`requests=N` end with no request in flight)."""
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import urocket
from urk_net import LIVENESS, free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                  else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make deps)")

CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format counted '$status $request_method $request_uri';
    access_log {dir}/access.log counted;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    types {{ text/html html; text/plain txt; }}
    default_type application/octet-stream;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location /gz/ {{ gzip on; gzip_min_length 1; gzip_types text/plain; }}
        location /ka10/ {{ keepalive_requests 10; }}
        location /close/ {{ keepalive_timeout 0; }}
    }}
}}
"""

INDEX = b"<html><body>" + b"uRocket load test " * 100 + b"</body></html>\n"
TEXT = b"".join(b"line %05d of a compressible text file\n" % i for i in range(2000))


class Nginx:
    def __init__(self):
        # Readable by nginx's worker (user nobody when the master is root).
        self.dir = tempfile.mkdtemp(prefix="urk-nginx-")
        os.chmod(self.dir, 0o755)
        www = os.path.join(self.dir, "www")
        for sub in ("", "gz", "ka10", "close"):
            os.makedirs(os.path.join(www, sub), exist_ok=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, "tmp", sub), exist_ok=True)
        for path, data in (("index.html", INDEX), ("gz/big.txt", TEXT),
                           ("ka10/index.html", INDEX), ("close/index.html", INDEX)):
            with open(os.path.join(www, path), "wb") as f:
                f.write(data)
        for root, dirs, files in os.walk(self.dir):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for fn in files:
                os.chmod(os.path.join(root, fn), 0o644)
        self.proc = None
        for _ in range(5):  # a picked port may be taken meanwhile
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(CONF.format(dir=self.dir, port=self.port))
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready():
                return
            self.proc.kill()
            self.proc.wait()
        raise AssertionError("nginx did not start: %s" % self.errors())

    def _wait_ready(self):
        deadline = time.monotonic() + LIVENESS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def log(self):
        """(status counts, method counts, line count) of the access log so
        far; truncates it for the next run."""
        path = os.path.join(self.dir, "access.log")
        deadline = time.monotonic() + 2
        prev = -1
        while time.monotonic() < deadline:  # nginx writes each line as it goes
            size = os.path.getsize(path)
            if size == prev:
                break
            prev = size
            time.sleep(0.1)
        with open(path) as f:
            lines = [ln.split() for ln in f if ln.strip()]
        os.truncate(path, 0)
        return (dict(collections.Counter(int(ln[0]) for ln in lines)),
                dict(collections.Counter(ln[1] for ln in lines)), len(lines))

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(LIVENESS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def nginx():
    n = Nginx()
    try:
        yield n
    finally:
        n.close()


def raw_get(port, path, extra=b""):
    with socket.create_connection(("127.0.0.1", port), timeout=LIVENESS) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % (
            path.encode(), extra))
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d


def exact(nginx, path, n, **kw):
    r = urocket.loadtest(nginx.url(path), requests=n, **kw)
    status, methods, lines = nginx.log()
    assert r.error_count == 0, (r.errors, nginx.errors())
    assert r.responses == n and r.requests == n
    assert lines == n, (lines, status)
    assert r.status == status
    return r, methods


def test_static_file_counts_equal_the_access_log(nginx):
    r, methods = exact(nginx, "/index.html", 3000, connections=8, threads=2)
    assert r.status == {200: 3000} and r.non2xx == 0 and r.reconnects == 0
    assert methods == {"GET": 3000}
    assert r.bytes_in > 3000 * len(INDEX)


def test_404_is_counted_as_non2xx(nginx):
    r, _ = exact(nginx, "/missing.html", 1000, connections=4)
    assert r.status == {404: 1000} and r.non2xx == 1000
    assert "non-2xx" in r.table() and "404: 1,000" in r.table()


def test_gzip_chunked_responses(nginx):
    head = raw_get(nginx.port, "/gz/big.txt", b"Accept-Encoding: gzip\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Encoding: gzip" in head
    nginx.log()
    r, _ = exact(nginx, "/gz/big.txt", 600, connections=4,
                 headers={"Accept-Encoding": "gzip"})
    assert r.status == {200: 600}
    assert r.bytes_in < 600 * len(TEXT) / 3  # compressed bodies, framed by chunks


def test_keepalive_requests_10_are_reconnects_not_errors(nginx):
    n, c = 500, 4
    r, _ = exact(nginx, "/ka10/index.html", n, connections=c)
    assert r.status == {200: n}
    # every connection is closed by nginx after its 10th response; the last
    # batch of each connection may be cut short by the end of the run
    assert (n - c * 9) // 10 <= r.reconnects <= n // 10


def test_connection_close_every_response(nginx):
    head = raw_get(nginx.port, "/close/index.html")
    assert b"Connection: close" in head
    nginx.log()
    r, _ = exact(nginx, "/close/index.html", 300, connections=4)
    assert r.reconnects == 300 and r.status == {200: 300}


def test_head_requests(nginx):
    r, methods = exact(nginx, "/index.html", 500, connections=4, method="HEAD")
    assert methods == {"HEAD": 500} and r.status == {200: 500}
    assert r.bytes_in < 500 * len(INDEX)


def test_open_loop_duration_run_every_written_request_is_logged(nginx):
    r = urocket.loadtest(nginx.url("/index.html"), connections=4, duration=1.0, rate=500)
    time.sleep(0.2)
    status, _, lines = nginx.log()
    assert r.error_count == 0
    # requests counts written requests only: nginx logged each of them
    assert lines == r.requests
    assert r.responses <= r.requests <= r.responses + 4


def test_cli_against_nginx_json_and_thresholds(nginx, tmp_path):
    env = dict(os.environ)
    pydir = os.path.dirname(os.path.dirname(os.path.abspath(urocket.__file__)))
    env["PYTHONPATH"] = pydir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("URK_LIBRARY", os.path.abspath(urocket.library_path))
    url = "http://localhost:%d/missing" % nginx.port

    def run(*args):
        p = subprocess.run([sys.executable, "-m", "urocket", "load", *map(str, args)], env=env,
                           capture_output=True, timeout=LIVENESS + 30)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    rc, out, err = run(url, "-c", 4, "-n", 400, "--json", "--quiet",
                       "--csv", tmp_path / "t.csv", "--fail-if", "non2xx>0")
    status, _, lines = nginx.log()
    assert rc == 3, err                           # the threshold held
    assert "threshold non2xx>0" in err and "FAILED" in err
    j = json.loads(out.strip().splitlines()[-1])
    assert j["status"] == {"404": 400} == {str(k): v for k, v in status.items()}
    assert j["non2xx"] == 400 == lines and j["requests"] == 400
    assert "non-2xx     400 responses" in out
    assert (tmp_path / "t.csv").read_text().startswith("second,responses,errors")

    rc, out, err = run("http://localhost:%d/index.html" % nginx.port, "-c", 4, "-n", 300,
                       "--json", "--quiet", "--processes", 2, "--fail-if", "errors>0.1%",
                       "--fail-if", "non2xx>0", "-H", "X-Test: 1")
    status, _, lines = nginx.log()
    assert rc == 0, err
    j = json.loads(out.strip().splitlines()[-1])
    assert j["responses"] == 300 == lines and j["status"] == {"200": 300}
    assert j["processes"] == 2


@pytest.mark.parametrize("path,extra,check", [
    ("/gz/big.txt", ["-H", "Accept-Encoding: gzip"], "chunked"),   # chunked bodies
    ("/ka10/index.html", [], "reconnects"),                        # closes every 10th
    ("/close/index.html", [], "close"),                            # closes every response
])
def test_cli_counts_equal_the_access_log(nginx, path, extra, check):
    """The issue's own command line, `python3 -m urocket load http://localhost:PORT/...`,
    against chunked and closing servers: its counts are nginx's."""
    env = dict(os.environ)
    pydir = os.path.dirname(os.path.dirname(os.path.abspath(urocket.__file__)))
    env["PYTHONPATH"] = pydir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("URK_LIBRARY", os.path.abspath(urocket.library_path))
    nginx.log()
    n = 300
    p = subprocess.run([sys.executable, "-m", "urocket", "load",
                        "http://localhost:%d%s" % (nginx.port, path), "-c", "4", "-n", str(n),
                        "--json", "--quiet", *extra], env=env, capture_output=True,
                       timeout=LIVENESS + 30)
    assert p.returncode == 0, p.stderr.decode()
    j = json.loads(p.stdout.decode().strip().splitlines()[-1])
    status, _, lines = nginx.log()
    assert j["requests"] == n == j["responses"] == lines
    assert j["status"] == {str(k): v for k, v in status.items()} == {"200": n}
    errs = {k: v for k, v in j.items() if k.startswith("err_")}
    assert errs and not any(errs.values()), j
    if check == "close":
        assert j["reconnects"] == n
    elif check == "reconnects":
        assert (n - 4 * 9) // 10 <= j["reconnects"] <= n // 10
    else:
        assert j["bytes_in"] < n * len(TEXT) / 3

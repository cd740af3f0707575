"""`python3 -m urocket serve` and `python3 -m urocket load`, run as
subprocesses over loopback: output, JSON, plot, signals and errors."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import urocket
from urk_net import LIVENESS, free_port

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(urocket.__file__)))
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = PYTHON_DIR + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.setdefault("URK_LIBRARY", os.path.abspath(urocket.library_path))
    e.update(extra)
    return e


def cli(*args, **kw):
    return [sys.executable, "-m", "urocket"] + [str(a) for a in args]


class Server:
    """`python3 -m urocket serve ...` on a free port, stopped with a signal."""

    def __init__(self, *args, environ=None):
        self.proc = subprocess.Popen(cli("serve", "--port", 0, *args), env=environ or env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) with (\d+) reactor\(s\)$", line.strip())
        if not m:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("no banner: %r %r %r" % (line, out, err))
        self.port = int(m.group(1))
        self.reactors = int(m.group(2))

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=LIVENESS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("server ignored signal %d" % sig)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err.decode()


def load(port, *args, timeout=LIVENESS + 30):
    r = subprocess.run(cli("load", "--port", port, *args), env=env(), capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def http_exchange(port, n=3):
    with socket.create_connection(("127.0.0.1", port), timeout=LIVENESS) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * n)
        want = len(RESPONSE) * n
        got = b""
        while len(got) < want:
            data = s.recv(65536)
            assert data
            got += data
        return got


def native_available():
    from urocket.__main__ import _example_binary
    return _example_binary("http")[0] is not None


MODES = [
    pytest.param(["--mode", "pull"], id="pull"),
    pytest.param(["--mode", "pull", "--reactors", "2"], id="pull-2"),
    pytest.param(["--mode", "asyncio"], id="asyncio"),
    pytest.param(["--mode", "asyncio", "--loop", "uvloop"], id="uvloop"),
    pytest.param(["--mode", "native"], id="native"),
]


@pytest.mark.parametrize("mode", MODES)
def test_serve_http_then_load_json(mode):
    if "native" in mode and not native_available():
        pytest.skip("build/examples/http_server not built")
    if "uvloop" in mode:
        pytest.importorskip("uvloop")
    srv = Server(*mode)
    try:
        assert http_exchange(srv.port) == RESPONSE * 3
        rc, out, err = load(srv.port, "--connections", 8, "--duration", 2.2, "--json")
        assert rc == 0, err
        j = last_json(out)
        fields = set(urocket.loadgen.RESULT_FIELDS) | {
            "rps", "timeline", "status", "percentiles", "histogram", "errors"}
        assert fields <= set(j)
        assert j["responses"] > 0 and j["rps"] > 0
        assert sum(j[k] for k in j if k.startswith("err_")) == 0
        assert j["status"] == {"200": j["responses"]} and j["non2xx"] == 0
        assert j["lat_p50_ns"] <= j["lat_p99_ns"] <= j["lat_max_ns"]
        assert j["percentiles"]["p99"] == j["lat_p99_ns"]
        assert "responses/s" in out and "p99" in out          # the table
        # progress: rps, p50 and p99 of the same complete second
        m = re.search(r"\[\s*1s\]\s+([\d,]+) req/s.*p50.*p99.*errors 0", err)
        assert m, err
        assert int(m.group(1).replace(",", "")) == j["timeline"][0]["responses"]
    finally:
        rc, err = srv.stop()
    assert rc == 0, err


@pytest.mark.parametrize("mode", ["pull", "asyncio"])
def test_serve_echo(mode):
    srv = Server("--mode", mode, "--app", "echo")
    try:
        payload = os.urandom(300000)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=LIVENESS) as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += s.recv(65536)
        assert got == payload
    finally:
        rc, err = srv.stop(signal.SIGINT)
    assert rc == 0, err


def test_load_exact_request_count():
    srv = Server("--mode", "pull")
    try:
        rc, out, err = load(srv.port, "--connections", 4, "--requests", 777, "--json", "--quiet")
        assert rc == 0, err
        j = last_json(out)
        assert j["responses"] == 777 and j["requests"] == 777
        assert "req/s" not in err                            # --quiet
    finally:
        srv.stop()


def test_load_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    srv = Server("--mode", "pull")
    try:
        png = tmp_path / "out.png"
        rc, out, err = load(srv.port, "--connections", 2, "--duration", 1, "--plot", png)
        assert rc == 0, err
        with open(png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert str(png) in out
    finally:
        srv.stop()


def test_load_plot_without_matplotlib_says_so(tmp_path):
    # A sitecustomize that hides matplotlib, as on a machine without it.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['matplotlib'] = None\n")
    e = env()
    e["PYTHONPATH"] = str(tmp_path) + os.pathsep + e["PYTHONPATH"]
    r = subprocess.run(cli("load", "--port", 9, "--plot", tmp_path / "x.png"), env=e,
                       capture_output=True, timeout=LIVENESS)
    assert r.returncode == 2
    assert "matplotlib" in r.stderr.decode() and "python3-matplotlib" in r.stderr.decode()


def test_load_connection_refused_fails_fast():
    t0 = time.monotonic()
    rc, out, err = load(free_port(), "--connections", 2, "--duration", 10, "--json")
    assert rc == 2
    # Fails before the run would have started, not at the end of the 10 s
    # run (the bound leaves room for a slow interpreter start on a busy CI).
    assert time.monotonic() - t0 < 8
    assert "connection refused" in err


def test_load_refused_without_preflight_is_counted():
    rc, out, err = load(free_port(), "--connections", 2, "--duration", 0.5, "--json",
                        "--no-preflight")
    assert rc == 1
    j = last_json(out)
    assert j["responses"] == 0 and j["err_connect"] > 0
    assert "no response" in err and "connect errors" in err


def test_help_exits_zero():
    for sub in ("serve", "load", "merge"):
        r = subprocess.run(cli(sub, "--help"), env=env(), capture_output=True, timeout=LIVENESS)
        assert r.returncode == 0 and b"usage" in r.stdout
        # The help is printed as written: no format escapes leak into it.
        assert b"%%" not in r.stdout, r.stdout.decode()


@pytest.mark.parametrize("args", [
    ["serve", "--reactors", "0"],
    ["serve", "--mode", "nope"],
    ["serve", "--port", "70000"],
    ["load"],
    ["load", "--port", "80", "--duration", "-1"],
    ["load", "--port", "80", "--framing", "fixed"],
    ["load", "--host", "no-such-host.invalid", "--port", "80"],
])
def test_bad_arguments_exit_2(args):
    r = subprocess.run(cli(*args), env=env(), capture_output=True, timeout=LIVENESS)
    assert r.returncode == 2, r
    assert r.stderr


@pytest.mark.parametrize("args, message", [
    (["--port", "abc"], "argument --port/-p: 'abc' is not a port number (1..65535)"),
    (["--port", "0"], "0 is not in 1..65535"),
    (["--port", "80", "-t", "4", "-c", "2"], "-t must be <= -c (got -t 4, -c 2)"),
    (["--port", "80", "--cpu", "4000"], "--cpu 4000: this machine has CPUs "),
    (["--port", "80", "-c", "0"], "-c must be >= 1, got 0"),
    (["--port", "80", "-d", "soon"], "'soon' is not a time"),
    (["--port", "80", "-R", "0"], "must be > 0 requests per second"),
    (["--port", "80", "--processes", "9", "-c", "2"], "--processes must be <= -c"),
    (["http://no-such-host.invalid:8080/"], "cannot resolve host name 'no-such-host.invalid'"),
    (["https://127.0.0.1/"], "only http:// URLs are supported"),
    (["http://127.0.0.1:99999/"], "port must be a number in 1..65535"),
    (["--port", "80", "-H", "nocolon"], "expected 'Name: value'"),
    (["--port", "80", "--fail-if", "p99>>5"], "--fail-if 'p99>>5': expected METRIC OP VALUE"),
    (["--port", "80", "--fail-if", "latency>5ms"], "unknown metric 'latency'"),
    (["--port", "80", "--fail-if", "p99>5%"], "a latency takes a time unit"),
    (["--port", "80", "--body", "x", "--body-file", "/dev/null"], "--body and --body-file"),
])
def test_bad_flags_name_the_flag_and_range(args, message):
    r = subprocess.run(cli("load", *args), env=env(), capture_output=True, timeout=LIVENESS)
    assert r.returncode == 2, r
    assert message in r.stderr.decode(), r.stderr.decode()


def test_native_mode_without_the_binary_is_a_clear_error(tmp_path):
    lib = tmp_path / "liburocket.so.0"
    shutil.copy(os.path.realpath(urocket.library_path), lib)
    r = subprocess.run(cli("serve", "--mode", "native", "--port", 0),
                       env=env(URK_LIBRARY=str(lib)), capture_output=True, timeout=LIVENESS)
    assert r.returncode == 2
    msg = r.stderr.decode()
    assert "make examples" in msg and str(tmp_path / "examples" / "http_server") in msg


def test_serve_port_in_use_fails_cleanly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run(cli("serve", "--mode", "pull", "--port", port), env=env(),
                           capture_output=True, timeout=LIVENESS)
    assert r.returncode == 1
    assert b"EADDRINUSE" in r.stderr


def test_serve_stops_promptly_on_sigterm_with_live_connections():
    srv = Server("--mode", "asyncio")
    clients = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(5)]
    try:
        http_exchange(srv.port)
        t0 = time.monotonic()
        rc, err = srv.stop()
        assert rc == 0, err
        assert time.monotonic() - t0 < LIVENESS
        for c in clients:
            c.settimeout(LIVENESS)
            assert c.recv(10) == b""
    finally:
        for c in clients:
            c.close()


def test_load_open_loop_warns_when_the_rate_is_missed_and_prints_latency():
    srv = Server("--mode", "pull")
    try:
        rc, out, err = load(srv.port, "-c", 2, "-d", "1500ms", "-R", "50000000", "--latency",
                            "--ramp", "100ms")
        assert rc == 0, err
        assert "the target rate was missed: asked for 50,000,000 req/s" in err
        for q in ("50%", "75%", "90%", "99%", "99.9%", "99.99%"):
            assert q in out
        rc, out, err = load(srv.port, "-c", 2, "-d", "1500ms", "-R", "100")
        assert rc == 0, err
        assert "rate was missed" not in err
    finally:
        srv.stop()

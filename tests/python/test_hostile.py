"""Hostile clients against the example HTTP server (examples/http_server.c on
the native engine), each a test: slowloris, clients that never read,
connect-and-RST storms, half-open connections, a 2,000-connection burst and
4 MiB requests. After each one the server must still answer normally, and
its descriptor count and resident memory must come back to the baseline
measured before the attack.

The server runs as a subprocess (build/examples/http_server, or the one in
$URK_EXAMPLES_DIR: `make test-asan` points it at the ASan build) on a port
the kernel picks (--port 0: it prints the real one). Descriptors come from
/proc/<pid>/fd, memory from VmRSS in /proc/<pid>/status.
"""
import errno
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import time

import pytest

from urk_net import LIVENESS, Thread

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLES = os.environ.get("URK_EXAMPLES_DIR", os.path.join(ROOT, "build", "examples"))
SANITIZED = bool(os.environ.get("URK_SANITIZER"))

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
SEND_LIMIT = 4 << 20           # the engine's default per-connection send limit
# Memory tolerances. ASan keeps freed memory in quarantine and adds shadow
# memory, so the instrumented server gets more room.
RSS_SLACK = (96 if SANITIZED else 24) << 20
FD_SLACK = 0                   # descriptors must come back exactly


# ---------------------------------------------------------------- server --

class Server:
    """The example server as a subprocess, with what /proc says about it."""

    def __init__(self):
        binary = os.path.join(EXAMPLES, "http_server")
        assert os.path.exists(binary), "%s missing: run `make examples`" % binary
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)  # an ASan build links its runtime itself
        if SANITIZED:
            # Leak check at exit (the exit status tells), a small quarantine
            # so memory can come back to the baseline.
            env["ASAN_OPTIONS"] = "detect_leaks=1:quarantine_size_mb=16"
        self.proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("listening on "), "server said %r" % line
        hostport = line.split()[2]
        host, port = hostport.rsplit(":", 1)
        self.addr = (host, int(port))
        assert self.addr[1] > 0, "server printed port 0: %r" % line
        self.pid = self.proc.pid

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def rss(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status (ASan leak reports make it
        non-zero) and what the server wrote to stderr."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(LIVENESS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "hung"
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, err


def connect(addr, timeout=LIVENESS):
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_responses(sock, count, timeout=LIVENESS):
    """Reads exactly `count` canned responses from sock (fails on anything
    else or on EOF first)."""
    want = RESPONSE * count
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < len(want):
        left = deadline - time.monotonic()
        assert left > 0, "timed out with %d of %d bytes" % (len(got), len(want))
        sock.settimeout(left)
        chunk = sock.recv(len(want) - len(got))
        assert chunk, "EOF after %d of %d bytes" % (len(got), len(want))
        got += chunk
    assert bytes(got) == want, "unexpected bytes: %r" % bytes(got[:200])


def normal_request(addr):
    """One client, one request, one response, then close."""
    with connect(addr) as s:
        s.sendall(REQUEST)
        read_responses(s, 1)


def wait_until(pred, what, timeout=LIVENESS):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what()
        time.sleep(0.05)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@pytest.fixture(scope="module")
def server():
    # A burst of 2,000 connections needs descriptors in both processes: raise
    # our limit before the server inherits it.
    raise_nofile(8192)
    srv = Server()
    try:
        for _ in range(20):  # warm up: first connections allocate slots
            normal_request(srv.addr)
        yield srv
    finally:
        rc, err = srv.stop()
    assert rc == 0, "server exit status %r; stderr:\n%s" % (rc, err[-4000:])


@pytest.fixture
def baseline(server):
    """Checks, after the test, that the server still answers and its
    descriptors and memory came back to what they were before."""
    normal_request(server.addr)
    fds0, rss0 = server.fds(), server.rss()
    yield server
    assert server.alive(), "server died"
    normal_request(server.addr)
    wait_until(lambda: server.fds() <= fds0 + FD_SLACK,
               lambda: "server fds back to %d (now %d)" % (fds0, server.fds()))
    wait_until(lambda: server.rss() <= rss0 + RSS_SLACK,
               lambda: "server RSS back to %d KiB + slack (now %d KiB)"
               % (rss0 >> 10, server.rss() >> 10))
    normal_request(server.addr)


# ---------------------------------------------------------------- attacks --

def test_slowloris(baseline):
    """50 clients trickle a request one byte per 100 ms; meanwhile other
    clients are answered, and every slow request is answered once complete."""
    srv = baseline
    slow = [connect(srv.addr) for _ in range(50)]
    try:
        answered_meanwhile = 0
        for i in range(len(REQUEST)):
            for s in slow:
                s.send(REQUEST[i:i + 1])
            if i % 5 == 0:
                normal_request(srv.addr)  # not held up by the slow ones
                answered_meanwhile += 1
            time.sleep(0.1)
        assert answered_meanwhile >= 5
        for s in slow:
            read_responses(s, 1)
    finally:
        for s in slow:
            s.close()


def test_clients_that_never_read(baseline):
    """8 clients flood pipelined requests and never read. The server's
    queued responses per connection are bounded by the send limit (the
    example closes a connection over it), so its memory stays bounded, the
    flooders are closed or stalled, and others are still answered."""
    srv = baseline
    rss0 = srv.rss()
    nflood = 8
    flood = []
    for _ in range(nflood):
        s = socket.socket()
        # a small receive window: the server's queue fills sooner
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(srv.addr)
        s.setblocking(False)
        flood.append(s)
    burst = REQUEST * 2000  # 54 KB of requests -> 102 KB of responses
    sent = [0] * nflood
    ended = [None] * nflood  # "closed" or "stalled"
    peak = rss0
    # Bound: every flooder at the send limit, plus what sits in kernel socket
    # buffers (not counted in RSS), plus slack for the allocator.
    bound = rss0 + nflood * SEND_LIMIT + RSS_SLACK + (32 << 20)
    deadline = time.monotonic() + LIVENESS
    last_progress = time.monotonic()
    rounds = 0
    try:
        while None in ended:
            rounds += 1
            assert time.monotonic() < deadline, "flood did not end: %r %r" % (sent, ended)
            progressed = False
            for i, s in enumerate(flood):
                if ended[i]:
                    continue
                try:
                    n = s.send(burst)
                    sent[i] += n
                    progressed = progressed or n > 0
                except BlockingIOError:
                    pass
                except (ConnectionResetError, BrokenPipeError):
                    ended[i] = "closed"
            if progressed:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > 2.0:
                # Nobody can send any more: the server stopped reading them
                # (its receive side is full) -- stalled, not growing.
                for i in range(nflood):
                    ended[i] = ended[i] or "stalled"
            peak = max(peak, srv.rss())
            assert peak <= bound, "server RSS %d MiB over bound %d MiB after %r bytes" % (
                peak >> 20, bound >> 20, sent)
            if rounds % 200 == 0:
                normal_request(srv.addr)  # answered during the flood
        normal_request(srv.addr)  # others unaffected
        peak = max(peak, srv.rss())
        assert peak <= bound
        assert min(sent) > SEND_LIMIT // 2, "flooders sent too little to matter: %r" % sent
    finally:
        for s in flood:
            s.close()


def _rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_connect_and_rst_storm(baseline):
    """2,000 connections reset (SO_LINGER 0) right after connecting, some
    after sending part of a request, some after a whole one."""
    srv = baseline
    for i in range(2000):
        s = socket.socket()
        try:
            s.connect(srv.addr)
            if i % 3 == 1:
                s.send(REQUEST[:10])
            elif i % 3 == 2:
                s.send(REQUEST)
        finally:
            _rst_close(s)
        if i % 500 == 0:
            normal_request(srv.addr)


def test_half_open_and_half_closed(baseline):
    """200 idle connections (no bytes, no FIN) stay open while others are
    served; 100 clients send a request and shut down their write side: each
    still gets its response, then EOF."""
    srv = baseline
    idle = [connect(srv.addr) for _ in range(200)]
    try:
        normal_request(srv.addr)
        for _ in range(100):
            with connect(srv.addr) as s:
                s.sendall(REQUEST)
                s.shutdown(socket.SHUT_WR)
                read_responses(s, 1)
                s.settimeout(LIVENESS)
                assert s.recv(100) == b"", "expected EOF after the response"
        # idle ones are still usable: one request on each of a few
        for s in idle[:20]:
            s.sendall(REQUEST)
            read_responses(s, 1)
    finally:
        for s in idle:
            s.close()


def test_burst_2000_connections(baseline):
    """2,000 connections opened at once, each sends one request: every one is
    answered."""
    srv = baseline
    n = 2000
    limit = raise_nofile(n + 256)
    if limit < n + 64:
        pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (limit, n + 64))
    sel = selectors.DefaultSelector()
    socks = []
    got = {}
    try:
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(srv.addr)
            assert err in (0, errno.EINPROGRESS), os.strerror(err)
            socks.append(s)
            got[s] = bytearray()
            sel.register(s, selectors.EVENT_WRITE)
        pending_write = set(socks)
        done = 0
        deadline = time.monotonic() + LIVENESS * 2
        while done < n:
            assert time.monotonic() < deadline, "burst: %d of %d answered" % (done, n)
            for key, ev in sel.select(1.0):
                s = key.fileobj
                if s in pending_write:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, "connect failed: %s" % os.strerror(err)
                    s.send(REQUEST)  # 27 bytes always fit
                    pending_write.discard(s)
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(4096)
                assert chunk, "EOF before the response"
                got[s] += chunk
                if len(got[s]) >= len(RESPONSE):
                    assert bytes(got[s]) == RESPONSE
                    sel.unregister(s)
                    done += 1
        normal_request(srv.addr)
    finally:
        sel.close()
        for s in socks:
            s.close()


def test_4mib_requests(baseline):
    """Requests with 4 MiB of header: one response each, the server stays up
    and the next request on the same connection is answered too."""
    srv = baseline
    big = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (4 << 20) + b"\r\n\r\n"
    for _ in range(3):
        with connect(srv.addr) as s:
            t = Thread(s.sendall, big)
            t.start()
            read_responses(s, 1)
            t.join()
            s.sendall(REQUEST)
            read_responses(s, 1)  # exactly one for the big one, one for this
    assert srv.alive()


def test_server_port_zero_reported():
    """--port 0 binds a free port and prints the real one."""
    srv = Server()
    try:
        normal_request(srv.addr)
    finally:
        rc, err = srv.stop()
    assert rc == 0, err[-2000:]

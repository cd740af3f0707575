"""abi.md's C examples, taken out of the document as a reader would copy
them, built with the command it gives and run against real clients: the
host-loop echo server (an epoll loop that never polls unprompted must see
every event) and the backpressure handlers (data received after a refusal
queues behind the refused bytes)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from urk_net import LIVENESS, free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ABI_MD = os.path.join(ROOT, "abi.md")
CC = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")

pytestmark = pytest.mark.skipif(not CC, reason="no C compiler")


def c_block_after(heading):
    """The first ```c block after the line `heading` in abi.md."""
    with open(ABI_MD) as f:
        text = f.read()
    at = text.index("\n" + heading + "\n")
    m = re.compile(r"```c\n(.*?)```", re.S).search(text, at)
    assert m, "no C block after %r in abi.md" % heading
    return m.group(1)


def build(tmp_path, name, source):
    """Builds source as abi.md says (cc -std=c11 FILE -lurocket), against the
    library under test."""
    lib = os.environ.get("URK_LIBRARY") or os.path.join(ROOT, "build", "liburocket.so")
    libdir = os.path.dirname(os.path.realpath(lib))
    src = tmp_path / (name + ".c")
    src.write_text(source)
    exe = tmp_path / name
    cmd = [CC, "-std=c11", str(src), "-o", str(exe), "-I", os.path.join(ROOT, "shim", "include"),
           "-L", libdir, "-Wl,-rpath," + libdir, "-lurocket"]
    if os.environ.get("URK_SANITIZER") == "asan":
        cmd.insert(1, "-fsanitize=address")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "abi.md's %s example does not build:\n%s" % (name, r.stderr)
    return str(exe)


class Program:
    """Runs a built example with line-buffered stdout (it is killed by a
    signal, so a full stdio buffer would be lost) and collects its lines."""

    def __init__(self, argv, port):
        stdbuf = shutil.which("stdbuf")
        self.proc = subprocess.Popen(([stdbuf, "-oL"] if stdbuf else []) + argv,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + LIVENESS
        while True:
            assert self.proc.poll() is None, "exited early: %s" % self.proc.stderr.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "never listened on %d" % port
                time.sleep(0.02)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def count(self, prefix):
        return sum(1 for ln in list(self.lines) if ln.startswith(prefix))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=LIVENESS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.reader.join(LIVENESS)
        return err


def echo_client(port, payload, results, i, half_close):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=LIVENESS) as s:
            got = bytearray()
            sender = threading.Thread(target=s.sendall, args=(payload,))
            sender.start()
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            sender.join()
            if half_close:
                s.shutdown(socket.SHUT_WR)
                s.recv(1)  # the server closes once it has seen FIN
        results[i] = bytes(got) == payload
    except OSError as e:
        results[i] = e


def test_host_loop_example_sees_every_event(tmp_path):
    source = c_block_after("### A host loop in C")
    assert "opts.port = 7000;" in source  # the line this test rewrites
    port = free_port()
    exe = build(tmp_path, "hostloop", source.replace("opts.port = 7000;", "opts.port = %d;" % port))
    prog = Program([exe], port)
    n = 200
    try:
        results = [None] * n
        threads = [threading.Thread(target=echo_client,
                                    args=(port, os.urandom(1 + (i * 7919) % 200000), results, i,
                                          i % 2 == 0))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LIVENESS)
        assert results == [True] * n, [r for r in results if r is not True][:5]
        # Every connection's OPEN and CLOSED reached the handler, the probe
        # connection Program() made included, with no poll but on readiness.
        for what in ("open ", "closed "):
            wait_for(lambda: prog.count(what) >= n + 1, what="%d %r lines" % (n + 1, what))
        time.sleep(0.2)
        assert prog.count("open ") == n + 1 and prog.count("closed ") == n + 1
    finally:
        err = prog.stop()
    assert "ERROR" not in err, err[-3000:]


BACKPRESSURE_MAIN = r"""
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <urocket.h>

%(handlers)s

int main(int argc, char **argv)
{
    urk_engine_opts_t opts;
    urk_engine_opts_init(&opts);
    opts.port = (uint16_t)atoi(argv[1]);
    opts.reactors = 1;
    opts.send_limit = 4096; /* small: -EAGAIN comes early and often */
    urk_engine_t *e;
    int rc = urk_engine_create(&opts, &e);
    if (rc == 0)
        rc = urk_engine_start(e, NULL);
    if (rc < 0) {
        fprintf(stderr, "engine: %%s\n", urk_strerror(rc));
        return 1;
    }
    urk_reactor_t *r;
    urk_engine_reactor(e, 0, &r);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event want = {.events = EPOLLIN, .data.ptr = r};
    epoll_ctl(ep, EPOLL_CTL_ADD, urk_reactor_fd(r), &want);
    for (;;) {
        struct epoll_event ready;
        int n = epoll_wait(ep, &ready, 1, -1);
        if (n < 0 && errno != EINTR)
            break;
        urk_event_t ev[64];
        int got;
        do {
            got = urk_reactor_poll(r, ev, 64, 0);
            for (int i = 0; i < got; i++) {
                switch (ev[i].type) {
                case URK_EV_OPEN: on_open(r, &ev[i]); break;
                case URK_EV_DATA:
                    on_data(r, &ev[i]);
                    urk_reactor_release(r, &ev[i].buf, 1);
                    break;
                case URK_EV_WRITABLE: on_writable(r, &ev[i]); break;
                case URK_EV_CLOSED: on_closed(&ev[i]); break;
                default: break;
                }
            }
        } while (got == 64);
        urk_reactor_flush(r);
    }
    urk_engine_destroy(e);
    return 0;
}
"""


def test_backpressure_example_keeps_the_order(tmp_path):
    handlers = c_block_after("### Backpressure")
    exe = build(tmp_path, "backpressure", BACKPRESSURE_MAIN % {"handlers": handlers})
    port = free_port()
    prog = Program([exe, str(port)], port)
    try:
        # Clients that send far more than send_limit before reading anything:
        # the example must refuse, pause, hold and resend in order.
        n = 16
        results = [None] * n
        threads = []
        for i in range(n):
            payload = os.urandom(256 * 1024 + i * 1000)
            threads.append(threading.Thread(target=slow_reader, args=(port, payload, results, i)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(LIVENESS * 2)
        assert results == [True] * n, [r for r in results if r is not True][:5]
    finally:
        err = prog.stop()
    assert "ERROR" not in err, err[-3000:]


def slow_reader(port, payload, results, i):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=LIVENESS) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sender = threading.Thread(target=s.sendall, args=(payload,))
            sender.start()
            time.sleep(0.3)  # let the server hit its limit while nobody reads
            got = bytearray()
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            sender.join()
        results[i] = bytes(got) == payload
    except OSError as e:
        results[i] = e

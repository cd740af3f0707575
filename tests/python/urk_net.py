"""Helpers for the engine, asyncio and load generator tests: plain-socket
clients and servers on loopback, and a thread that re-raises its failure."""
import selectors
import socket
import threading
import time

LIVENESS = 30.0  # seconds; only a hang should ever reach it


class Thread(threading.Thread):
    """A thread whose exception is re-raised by join()."""

    def __init__(self, target, *args, **kwargs):
        super().__init__(daemon=True)
        self._fn, self._args, self._kwargs = target, args, kwargs
        self.exc = None
        self.result = None

    def run(self):
        try:
            self.result = self._fn(*self._args, **self._kwargs)
        except BaseException as e:  # noqa: B902 - handed to join()
            self.exc = e

    def join(self, timeout=LIVENESS):
        super().join(timeout)
        if self.is_alive():
            raise AssertionError("thread %s hung" % self._fn.__name__)
        if self.exc is not None:
            raise self.exc
        return self.result


def echo_clients(addr, payloads, timeout=LIVENESS, chunk=65536):
    """Connect one client per payload to addr, send each payload while
    reading back as many bytes, all at once on non-blocking sockets; returns
    the received bytes per client, in order."""
    sel = selectors.DefaultSelector()
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    state = []
    try:
        for i, p in enumerate(payloads):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.connect(addr)
            s.setblocking(False)
            st = {"sock": s, "out": memoryview(p), "in": bytearray(), "want": len(p)}
            state.append(st)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
        left = len(state)
        deadline = time.monotonic() + timeout
        while left:
            if time.monotonic() > deadline:
                raise AssertionError("echo clients hung: %d of %d unfinished, got %r" % (
                    left, len(state), [len(s["in"]) for s in state][:20]))
            for key, ev in sel.select(0.5):
                st = key.data
                s = st["sock"]
                if ev & selectors.EVENT_WRITE and st["out"]:
                    try:
                        n = s.send(st["out"][:chunk])
                        st["out"] = st["out"][n:]
                    except BlockingIOError:
                        pass
                    if not st["out"]:
                        sel.modify(s, selectors.EVENT_READ, st)
                if ev & selectors.EVENT_READ:
                    try:
                        data = s.recv(chunk)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise AssertionError("server closed a client early")
                    st["in"] += data
                    if len(st["in"]) >= st["want"]:
                        sel.unregister(s)
                        left -= 1
        return [bytes(st["in"]) for st in state]
    finally:
        for st in state:
            st["sock"].close()
        sel.close()


def read_until_closed(sock, timeout=LIVENESS):
    """Every byte until EOF or reset."""
    sock.settimeout(timeout)
    out = bytearray()
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        out += data
    return bytes(out)


def wait_for(pred, timeout=LIVENESS, interval=0.01, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)

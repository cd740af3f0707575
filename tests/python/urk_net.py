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


def free_port(host="127.0.0.1"):
    """A port nothing listens on right now (bound and released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=LIVENESS, interval=0.01, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class ScriptedServer:
    """A thread-per-connection loopback server for the load generator tests.

    Requests are `request_len` bytes, or end with `request_end`. Each is
    answered with `response` (bytes, or a function of the request number),
    after `delay` seconds, written in `pieces` separate segments (TCP_NODELAY
    and a short pause between them) so the client sees responses split
    across reads. Counts what it received and sent.
    """

    def __init__(self, response, request_len=None, request_end=None, delay=0.0, pieces=1):
        assert (request_len is None) != (request_end is None)
        self.response = response
        self.request_len = request_len
        self.request_end = request_end
        self.delay = delay
        self.pieces = pieces
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.connections = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        self.threads = []
        self.closing = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.closing:
                    s.close()
                    return
                self.connections += 1
                self.socks.append(s)
                t = threading.Thread(target=self._serve, args=(s,), daemon=True)
                self.threads.append(t)
            t.start()

    def _count(self, buf):
        """Complete requests at the start of buf, and what is left."""
        if self.request_len:
            n = len(buf) // self.request_len
            return n, buf[n * self.request_len:]
        parts = buf.split(self.request_end)
        return len(parts) - 1, parts[-1]

    def _serve(self, s):
        buf = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return
                buf += data
                n, buf = self._count(buf)
                with self.lock:
                    self.bytes_in += len(data)
                    first = self.requests
                    self.requests += n
                for k in range(n):
                    if self.delay:
                        time.sleep(self.delay)
                    resp = self.response(first + k) if callable(self.response) else self.response
                    if self.pieces > 1:
                        step = max(1, -(-len(resp) // self.pieces))
                        for off in range(0, len(resp), step):
                            s.sendall(resp[off:off + step])
                            time.sleep(0.002)
                    else:
                        s.sendall(resp)
                    with self.lock:
                        self.bytes_out += len(resp)
        except OSError:
            return
        finally:
            s.close()

    def close(self):
        with self.lock:
            self.closing = True
            socks = list(self.socks)
            threads = list(self.threads)
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.acceptor.join(LIVENESS)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(LIVENESS)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

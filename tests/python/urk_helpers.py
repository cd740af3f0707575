"""Helpers for the Python tests: loopback sockets and completion collection."""
import random
import socket
import time

LIVENESS_TIMEOUT = 20.0  # generous: only a hang should ever hit it


def listener(v6=False, backlog=512):
    """A listening TCP socket on 127.0.0.1 or ::1 with an ephemeral port."""
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::1" if v6 else "127.0.0.1", 0))
    s.listen(backlog)
    return s


def connect(lsock):
    """A client socket connected to lsock (loopback connects complete at once)."""
    c = socket.socket(lsock.family, socket.SOCK_STREAM)
    c.connect(lsock.getsockname()[:2])
    return c


def tcp_pair(v6=False):
    """(client, server) plain sockets connected over loopback."""
    with listener(v6) as l:
        c = connect(l)
        s, _ = l.accept()
    return c, s


def pattern(n, seed=1):
    """n deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(n)


class Got:
    """A completion copied out of a batch, with its data (if any) as bytes."""

    __slots__ = ("user_data", "res", "flags", "buf_id", "buf_group", "data")

    def __init__(self, batch, i):
        c = batch[i]
        self.user_data, self.res, self.flags = c.user_data, c.res, c.flags
        self.buf_id, self.buf_group = c.buf_id, c.buf_group
        self.data = batch.bytes(i)

    @property
    def more(self):
        return bool(self.flags & 2)

    def __repr__(self):
        return "Got(ud=%d res=%d flags=%#x bid=%d len=%d)" % (
            self.user_data, self.res, self.flags, self.buf_id, len(self.data))


def collect(ring, until, timeout=LIVENESS_TIMEOUT, recycle=None):
    """Harvest completions (copied into Got records) until until(list) is
    true; recycle buffers to the given BufRing(s) as they arrive. Fails on a
    hang after `timeout` seconds."""
    got = []
    deadline = time.monotonic() + timeout
    if recycle is not None and not isinstance(recycle, (list, tuple)):
        recycle = [recycle]
    while not until(got):
        left = deadline - time.monotonic()
        assert left > 0, "timed out waiting for completions; have %r" % got[-10:]
        batch = ring.complete(64, 1, min(left, 1.0))
        for i in range(len(batch)):
            got.append(Got(batch, i))
        for br in recycle or ():
            br.recycle_batch(batch)
    return got


def has_ud(ud, count=1):
    """Predicate for collect(): `count` completions with user_data ud."""
    return lambda got: sum(1 for g in got if g.user_data == ud) >= count

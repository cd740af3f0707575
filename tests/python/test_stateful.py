"""Stateful property test of the engine's pull-mode API (hypothesis).

Random sequences of calls against a live engine, driven through the cffi
library directly (urocket's lib/ffi), so every argument can be wrong:
incoming and outgoing connections, sends of zero to several send-limits of
bytes, polls, buffer releases (held, already released, out of range),
graceful and abortive closes, peer closes and resets, pause/resume,
shutdown-write, stale ids, foreign ids, NULL handles, calls from a thread
that does not own the reactor, and finally stop and destroy.

After every step: no crash; every code returned is documented
(urk_err_name is not "UNKNOWN") and is one the call may return; the reactor's
bufs_held equals the DATA buffers the test holds; live_conns equals the
connections the test has seen open and not yet seen CLOSED; bytes delivered
either way are exactly the bytes sent, in order. After stop and destroy no
descriptor is left open.
"""
import errno
import os
import random
import socket
import struct
import threading
import time

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import urocket
from urocket import ffi, lib

LIVENESS = 20.0
BUF_COUNT = 16
BUF_SIZE = 512
SEND_LIMIT = 64 << 10
EV_OPEN, EV_DATA, EV_WRITABLE, EV_CLOSED, EV_SEND_DONE, EV_CONNECT_FAILED = 1, 2, 3, 4, 5, 6
ESTALE_ID = urocket.ESTALE_ID
ECLOSING = urocket.ECLOSING
ESTATE = urocket.ESTATE
ETHREAD = urocket.ETHREAD


def documented(rc):
    name = ffi.string(lib.urk_err_name(rc)).decode()
    assert rc >= 0 or name != "UNKNOWN", "undocumented code %d" % rc
    return rc


def expect(rc, *allowed):
    """rc must be documented and one of `allowed` (0 and negative codes)."""
    documented(rc)
    assert rc in allowed, "got %d (%s), expected one of %r" % (
        rc, ffi.string(lib.urk_err_name(rc)).decode(), allowed)
    return rc


def open_fds():
    return set(os.listdir("/proc/self/fd"))


class Conn:
    def __init__(self, cid, peer, outgoing):
        self.id = cid
        self.peer = peer            # our end (a plain socket)
        self.outgoing = outgoing
        self.state = "open"         # open, closing (we asked), gone (CLOSED seen)
        self.to_engine = bytearray()   # bytes the peer sent
        self.delivered = 0             # ... of which DATA events carried
        self.to_peer = bytearray()     # bytes urk_send accepted
        self.peer_got = 0              # ... of which the peer read
        self.peer_eof = False
        self.shut_wr = False
        self.peer_closed = False
        self.user = 0


class EngineMachine(RuleBasedStateMachine):
    """One engine per example; the test thread owns reactor 0."""

    def __init__(self):
        super().__init__()
        self.fds_before = open_fds()
        self.rng = random.Random(0)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        o = ffi.new("urk_engine_opts_t *")
        lib.urk_engine_opts_init(o)
        self.host = ffi.new("char[]", b"127.0.0.1")
        o.host = self.host
        o.buf_count = BUF_COUNT
        o.buf_size = BUF_SIZE
        o.send_limit = SEND_LIMIT
        o.max_conns = 64
        o.sq_entries = 64
        eng = ffi.new("urk_engine_t **")
        expect(lib.urk_engine_create(o, eng), 0)
        self.engine = eng[0]
        expect(lib.urk_engine_start(self.engine, ffi.NULL), 0)
        rp = ffi.new("urk_reactor_t **")
        expect(lib.urk_engine_reactor(self.engine, 0, rp), 0)
        self.r = rp[0]
        self.port = lib.urk_engine_port(self.engine)
        self.events = ffi.new("urk_event_t[1024]")
        self.conns = {}         # id -> Conn, until CLOSED
        self.stale = []         # ids after CLOSED / CONNECT_FAILED
        self.held = set()       # DATA buffer handles we hold
        self.released = set()   # handles we gave back (for double release)
        self.connecting = {}    # tag -> id, outgoing not yet OPEN
        self.failed_tags = {}
        self.tag = 100
        self.stopped = False
        self.pending_clients = {}   # local port -> socket, not yet OPEN
        self.closed_peers = []
        self.poll(0)  # claims the reactor for this thread

    # ---------------------------------------------------------- helpers --

    def poll(self, timeout_ms=0):
        n = documented(lib.urk_reactor_poll(self.r, self.events, 1024, timeout_ms))
        assert n >= 0
        for i in range(n):
            self.on_event(self.events[i])
        return n

    def on_event(self, ev):
        cid, t = ev.conn, ev.type
        if t == EV_OPEN:
            if ev.user:  # outgoing: the tag given to connect
                assert self.connecting.get(ev.user) == cid, "OPEN for unknown tag %d" % ev.user
                del self.connecting[ev.user]
                peer, _ = self.listener.accept()
                self.conns[cid] = Conn(cid, peer, True)
                self.conns[cid].user = ev.user
            else:
                addr = bytes(ffi.buffer(ev.data, ev.len))
                family = struct.unpack_from("<H", addr)[0]
                assert family == socket.AF_INET
                port = struct.unpack_from(">H", addr, 2)[0]
                peer = self.pending_clients.pop(port)
                self.conns[cid] = Conn(cid, peer, False)
        elif t == EV_DATA:
            c = self.conns.get(cid)
            assert c is not None, "DATA for unknown or closed conn %#x" % cid
            assert ev.buf and ev.buf not in self.held
            data = bytes(ffi.buffer(ev.data, ev.len))
            want = bytes(c.to_engine[c.delivered:c.delivered + len(data)])
            assert data == want, "conn %#x: DATA does not match what the peer sent" % cid
            c.delivered += len(data)
            assert ev.user == c.user
            self.held.add(ev.buf)
            self.released.discard(ev.buf)
        elif t == EV_CLOSED:
            c = self.conns.pop(cid, None)
            assert c is not None, "CLOSED for unknown conn %#x" % cid
            assert ev.res in (0, 1) or (ev.res < 0 and documented(ev.res) < 0), ev.res
            self.stale.append(cid)
            self.closed_peers.append(c.peer)
        elif t == EV_CONNECT_FAILED:
            assert self.connecting.get(ev.user) == cid
            del self.connecting[ev.user]
            self.failed_tags[ev.user] = ev.res
            documented(ev.res)
            self.stale.append(cid)
        elif t == EV_WRITABLE:
            assert cid in self.conns
        elif t == EV_SEND_DONE:
            documented(ev.res) if ev.res < 0 else None
        else:
            raise AssertionError("unknown event type %d" % t)

    def poll_until(self, pred, what):
        deadline = time.monotonic() + LIVENESS
        while not pred():
            assert time.monotonic() < deadline, "timed out waiting for " + what
            self.poll(20)

    def stats(self):
        s = ffi.new("urk_reactor_stats_t *")
        expect(lib.urk_reactor_stats(self.r, s), 0)
        return s

    def open_conns(self):
        return [c for c in self.conns.values() if c.state == "open"]

    def pick(self, data, conns):
        return conns[data.draw(st.integers(0, len(conns) - 1))]

    def payload(self, n):
        return self.rng.randbytes(n)

    # ------------------------------------------------------------ rules --

    @precondition(lambda self: not self.stopped and len(self.conns) < 12)
    @rule()
    def open_incoming(self):
        c = socket.create_connection(("127.0.0.1", self.port), timeout=LIVENESS)
        self.pending_clients[c.getsockname()[1]] = c
        self.poll_until(lambda: not self.pending_clients, "OPEN of an accepted connection")

    @precondition(lambda self: not self.stopped and len(self.conns) < 12)
    @rule()
    def open_outgoing(self):
        addr = ffi.new("urk_addr_t *")
        expect(lib.urk_addr_parse(b"127.0.0.1", self.listener.getsockname()[1], addr), 0)
        out = ffi.new("urk_conn_t *")
        self.tag += 1
        expect(lib.urk_reactor_connect(self.r, addr, self.tag, out), 0)
        assert out[0] != 0
        self.connecting[self.tag] = out[0]
        self.poll_until(lambda: self.tag not in self.connecting, "OPEN of a connect")
        assert self.tag not in self.failed_tags

    @precondition(lambda self: not self.stopped)
    @rule()
    def connect_refused(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens there now
        addr = ffi.new("urk_addr_t *")
        expect(lib.urk_addr_parse(b"127.0.0.1", port, addr), 0)
        out = ffi.new("urk_conn_t *")
        self.tag += 1
        expect(lib.urk_reactor_connect(self.r, addr, self.tag, out), 0)
        self.connecting[self.tag] = out[0]
        self.poll_until(lambda: self.tag not in self.connecting, "CONNECT_FAILED")
        assert self.failed_tags.get(self.tag) == -errno.ECONNREFUSED

    @precondition(lambda self: not self.stopped and self.open_conns())
    @rule(data=st.data(), size=st.integers(1, 3000))
    def peer_sends(self, data, size):
        c = self.pick(data, self.open_conns())
        if c.peer_closed:
            return
        blob = self.payload(size)
        c.peer.sendall(blob)
        c.to_engine += blob

    @precondition(lambda self: not self.stopped and self.open_conns())
    @rule(data=st.data(), size=st.sampled_from([0, 1, 100, 4096, 60000, 3 * SEND_LIMIT]),
          flags=st.sampled_from([0, 0, 2, 4, 8]))
    def engine_sends(self, data, size, flags):
        c = self.pick(data, self.open_conns())
        blob = self.payload(size)
        rc = lib.urk_send(self.r, c.id, blob, size, flags, 7)
        if size == 0 or flags == 8:
            expect(rc, -errno.EINVAL)
            return
        if c.shut_wr:
            expect(rc, -ECLOSING)
            return
        if c.peer_closed:  # the engine may have seen the reset already
            expect(rc, 0, -errno.EAGAIN, -ECLOSING)
        else:
            expect(rc, 0, -errno.EAGAIN)
        if rc == 0:
            c.to_peer += blob

    @rule(timeout=st.sampled_from([0, 0, 10]))
    def poll_some(self, timeout):
        if self.stopped:
            expect(lib.urk_reactor_poll(self.r, self.events, 4, timeout), -ESTATE)
        else:
            self.poll(timeout)

    @precondition(lambda self: self.conns)
    @rule()
    def peers_read(self):
        for c in list(self.conns.values()):
            self.drain_peer(c)

    def drain_peer(self, c):
        if c.peer_closed or c.peer_eof:
            return
        c.peer.setblocking(False)
        try:
            while True:
                chunk = c.peer.recv(1 << 20)
                if not chunk:
                    c.peer_eof = True
                    break
                want = bytes(c.to_peer[c.peer_got:c.peer_got + len(chunk)])
                assert chunk == want, "conn %#x: peer got bytes that were not sent" % c.id
                c.peer_got += len(chunk)
        except (BlockingIOError, InterruptedError):
            pass
        except ConnectionResetError:
            c.peer_eof = True
        finally:
            c.peer.setblocking(True)

    @precondition(lambda self: self.held and not self.stopped)
    @rule(data=st.data())
    def release_some(self, data):
        held = sorted(self.held)
        pick = data.draw(st.lists(st.sampled_from(held), min_size=1, unique=True))
        arr = ffi.new("uint32_t[]", pick)
        expect(lib.urk_reactor_release(self.r, arr, len(pick)), len(pick))
        self.held -= set(pick)
        self.released |= set(pick)

    @precondition(lambda self: not self.stopped)
    @rule(data=st.data(), kind=st.sampled_from(["zero", "range", "again", "mixed", "dup"]))
    def release_bad(self, data, kind):
        held = sorted(self.held)
        if kind == "zero":
            bad = [0]
        elif kind == "range":
            bad = [BUF_COUNT + 1 + data.draw(st.integers(0, 1 << 20))]
        elif kind == "again":
            free = [b for b in range(1, BUF_COUNT + 1) if b not in self.held]
            if not free:
                return
            bad = [data.draw(st.sampled_from(free))]
        elif kind == "mixed":
            if not held:
                return
            bad = [held[0], 0]
        else:
            if not held:
                return
            bad = [held[0], held[0]]
        arr = ffi.new("uint32_t[]", bad)
        before = self.stats().bufs_held
        expect(lib.urk_reactor_release(self.r, arr, len(bad)), -errno.EINVAL)
        assert self.stats().bufs_held == before, "a refused release released something"

    @precondition(lambda self: not self.stopped and self.open_conns())
    @rule(data=st.data(), abort=st.sampled_from([0, 1, 2]))
    def close_conn(self, data, abort):
        c = self.pick(data, self.open_conns())
        rc = lib.urk_close(self.r, c.id, abort)
        if abort == 2:
            expect(rc, -errno.EINVAL)
            return
        expect(rc, 0)
        c.state = "closing"

    @precondition(lambda self: not self.stopped and self.open_conns())
    @rule(data=st.data(), rst=st.booleans())
    def peer_closes(self, data, rst):
        c = self.pick(data, self.open_conns())
        if c.peer_closed:
            return
        if rst:
            c.peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.peer.close()
        c.peer_closed = True

    @precondition(lambda self: not self.stopped and self.open_conns())
    @rule(data=st.data(), pause=st.sampled_from([0, 1, 1, 2]))
    def pause_resume(self, data, pause):
        c = self.pick(data, self.open_conns())
        expect(lib.urk_conn_pause_recv(self.r, c.id, pause),
               *((-errno.EINVAL,) if pause == 2 else (0, -ECLOSING)))

    @precondition(lambda self: not self.stopped and self.open_conns())
    @rule(data=st.data())
    def shutdown_write(self, data):
        c = self.pick(data, self.open_conns())
        expect(lib.urk_shutdown_write(self.r, c.id), 0, -ECLOSING)
        c.shut_wr = True

    @precondition(lambda self: not self.stopped and self.conns)
    @rule(data=st.data(), value=st.integers(0, 2**64 - 1))
    def user_value(self, data, value):
        c = self.pick(data, list(self.conns.values()))
        expect(lib.urk_conn_set_user(self.r, c.id, value), 0)
        out = ffi.new("uint64_t *")
        expect(lib.urk_conn_user(self.r, c.id, out), 0)
        assert out[0] == value
        c.user = value

    @precondition(lambda self: self.stale)
    @rule(data=st.data())
    def stale_ids(self, data):
        cid = self.pick(data, self.stale)
        self.refused_everywhere(cid)

    @rule(cid=st.one_of(st.just(0), st.integers(1, 2**64 - 1),
                        st.integers(1, 255).map(lambda r: (r << 56) | (1 << 32) | 1)))
    def foreign_ids(self, cid):
        if cid in self.conns:
            return
        self.refused_everywhere(cid)

    def refused_everywhere(self, cid):
        # After stop every connection is gone: still a stale id.
        stale = -ESTALE_ID
        expect(lib.urk_send(self.r, cid, b"x", 1, 0, 0), stale)
        expect(lib.urk_close(self.r, cid, 0), stale)
        expect(lib.urk_close(self.r, cid, 1), stale)
        expect(lib.urk_conn_pause_recv(self.r, cid, 1), stale)
        expect(lib.urk_shutdown_write(self.r, cid), stale)
        expect(lib.urk_conn_set_user(self.r, cid, 5), stale)
        expect(lib.urk_conn_user(self.r, cid, ffi.new("uint64_t *")), stale)
        expect(lib.urk_conn_peer(self.r, cid, ffi.new("urk_addr_t *")), stale)
        req = ffi.new("urk_send_req_t[1]")
        req[0].conn = cid
        keep = ffi.new("char[]", b"y")
        req[0].data = keep
        req[0].len = 1
        expect(lib.urk_send_batch(self.r, req, 1), 0)
        expect(req[0].result, stale)

    @rule()
    def null_handles(self):
        NULL = ffi.NULL
        einval = -errno.EINVAL
        expect(lib.urk_reactor_poll(NULL, self.events, 4, 0), einval)
        expect(lib.urk_send(NULL, 1, b"x", 1, 0, 0), einval)
        expect(lib.urk_close(NULL, 1, 0), einval)
        expect(lib.urk_reactor_release(NULL, ffi.new("uint32_t[]", [1]), 1), einval)
        expect(lib.urk_reactor_stats(NULL, ffi.new("urk_reactor_stats_t *")), einval)
        expect(lib.urk_reactor_stats(self.r, NULL), einval)
        expect(lib.urk_reactor_wake(NULL), einval)
        expect(lib.urk_engine_stop(NULL, 0), einval)
        expect(lib.urk_engine_port(NULL), einval)
        expect(lib.urk_engine_reactor(self.engine, 1, ffi.new("urk_reactor_t **")),
               -errno.ERANGE)
        if not self.stopped:
            expect(lib.urk_reactor_poll(self.r, NULL, 4, 0), einval)
            expect(lib.urk_reactor_poll(self.r, self.events, 0, 0), einval)
            expect(lib.urk_reactor_poll(self.r, self.events, 4, -2), einval)
            expect(lib.urk_reactor_release(self.r, NULL, 1), einval)
            expect(lib.urk_reactor_release(self.r, NULL, 0), 0)
            expect(lib.urk_reactor_connect(self.r, NULL, 0, ffi.new("urk_conn_t *")), einval)
            bad = ffi.new("urk_addr_t *")  # family 0
            bad.len = 16
            expect(lib.urk_reactor_connect(self.r, bad, 0, ffi.new("urk_conn_t *")), einval)
            if self.conns:
                cid = next(iter(self.conns))
                expect(lib.urk_send(self.r, cid, NULL, 1, 0, 0), -errno.EFAULT)

    @precondition(lambda self: not self.stopped)
    @rule()
    def wrong_thread(self):
        results = []

        def other():
            results.append(lib.urk_reactor_poll(self.r, self.events, 4, 0))
            results.append(lib.urk_send(self.r, 1, b"x", 1, 0, 0))
            results.append(lib.urk_reactor_release(self.r, ffi.new("uint32_t[]", [1]), 1))
            results.append(lib.urk_close(self.r, 1, 0))
            results.append(lib.urk_reactor_wake(self.r))   # any thread
            s = ffi.new("urk_reactor_stats_t *")
            results.append(lib.urk_reactor_stats(self.r, s))  # any thread
        t = threading.Thread(target=other)
        t.start()
        t.join(LIVENESS)
        assert not t.is_alive()
        for rc in results[:4]:
            expect(rc, -ETHREAD)
        expect(results[4], 0)
        expect(results[5], 0)

    @precondition(lambda self: not self.stopped)
    @rule(drain=st.sampled_from([0, 50]))
    def stop(self, drain):
        expect(lib.urk_engine_stop(self.engine, drain), 0)
        self.stopped = True
        expect(lib.urk_engine_stop(self.engine, 0), 0)  # idempotent
        # After stop every connection is closed and its id stale; buffers
        # still held may be given back (or refused with a documented code).
        for c in list(self.conns.values()):
            self.stale.append(c.id)
            self.closed_peers.append(c.peer)
        self.conns.clear()
        if self.held:
            documented(lib.urk_reactor_release(self.r, ffi.new("uint32_t[]", sorted(self.held)),
                                               len(self.held)))

    # ------------------------------------------------------- invariants --

    @invariant()
    def buffers_accounted(self):
        if self.stopped:
            return
        assert self.stats().bufs_held == len(self.held), (self.stats().bufs_held, self.held)

    @invariant()
    def live_conns_consistent(self):
        if self.stopped:
            return
        want = len(self.conns) + len(self.connecting)
        assert self.stats().live_conns == want, (self.stats().live_conns, want)

    def settle(self):
        """No byte lost: on every connection both sides left open, all the
        peer sent reaches DATA events and all urk_send accepted reaches the
        peer (buffers released and receiving resumed as needed)."""
        def healthy():
            return [c for c in self.conns.values()
                    if c.state == "open" and not c.peer_closed and not c.peer_eof]
        for c in healthy():
            expect(lib.urk_conn_pause_recv(self.r, c.id, 0), 0, -ECLOSING)
        deadline = time.monotonic() + LIVENESS
        while True:
            if self.held:
                arr = ffi.new("uint32_t[]", sorted(self.held))
                expect(lib.urk_reactor_release(self.r, arr, len(self.held)), len(self.held))
                self.released |= self.held
                self.held = set()
            for c in self.conns.values():
                self.drain_peer(c)
            todo = [c for c in healthy()
                    if c.delivered < len(c.to_engine) or c.peer_got < len(c.to_peer)]
            if not todo:
                break
            assert time.monotonic() < deadline, "bytes lost: %r" % [
                (hex(c.id), c.delivered, len(c.to_engine), c.peer_got, len(c.to_peer))
                for c in todo]
            self.poll(10)

    def teardown(self):
        try:
            if not self.stopped:
                self.settle()
                expect(lib.urk_engine_stop(self.engine, 0), 0)
        finally:
            lib.urk_engine_destroy(self.engine)
            for c in list(self.conns.values()):
                c.peer.close()
            for p in self.closed_peers:
                p.close()
            for p in self.pending_clients.values():
                p.close()
            self.listener.close()
        leaked = open_fds() - self.fds_before
        # the listing's own fd is gone by now; anything else is a leak
        leaked = {fd for fd in leaked if os.path.exists("/proc/self/fd/" + fd)}
        assert not leaked, "fds left open after stop and destroy: %r" % {
            fd: os.readlink("/proc/self/fd/" + fd) for fd in leaked}


EngineMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("URK_STATEFUL_EXAMPLES", "100")),
    stateful_step_count=50, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_engine_api_stateful = EngineMachine.TestCase

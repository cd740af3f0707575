"""urocket.Engine in pull mode over loopback: echo integrity across reactors,
stale ids, batched sends and releases, statistics, outgoing connections,
release-on-poll, backpressure, and stopping with live connections."""
import errno
import os
import random
import selectors
import socket
import threading
import time

import pytest

import urocket
from urocket import engine as engine_mod
from urk_net import LIVENESS, Thread, echo_clients, read_until_closed, wait_for

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"


class Got:
    """An event copied out of a batch."""

    def __init__(self, batch, i):
        e = batch[i]
        self.conn, self.type, self.res, self.buf, self.user = e.conn, e.type, e.res, e.buf, e.user
        self.data = batch.bytes(i)

    def __repr__(self):
        return "Got(%s conn=%#x res=%d len=%d user=%d)" % (
            urocket.engine.EVENT_NAMES.get(self.type), self.conn, self.res, len(self.data),
            self.user)


def collect(reactor, until, timeout=LIVENESS, release=True):
    """Poll reactor, copying events, until until(events) is true."""
    got = []
    deadline = time.monotonic() + timeout
    while not until(got):
        left = deadline - time.monotonic()
        assert left > 0, "timed out; have %r" % got[-10:]
        batch = reactor.poll(256, int(min(left, 0.5) * 1000))
        got.extend(Got(batch, i) for i in range(len(batch)))
        if release and not reactor.engine.release_on_poll and len(batch):
            reactor.release(batch)
    return got


def count(t, n=1):
    return lambda got: sum(1 for g in got if g.type == t) >= n


def echo_loop(reactors, stop):
    """Echo on every reactor from this thread, woken through the reactor fds.
    Per batch: one poll, one send_batch, one release."""
    sel = selectors.DefaultSelector()
    for r in reactors:
        sel.register(r.fd(), selectors.EVENT_READ, r)
    for r in reactors:
        r.poll(1, 0)   # claim the reactor for this thread
    try:
        while not stop.is_set():
            for key, _ in sel.select(0.1):
                r = key.data
                while True:
                    batch = r.poll(256, 0)
                    if not batch:
                        break
                    sends = [(batch.conn(i), batch.bytes(i)) for i in range(len(batch))
                             if batch.type(i) == urocket.EV_DATA]
                    if sends:
                        assert r.send_batch(sends) == len(sends), r.failures()
                    r.release(batch)
    finally:
        sel.close()


def recv_polling(reactor, sock, n, timeout=LIVENESS):
    """n bytes from sock, polling the reactor meanwhile (sends queued behind
    an in-flight send go out only once a poll processed its completion)."""
    sock.setblocking(False)
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, "got %r" % out
        batch = reactor.poll(64, 10)
        if batch and not reactor.engine.release_on_poll:
            reactor.release(batch)
        try:
            out += sock.recv(n - len(out))
        except BlockingIOError:
            pass
    sock.setblocking(True)
    return out


PF_IO_WORKER = 0x10


def threads_now():
    """Threads of this process, io_uring's own workers (PF_IO_WORKER, which
    come and go with the kernel's needs) left out."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/stat" % tid) as f:
                flags = int(f.read().rsplit(")", 1)[1].split()[6])
        except (OSError, ValueError, IndexError):
            continue   # ended meanwhile
        if not flags & PF_IO_WORKER:
            n += 1
    return n


def test_pull_echo_two_reactors_50_connections_byte_exact():
    rng = random.Random(7)
    payloads = [rng.randbytes(rng.choice([1, 100, 4096, 65536, 262144])) for _ in range(100)]
    with urocket.Engine(reactors=2) as eng:
        stop = threading.Event()
        t = Thread(echo_loop, eng.reactors, stop)
        t.start()
        try:
            got = echo_clients(("127.0.0.1", eng.port), payloads)
            # bytes_out counts a send when its completion is harvested, which
            # can come after the client already read the bytes: let the loop
            # run until the last completions are in (stats: any thread).
            deadline = time.monotonic() + 10
            while (sum(r.stats().bytes_out for r in eng.reactors) < sum(map(len, payloads))
                   and time.monotonic() < deadline):
                time.sleep(0.01)
        finally:
            stop.set()
            t.join()
        assert [len(g) for g in got] == [len(p) for p in payloads]
        assert got == payloads
        stats = [r.stats() for r in eng.reactors]
        assert sum(s.accepted for s in stats) == 100
        assert all(s.accepted == 50 for s in stats), stats   # round-robin
        assert sum(s.bytes_in for s in stats) == sum(map(len, payloads))
        assert sum(s.bytes_out for s in stats) == sum(map(len, payloads))
        assert eng.stats().accepted == 100


@pytest.mark.parametrize("switches", [{}, {"no_registered_ring": True},
                                      {"no_send_pool": True},
                                      {"no_recv_bundle": True},
                                      {"no_recv_bundle": True, "buf_size": 256},
                                      {"buf_size": 256},
                                      {"no_registered_ring": True, "no_send_pool": True,
                                       "no_recv_bundle": True}])
def test_echo_with_performance_features_on_and_off(switches):
    # buf_size 256: a 76,800-byte payload spans many buffers, so with
    # bundles one receive completion covers several (split into EV_DATA
    # events of one buffer each).
    payloads = [b"x", b"small" * 50, bytes(range(256)) * 300]
    with urocket.Engine(reactors=1, **switches) as eng:
        stop = threading.Event()
        t = Thread(echo_loop, eng.reactors, stop)
        t.start()
        try:
            got = echo_clients(("127.0.0.1", eng.port), payloads)
        finally:
            stop.set()
            t.join()
        assert got == payloads


def test_echo_over_ipv6():
    with urocket.Engine("::1", reactors=1) as eng:
        stop = threading.Event()
        t = Thread(echo_loop, eng.reactors, stop)
        t.start()
        try:
            got = echo_clients(("::1", eng.port), [b"six" * 1000])
        finally:
            stop.set()
            t.join()
        assert got == [b"six" * 1000]


def test_open_event_carries_the_peer_and_data_views_are_read_only():
    with urocket.Engine() as eng, socket.create_connection(("127.0.0.1", eng.port)) as c:
        r = eng.reactors[0]
        c.sendall(b"view me")
        seen = {}

        def until(got):
            return "data" in seen

        deadline = time.monotonic() + LIVENESS
        while not until(None):
            assert time.monotonic() < deadline
            batch = r.poll(16, 500)
            for i in range(len(batch)):
                if batch.type(i) == urocket.EV_OPEN:
                    seen["peer"] = batch.peer(i)
                elif batch.type(i) == urocket.EV_DATA:
                    v = batch.data(i)
                    assert v.readonly
                    seen["data"] = bytes(v)
                    assert batch.buf(i) != 0
                    assert batch.buffers() == [batch.buf(i)]
            if batch:
                r.release(batch)
        assert seen["peer"].to_tuple() == c.getsockname()
        assert seen["data"] == b"view me"


def test_stale_id_raises_after_close_and_after_slot_reuse():
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        c1 = socket.create_connection(("127.0.0.1", eng.port))
        got = collect(r, count(urocket.EV_OPEN))
        old = got[0].conn
        c1.close()
        collect(r, count(urocket.EV_CLOSED))
        with pytest.raises(urocket.StaleIdError):
            r.send(old, b"x")
        with pytest.raises(urocket.StaleIdError):
            r.close(old)
        assert r.send_batch([(old, b"x")]) == 0
        assert isinstance(r.failures()[0][1], urocket.StaleIdError)
        # The slot (and likely the fd) is reused by the next connection; the
        # old id stays refused, the new one works.
        with socket.create_connection(("127.0.0.1", eng.port)) as c2:
            new = collect(r, count(urocket.EV_OPEN))[0].conn
            assert new != old
            with pytest.raises(urocket.StaleIdError):
                r.send(old, b"x")
            r.send(new, b"fresh")
            r.flush()
            c2.settimeout(LIVENESS)
            assert c2.recv(16) == b"fresh"
        with pytest.raises(urocket.StaleIdError):
            r.send(0, b"x")


class CountingLib:
    """Stands in for the cffi lib object and counts calls per function."""

    def __init__(self, real):
        self._real = real
        self.calls = {}

    def __getattr__(self, name):
        fn = getattr(self._real, name)

        def call(*a):
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(*a)
        return call


def test_canned_response_loop_is_one_ffi_call_each_for_poll_send_release(monkeypatch):
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        clients = [socket.create_connection(("127.0.0.1", eng.port)) for _ in range(8)]
        try:
            collect(r, count(urocket.EV_OPEN, 8))
            for c in clients:
                c.sendall(b"GET / HTTP/1.1\r\n\r\n")
            counting = CountingLib(engine_mod.lib)
            monkeypatch.setattr(engine_mod, "lib", counting)
            received = 0
            deadline = time.monotonic() + LIVENESS
            while received < 8:
                assert time.monotonic() < deadline
                counting.calls.clear()
                batch = r.poll(256, 500)
                sends = [(batch.conn(i), RESPONSE) for i in range(len(batch))
                         if batch.type(i) == urocket.EV_DATA]
                received += len(sends)
                if sends:
                    assert r.send_batch(sends) == len(sends)
                    r.release(batch)
                    assert counting.calls == {"urk_reactor_poll": 1, "urk_send_batch": 1,
                                              "urk_reactor_release": 1}, counting.calls
            monkeypatch.undo()
            r.flush()
            for c in clients:
                c.settimeout(LIVENESS)
                want = len(RESPONSE)
                data = b""
                while len(data) < want:
                    data += c.recv(want)
                assert data == RESPONSE
        finally:
            for c in clients:
                c.close()


def test_send_batch_reports_each_failure_and_queues_the_rest():
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        a = socket.create_connection(("127.0.0.1", eng.port))
        b = socket.create_connection(("127.0.0.1", eng.port))
        with a, b:
            ids = [g.conn for g in collect(r, count(urocket.EV_OPEN, 2))]
            stale = ids[0] ^ 0xFFFF   # same reactor and slot, wrong generation
            ok = r.send_batch([(ids[0], b"one"), (stale, b"bad"), (ids[1], bytearray(b"two")),
                               (ids[0], memoryview(b"-three")[1:], 0, 5)])
            assert ok == 3
            fails = r.failures()
            assert [i for i, _ in fails] == [1]
            assert isinstance(fails[0][1], urocket.StaleIdError)
            # The second send to `a` waits for the first one's completion,
            # which a poll processes.
            assert recv_polling(r, a, 8) == b"onethree"
            assert recv_polling(r, b, 3) == b"two"
            assert r.send_batch([]) == 0


def test_release_is_all_or_nothing_and_counts_buffers():
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        with socket.create_connection(("127.0.0.1", eng.port)) as c:
            for i in range(3):
                c.sendall(b"x" * 10)
                time.sleep(0.02)
            got = collect(r, lambda g: sum(len(e.data) for e in g) >= 30, release=False)
            handles = [g.buf for g in got if g.type == urocket.EV_DATA]
            assert r.stats().bufs_held == len(handles)
            with pytest.raises(urocket.UrkError) as ei:
                r.release([handles[0], 0])
            assert ei.value.errno == errno.EINVAL
            assert r.stats().bufs_held == len(handles)    # nothing released
            assert r.release(handles) == len(handles)
            assert r.stats().bufs_held == 0
            with pytest.raises(urocket.UrkError):
                r.release(handles[0])                        # not held any more
            assert r.release([]) == 0


def test_stats_follow_the_traffic():
    with urocket.Engine(reactors=1) as eng:
        r = eng.reactors[0]
        with socket.create_connection(("127.0.0.1", eng.port)) as c:
            conn = collect(r, count(urocket.EV_OPEN))[0].conn
            s = r.stats()
            assert (s.accepted, s.live_conns) == (1, 1)
            c.sendall(b"a" * 1000)
            collect(r, lambda g: sum(len(e.data) for e in g) >= 1000)
            r.send(conn, b"b" * 500)
            r.flush()
            c.settimeout(LIVENESS)
            n = 0
            while n < 500:
                n += len(c.recv(1000))
            def sent_all():
                r.poll(16, 10)
                return r.stats().bytes_out == 500
            wait_for(sent_all, what="bytes_out")
            s = r.stats()
            assert s.bytes_in == 1000 and s.bytes_out == 500 and s.events >= 2
        collect(r, count(urocket.EV_CLOSED))
        s = r.stats()
        assert (s.closed, s.live_conns, s.bufs_held, s.send_queued) == (1, 0, 0, 0)
        assert eng.stats().accepted == 1


def test_outgoing_connection_and_refused_connect():
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        with urocket.Engine(no_listen=True) as eng:
            r = eng.reactors[0]
            conn = r.connect("127.0.0.1", lsock.getsockname()[1], tag=42)
            r.flush()   # the connect goes to the kernel with the next flush or poll
            lsock.settimeout(LIVENESS)
            peer, _ = lsock.accept()
            with peer:
                opened = collect(r, count(urocket.EV_OPEN))[0]
                assert (opened.conn, opened.user) == (conn, 42)
                assert r.user(conn) == 42
                r.set_user(conn, 43)
                r.send(conn, b"ping")
                r.flush()
                peer.settimeout(LIVENESS)
                assert peer.recv(16) == b"ping"
                peer.sendall(b"pong")
                data = collect(r, count(urocket.EV_DATA))
                d = [g for g in data if g.type == urocket.EV_DATA][0]
                assert (d.data, d.user) == (b"pong", 43)
                assert r.peer(conn).to_tuple() == lsock.getsockname()
                r.shutdown_write(conn)
                r.flush()
                assert peer.recv(16) == b""           # FIN, while we can still read
                peer.sendall(b"after")
                d = [g for g in collect(r, count(urocket.EV_DATA))
                     if g.type == urocket.EV_DATA][0]
                assert d.data == b"after"
            closed = collect(r, count(urocket.EV_CLOSED))
            assert [g.user for g in closed if g.type == urocket.EV_CLOSED] == [43]
            # Nobody listens on the port of a socket we close now.
            with socket.socket() as tmp:
                tmp.bind(("127.0.0.1", 0))
                dead_port = tmp.getsockname()[1]
            conn = r.connect(urocket.Address("127.0.0.1", dead_port), tag=7)
            failed = [g for g in collect(r, count(urocket.EV_CONNECT_FAILED))
                      if g.type == urocket.EV_CONNECT_FAILED][0]
            assert (failed.conn, failed.res, failed.user) == (conn, -errno.ECONNREFUSED, 7)
            with pytest.raises((urocket.StaleIdError, urocket.ClosingError)):
                r.send(conn, b"x")

            def gone():   # stale once the engine has torn the socket down
                r.poll(16, 10)
                try:
                    r.user(conn)
                except urocket.StaleIdError:
                    return True
                return False
            wait_for(gone, what="failed connection to be stale")


def test_release_on_poll_recycles_buffers_without_release_calls():
    # 4 buffers of 64 bytes: a megabyte only gets through if every poll
    # gives the previous batch's buffers back.
    with urocket.Engine(release_on_poll=True, buf_count=4, buf_size=64) as eng:
        r = eng.reactors[0]
        payload = random.Random(3).randbytes(1 << 20)
        with socket.create_connection(("127.0.0.1", eng.port)) as c:
            t = Thread(c.sendall, payload)
            t.start()
            got = collect(r, lambda g: sum(len(e.data) for e in g) >= len(payload))
            t.join()
            assert b"".join(g.data for g in got if g.type == urocket.EV_DATA) == payload
            assert r.stats().bufs_held <= 4
            r.poll(16, 0)
            assert r.stats().bufs_held == 0
            with pytest.raises(urocket.StateError):
                r.release([1])


def test_send_limit_gives_eagain_then_writable():
    with urocket.Engine(send_limit=64 * 1024) as eng:
        r = eng.reactors[0]
        with socket.socket() as c:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(("127.0.0.1", eng.port))
            conn = collect(r, count(urocket.EV_OPEN))[0].conn
            chunk = b"z" * 16384
            sent = 0
            deadline = time.monotonic() + LIVENESS
            while True:
                assert time.monotonic() < deadline, "send limit never reached"
                try:
                    r.send(conn, chunk)
                    sent += len(chunk)
                except BlockingIOError as e:
                    assert isinstance(e, urocket.UrkError) and e.errno == errno.EAGAIN
                    break
                r.poll(16, 10)
            total = [0]

            def reader():
                c.settimeout(LIVENESS)
                while total[0] < sent:
                    total[0] += len(c.recv(65536))
            t = Thread(reader)
            t.start()
            got = collect(r, count(urocket.EV_WRITABLE))
            assert [g.conn for g in got if g.type == urocket.EV_WRITABLE] == [conn]
            t.join()
            assert total[0] == sent


def test_nocopy_send_keeps_data_alive_until_send_done():
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        with socket.create_connection(("127.0.0.1", eng.port)) as c:
            conn = collect(r, count(urocket.EV_OPEN))[0].conn
            data = bytearray(b"kept alive" * 100)
            r.send(conn, data, urocket.SEND_NOCOPY, tag=9)
            assert (conn, 9) in r._nocopy
            done = [g for g in collect(r, count(urocket.EV_SEND_DONE))
                    if g.type == urocket.EV_SEND_DONE][0]
            assert (done.res, done.user) == (len(data), 9)
            assert not r._nocopy
            c.settimeout(LIVENESS)
            n = 0
            while n < len(data):
                n += len(c.recv(65536))


def test_reactor_belongs_to_the_thread_that_polled_it_first():
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        t = Thread(r.poll, 1, 0)
        t.start()
        t.join()
        with pytest.raises(urocket.WrongThreadError):
            r.poll(1, 0)
        with pytest.raises(urocket.WrongThreadError):
            r.flush()
        r.wake()          # any thread
        assert r.stats().live_conns == 0
        assert r.fd() >= 0


def test_wake_returns_a_blocked_poll():
    with urocket.Engine() as eng:
        r = eng.reactors[0]
        t = Thread(r.poll, 16, -1)
        t.start()
        time.sleep(0.1)
        assert t.is_alive()
        r.wake()
        t.join(10)


def test_stop_with_live_connections_leaks_no_fd_or_thread():
    before = threads_now()
    clients = []
    with urocket.Engine(reactors=2) as eng:
        assert threads_now() > before           # the acceptor
        port = eng.port
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for c in clients:
            c.sendall(b"pending data")
        # Buffers held by the caller, sends queued: all of it must go.
        for r in eng.reactors:
            got = collect(r, lambda g: count(urocket.EV_OPEN, 10)(g) and
                          sum(len(e.data) for e in g if e.type == urocket.EV_DATA) >= 120,
                          release=False)
            r.send([g.conn for g in got if g.type == urocket.EV_DATA][0], b"bye")
        eng.stop(100)
        eng.stop(100)   # idempotent
        with pytest.raises(urocket.StateError):
            eng.reactors[0].poll(1, 0)
    for c in clients:
        read_until_closed(c, 10)
        c.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    wait_for(lambda: threads_now() == before, 10, what="engine threads to end")


def test_closed_engine_refuses_calls():
    eng = urocket.Engine()
    r = eng.reactors[0]
    eng.close()
    eng.close()
    assert eng.closed and "closed" in repr(eng)
    with pytest.raises(ValueError):
        r.poll()
    with pytest.raises(ValueError):
        r.send(1, b"x")
    with pytest.raises(ValueError):
        eng.start()
    with pytest.raises(ValueError):
        with eng:
            pass


@pytest.mark.parametrize("kwargs, exc", [
    (dict(reactors=0), ValueError),
    (dict(reactors=65), ValueError),
    (dict(port=70000), ValueError),
    (dict(host="localhost"), urocket.UrkError),
    (dict(buf_count=3), urocket.UrkError),
    (dict(sq_entries=1000), urocket.UrkError),
    (dict(send_limit=0), urocket.UrkError),
    (dict(reactors=2, reactor_cpus=[0]), ValueError),
    (dict(reactor_cpus=[10 ** 6]), urocket.UrkError),
    (dict(no_such_option=1), TypeError),
    (dict(reuseport=True, no_listen=True), urocket.UrkError),
])
def test_bad_engine_options(kwargs, exc):
    with pytest.raises(exc):
        urocket.Engine(**kwargs)


def test_port_in_use_is_reported():
    with urocket.Engine() as a:
        with pytest.raises(OSError) as ei:
            urocket.Engine(port=a.port)
        assert ei.value.errno == errno.EADDRINUSE


def test_every_engine_option_is_a_keyword():
    import inspect
    params = inspect.signature(urocket.Engine).parameters
    fields = [f for f in urocket._util.struct_fields("urk_engine_opts_t")
              if f != "struct_size" and not f.startswith("reserved")]
    assert set(fields) <= set(params)


def test_half_close_delivers_eof_and_replies_after_it():
    with urocket.Engine(half_close=True) as eng:
        r = eng.reactors[0]
        c = socket.create_connection(("127.0.0.1", eng.port))
        try:
            c.sendall(b"question")
            c.shutdown(socket.SHUT_WR)
            got = collect(r, count(urocket.EV_EOF))
            types = [g.type for g in got]
            assert types[0] == urocket.EV_OPEN and types[-1] == urocket.EV_EOF
            assert b"".join(g.data for g in got if g.type == urocket.EV_DATA) == b"question"
            assert urocket.EV_CLOSED not in types
            conn = got[0].conn
            assert got[-1].conn == conn and got[-1].res == 0
            assert urocket.engine.EVENT_NAMES[urocket.EV_EOF] == "eof"
            r.send(conn, b"answer")           # still open after the peer's FIN
            r.close(conn)
            r.flush()
            c.setblocking(False)
            data, closed = b"", []
            deadline = time.monotonic() + LIVENESS
            while True:
                assert time.monotonic() < deadline, data
                batch = r.poll(16, 10)        # our side runs on these polls
                closed += [batch[i] for i in range(len(batch))
                           if batch.type(i) == urocket.EV_CLOSED]
                try:
                    chunk = c.recv(64)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                data += chunk
            assert data == b"answer"
            if not closed:
                closed = [g for g in collect(r, count(urocket.EV_CLOSED))
                          if g.type == urocket.EV_CLOSED]
            assert closed[0].conn == conn and closed[0].res == 1
        finally:
            c.close()


def test_post_from_another_thread_arrives_in_order():
    with urocket.Engine(no_listen=True) as eng:
        r = eng.reactors[0]
        r.poll(1, 0)                        # this thread owns r
        t = threading.Thread(target=lambda: [r.post(v) for v in range(1, 501)])
        t.start()
        got = collect(r, count(urocket.EV_POST, 500))
        t.join()
        posts = [g for g in got if g.type == urocket.EV_POST]
        assert [g.user for g in posts] == list(range(1, 501))
        assert all(g.conn == 0 for g in posts)
        with pytest.raises(ValueError):
            r.post(-1)

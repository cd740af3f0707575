"""The ring layer through the Python binding, over real loopback sockets."""
import errno
import gc
import os
import socket
import threading
import time

import pytest

import urocket
from urk_helpers import (LIVENESS_TIMEOUT, collect, connect, has_ud, listener, pattern,
                         tcp_pair)

UD_ACCEPT, UD_RECV, UD_SEND, UD_CANCEL = 1, 2, 3, 4


# ---------------------------------------------------------------- options

def test_default_ring_gets_defer_taskrun_and_big_cq(caps):
    with urocket.Ring() as r:
        info = r.info
        assert info.sq_entries == 256
        assert info.cq_entries >= 4096  # multishot needs a big CQ
        assert "enabled" in info.active_names
        if "defer_taskrun" in caps:
            assert {"single_issuer", "defer_taskrun"} <= info.active_names
            assert "fallback" not in info.active_names
        if "registered_ring_fd" in caps:
            assert "registered_fd" in info.active_names
        assert r.fd >= 0


def test_ring_sizes_are_granted():
    with urocket.Ring(sq_entries=8, cq_entries=64) as r:
        assert (r.info.sq_entries, r.info.cq_entries) == (8, 64)


def test_no_defer_taskrun_uses_coop():
    with urocket.Ring(defer_taskrun=False) as r:
        active = r.info.active_names
        assert "defer_taskrun" not in active and "fallback" not in active
        assert "coop_taskrun" in active
        r.prep_nop(7)
        assert r.complete(min_complete=1, timeout=LIVENESS_TIMEOUT).user_data(0) == 7


def test_register_fd_off():
    with urocket.Ring(register_fd=False) as r:
        assert "registered_fd" not in r.info.active_names
        r.prep_nop(1)
        assert len(r.complete(min_complete=1, timeout=LIVENESS_TIMEOUT)) == 1


def test_forced_fallback_ring_works():
    with urocket.Ring(force_fallback=True) as r:
        active = r.info.active_names
        assert "fallback" in active
        assert "defer_taskrun" not in active
        echo_roundtrip(r, [1, 5000, 300000])


def test_sqpoll_ring(caps):
    if "sqpoll" not in caps:
        pytest.skip("kernel refuses SQPOLL")
    with urocket.Ring(sqpoll=True, sqpoll_idle_ms=10) as r:
        assert "sqpoll" in r.info.active_names
        for i in range(100):
            r.prep_nop(i)
        got = collect(r, lambda g: len(g) == 100)
        assert sorted(g.user_data for g in got) == list(range(100))


def test_disabled_ring_refuses_ops_until_enabled():
    with urocket.Ring(disabled=True) as r:
        assert "enabled" not in r.info.active_names
        with pytest.raises(urocket.StateError) as ei:
            r.prep_nop(1)
        assert ei.value.errno == urocket.ESTATE and ei.value.name == "URK_ESTATE"
        r.enable()
        assert "enabled" in r.info.active_names
        with pytest.raises(BlockingIOError) as ei:  # -EALREADY
            r.enable()
        assert ei.value.errno == errno.EALREADY
        r.prep_nop(2)
        assert r.complete(min_complete=1, timeout=LIVENESS_TIMEOUT).user_data(0) == 2


def test_disabled_ring_is_driven_by_the_enabling_thread():
    """Creation on one thread, every use on another (the engine's pattern)."""
    r = urocket.Ring(disabled=True)
    result = []

    def owner():
        r.enable()
        r.prep_nop(9)
        result.append(r.complete(min_complete=1, timeout=LIVENESS_TIMEOUT).user_data(0))

    t = threading.Thread(target=owner)
    t.start()
    t.join()
    r.close()
    assert result == [9]


def test_disabled_ring_refuses_submit_and_complete():
    with urocket.Ring(disabled=True) as r:
        with pytest.raises(urocket.StateError):
            r.submit()
        with pytest.raises(urocket.StateError):
            r.complete()


@pytest.mark.parametrize("kwargs", [{}, {"register_fd": False}, {"defer_taskrun": False}])
def test_ring_used_from_another_thread_raises(kwargs):
    """A ring belongs to one thread. Another thread gets
    an error, never a crash or a stolen completion."""
    with urocket.Ring(**kwargs) as r:
        r.prep_nop(1)
        errors = []

        def other():
            try:
                r.complete(4, 1, 0.5)
            except urocket.UrkError as e:
                errors.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(errors) == 1
        assert r.complete(4, 1, LIVENESS_TIMEOUT).user_data(0) == 1


# ---------------------------------------------------------------- probe

def test_capabilities_match_probe_bits(caps):
    mask = urocket.ffi.new("uint64_t *")
    assert urocket.lib.urk_probe(mask) == 0
    expected = set()
    for name, value in vars(urocket).items():
        if name.startswith("CAP_") and name != "CAP_LAST" and mask[0] & value:
            expected.add(name[4:].lower())
    assert caps == expected
    assert caps <= urocket.capability_names()
    assert len(urocket.capability_names()) == urocket.CAP_LAST.bit_length()
    # This binding is only useful with the basics; the machine has 6.18.
    assert {"multishot_accept", "multishot_recv", "buf_ring"} <= caps


# ---------------------------------------------------------------- echo

def echo_roundtrip(r, sizes, group=3, count=64, bufsize=16384, v6=False):
    """Byte-exact echo through multishot accept + multishot recv + send, for
    each size. Returns how many transient -ENOBUFS were recovered."""
    br = r.buffer_ring(count, bufsize, group)
    lsock = listener(v6)
    r.prep_accept_multishot(lsock, UD_ACCEPT)
    r.submit()
    cli = connect(lsock)
    got = collect(r, has_ud(UD_ACCEPT))
    acc = [g for g in got if g.user_data == UD_ACCEPT][0]
    assert acc.res >= 0 and acc.more
    sfd = acc.res
    enobufs = 0
    need_rearm = True
    try:
        r.prep_recv_multishot(sfd, br, UD_RECV)
        need_rearm = False
        cli.setblocking(False)
        for seed, size in enumerate(sizes):
            out = pattern(size, seed)
            echo = bytearray(size)
            back = bytearray()
            written = got_srv = sent_srv = 0
            send_busy = need_rearm = idle = False
            deadline = time.monotonic() + LIVENESS_TIMEOUT
            while len(back) < size:
                assert time.monotonic() < deadline, "echo of %d bytes hung" % size
                if written < size:
                    try:
                        written += cli.send(out[written:written + 262144])
                    except BlockingIOError:
                        pass
                if not send_busy and sent_srv < got_srv:
                    r.prep_send(sfd, memoryview(echo)[sent_srv:got_srv], UD_SEND)
                    send_busy = True
                # When the last round made no progress, wait briefly in the
                # kernel instead of spinning.
                batch = r.complete(64, 1 if idle else 0, 0.01)
                idle = False
                for i in range(len(batch)):
                    ud, res = batch.user_data(i), batch.res(i)
                    if ud == UD_RECV:
                        if res == -errno.ENOBUFS:
                            # Transient: re-arm once buffers are back.
                            assert not batch.more(i)
                            need_rearm = True
                            enobufs += 1
                            continue
                        assert res > 0, res
                        data = batch.data(i)
                        assert len(data) == res and batch[i].buf_group == group
                        echo[got_srv:got_srv + res] = data
                        got_srv += res
                        if not batch.more(i):
                            need_rearm = True
                    elif ud == UD_SEND:
                        assert res > 0, res
                        sent_srv += res  # partial sends continue from here
                        send_busy = False
                br.recycle_batch(batch)
                if need_rearm and br.available > 0:
                    r.prep_recv_multishot(sfd, br, UD_RECV)
                    need_rearm = False
                try:
                    chunk = cli.recv(1 << 20)
                    assert chunk, "server closed the echo"
                    back += chunk
                except BlockingIOError:
                    idle = not batch and written == size
            assert bytes(back) == out, "echo of %d bytes differs" % size
            assert br.available == count
        assert r.stats.bufs_out == 0
    finally:
        # Stop everything and wait for each final completion before closing
        # (close() does not stop a multishot recv: the ring holds a file reference).
        recv_armed = not need_rearm
        r.prep_cancel(UD_ACCEPT, UD_CANCEL)
        if recv_armed:
            r.prep_cancel(UD_RECV, UD_CANCEL)

        def stopped(g):
            acc = any(x.user_data == UD_ACCEPT and not x.more for x in g)
            rcv = not recv_armed or any(x.user_data == UD_RECV and not x.more for x in g)
            return acc and rcv
        collect(r, stopped, recycle=br)
        os.close(sfd)
        cli.close()
        lsock.close()
        br.close()
    return enobufs


ECHO_SIZES = [1, 2, 100, 4096, 16384, 16385, 65536, 1 << 20, 4 << 20]


def test_multishot_echo_byte_exact_1b_to_4mib(ring):
    echo_roundtrip(ring, ECHO_SIZES)


def test_multishot_echo_ipv6(ring):
    echo_roundtrip(ring, [1, 70000], v6=True)


def test_multishot_echo_with_tiny_buffer_ring_recovers_enobufs(ring):
    # 4 x 512 B buffers: the kernel runs dry again and again.
    enobufs = echo_roundtrip(ring, [1, 5000, 1 << 20], count=4, bufsize=512)
    assert ring.stats.enobufs == enobufs


# ---------------------------------------------------------------- buffers

def test_buffer_ring_exhaustion_enobufs_then_recovery_without_loss(ring):
    """ENOBUFS ends the multishot recv but is not EOF: recycle, re-arm, and
    every byte still arrives, in order (liburing#1275)."""
    br = ring.buffer_ring(4, 64, 5)
    cli, srv = tcp_pair()
    try:
        payload = pattern(4096, 42)
        cli.sendall(payload)
        ring.prep_recv_multishot(srv, br, UD_RECV)
        got = collect(ring, lambda g: any(x.res == -errno.ENOBUFS for x in g))
        data = [g for g in got if g.res > 0]
        assert len(data) == 4 and all(len(g.data) == g.res <= 64 for g in data)
        stop = [g for g in got if g.res == -errno.ENOBUFS]
        assert len(stop) == 1 and not stop[0].more and got[-1] is stop[0]
        assert br.available == 0
        assert ring.stats.enobufs == 1 and ring.stats.bufs_out == 4
        received = b"".join(g.data for g in data)

        assert br.recycle([g.buf_id for g in data]) == 4
        assert br.available == 4 and ring.stats.bufs_out == 0
        # Drain the rest: re-arm each time the multishot stops.
        deadline = time.monotonic() + LIVENESS_TIMEOUT
        armed = False
        while len(received) < len(payload):
            assert time.monotonic() < deadline
            if not armed:
                ring.prep_recv_multishot(srv, br, UD_RECV)
                armed = True
            for g in collect(ring, lambda g: g, recycle=br):
                assert g.res > 0 or g.res == -errno.ENOBUFS, g
                received += g.data
                armed = g.more
        assert received == payload
        assert armed  # still receiving once the socket ran empty
        assert br.available == 4
        # The connection is still healthy both ways.
        srv.sendall(b"still here")
        assert cli.recv(100) == b"still here"
        cli.sendall(b"x")
        cli.close()
        got = collect(ring, lambda g: any(x.res == 0 for x in g), recycle=br)
        assert b"".join(g.data for g in got) == b"x"
        assert not got[-1].more and got[-1].res == 0  # EOF ends the multishot
    finally:
        cli.close()
        srv.close()
        br.close()


def test_recycle_rejects_buffers_not_held(ring):
    br = ring.buffer_ring(4, 64, 1)
    cli, srv = tcp_pair()
    with br, cli, srv:
        with pytest.raises(BlockingIOError) as ei:  # -EALREADY: kernel owns it
            br.recycle(0)
        assert isinstance(ei.value, urocket.UrkError) and ei.value.errno == errno.EALREADY
        with pytest.raises(urocket.UrkError) as ei:
            br.recycle(4)
        assert ei.value.errno == errno.EINVAL
        cli.sendall(b"abc")
        ring.prep_recv_multishot(srv, br, UD_RECV)
        got = collect(ring, lambda g: g)
        bid = got[0].buf_id
        # All or nothing: a bad entry recycles nothing.
        with pytest.raises(urocket.UrkError):
            br.recycle([bid, bid])
        assert br.recycle([bid]) == 1
        with pytest.raises(BlockingIOError):
            br.recycle(bid)
        with pytest.raises(OverflowError):
            br.recycle(70000)
        ring.prep_cancel(UD_RECV, UD_CANCEL)
        collect(ring, lambda g: any(x.user_data == UD_RECV and not x.more for x in g))


def test_buffer_views(ring):
    with ring.buffer_ring(2, 128, 9) as br:
        assert (br.group, br.count, br.size) == (9, 2, 128)
        v = br.buf(1)
        assert len(v) == 128 and not v.readonly
        with pytest.raises(urocket.UrkError):
            br.buf(2)
        assert "group=9" in repr(br)


def test_duplicate_group_raises_file_exists(ring):
    with ring.buffer_ring(2, 64, 1):
        with pytest.raises(FileExistsError) as ei:
            ring.buffer_ring(2, 64, 1)
        assert isinstance(ei.value, urocket.UrkError)


def test_incremental_buffers_share_a_buffer(ring, caps):
    if "buf_ring_inc" not in caps:
        with pytest.raises(urocket.NotSupportedError):
            ring.buffer_ring(4, 4096, 2, incremental=True)
        return
    br = ring.buffer_ring(4, 4096, 2, incremental=True)
    cli, srv = tcp_pair()
    with br, cli, srv:
        ring.prep_recv_multishot(srv, br, UD_RECV)
        ring.submit()
        pieces = []
        for k in range(5):
            msg = pattern(100 + k, k)
            cli.sendall(msg)
            got = collect(ring, lambda g: sum(len(x.data) for x in g) >= len(msg),
                          recycle=br)
            assert b"".join(g.data for g in got) == msg
            pieces += got
        # Several small receives landed in one buffer, consumed piece by piece.
        ids = [g.buf_id for g in pieces]
        assert len(set(ids)) < len(ids)
        assert any(g.flags & urocket.CQE_F_BUF_MORE for g in pieces)
        assert ring.stats.bufs_out == 0
        ring.prep_cancel(UD_RECV, UD_CANCEL)
        collect(ring, lambda g: any(x.user_data == UD_RECV and not x.more for x in g),
                recycle=br)


def test_two_buffer_groups_on_one_ring(ring):
    """Completions name the right group when a ring has several."""
    b1, b2 = ring.buffer_ring(8, 256, 1), ring.buffer_ring(8, 256, 2)
    (c1, s1), (c2, s2) = tcp_pair(), tcp_pair()
    with b1, b2, c1, s1, c2, s2:
        ring.prep_recv_multishot(s1, b1, 11)
        ring.prep_recv_multishot(s2, 2, 22)
        c1.sendall(b"one" * 100)
        c2.sendall(b"two" * 100)
        got = collect(ring, lambda g: sum(len(x.data) for x in g) >= 600,
                      recycle=[b1, b2])
        for g in got:
            assert g.buf_group == {11: 1, 22: 2}[g.user_data]
        assert b"".join(g.data for g in got if g.user_data == 11) == b"one" * 100
        assert b"".join(g.data for g in got if g.user_data == 22) == b"two" * 100
        ring.prep_cancel(11, UD_CANCEL)
        ring.prep_cancel(22, UD_CANCEL)
        collect(ring, lambda g: sum(1 for x in g if x.user_data in (11, 22)
                                    and not x.more) == 2, recycle=[b1, b2])


def test_closing_the_ring_closes_its_buffer_rings():
    r = urocket.Ring()
    br = r.buffer_ring(2, 64, 1)
    r.close()
    assert br.closed and r.closed
    br.close()
    r.close()
    with pytest.raises(ValueError):
        br.available


# ---------------------------------------------------------------- accept

def test_multishot_accept_200_connections(ring):
    lsock = listener(backlog=512)
    clients, accepted = [], []
    rearms = 0
    try:
        ring.prep_accept_multishot(lsock, UD_ACCEPT)
        ring.submit()
        for _ in range(200):
            clients.append(connect(lsock))
        deadline = time.monotonic() + LIVENESS_TIMEOUT
        while len(accepted) < 200:
            assert time.monotonic() < deadline, "accepted only %d" % len(accepted)
            batch = ring.complete(64, 1, 1.0)
            for c in batch:
                assert c.user_data == UD_ACCEPT
                assert c.res >= 0, urocket.error_from_code(c.res)
                accepted.append(c.res)
                if not c.more:  # stopped: re-arm, never leave it dead
                    ring.prep_accept_multishot(lsock, UD_ACCEPT)
                    rearms += 1
        peers = set()
        for fd in accepted:
            with socket.socket(fileno=os.dup(fd)) as s:
                peers.add(s.getpeername())
        assert peers == {c.getsockname() for c in clients}
        ring.prep_cancel(UD_ACCEPT, UD_CANCEL)
        got = collect(ring, lambda g: any(x.user_data == UD_ACCEPT for x in g)
                      and any(x.user_data == UD_CANCEL for x in g))
        assert [g.res for g in got if g.user_data == UD_ACCEPT] == [-errno.ECANCELED]
    finally:
        for fd in accepted:
            os.close(fd)
        for c in clients:
            c.close()
        lsock.close()


def test_accept_rearmed_after_cancel_keeps_accepting(ring):
    with listener() as lsock:
        ring.prep_accept_multishot(lsock, UD_ACCEPT)
        ring.prep_cancel(UD_ACCEPT, UD_CANCEL)
        got = collect(ring, has_ud(UD_ACCEPT))
        stop = [g for g in got if g.user_data == UD_ACCEPT][0]
        assert stop.res == -errno.ECANCELED and not stop.more
        ring.prep_accept_multishot(lsock, UD_ACCEPT)
        ring.submit()
        with connect(lsock):
            got = collect(ring, has_ud(UD_ACCEPT))
            fd = [g for g in got if g.user_data == UD_ACCEPT][0].res
            assert fd >= 0
            os.close(fd)
        ring.prep_cancel(UD_ACCEPT, UD_CANCEL)
        collect(ring, lambda g: any(x.user_data == UD_ACCEPT and not x.more for x in g))


# ---------------------------------------------------------------- sends

def test_partial_sends_are_reported_and_resumed(ring):
    """A stream send may complete short; the rest is sent after, one send in
    flight at a time."""
    cli, srv = tcp_pair()
    with cli, srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        cli.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        cli.setblocking(False)
        payload = pattern(4 << 20, 7)
        view = memoryview(payload)
        sent, partials, inflight, idle = 0, 0, False, False
        back = bytearray()
        deadline = time.monotonic() + LIVENESS_TIMEOUT
        while len(back) < len(payload):
            assert time.monotonic() < deadline
            if not inflight and sent < len(payload):
                ring.prep_send(srv, view[sent:], UD_SEND)
                inflight = True
            for c in ring.complete(8, 1 if idle else 0, 0.005):
                assert c.user_data == UD_SEND and c.res > 0, c
                if c.res < len(payload) - sent:
                    partials += 1
                sent += c.res
                inflight = False
            idle = False
            try:
                back += cli.recv(1 << 20)
            except BlockingIOError:
                idle = inflight
        assert bytes(back) == payload
        assert partials >= 1


def test_send_waitall_completes_in_full(ring):
    cli, srv = tcp_pair()
    with cli, srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        payload = pattern(2 << 20, 8)
        ring.prep_send(srv, payload, UD_SEND, msg_flags=socket.MSG_WAITALL)
        ring.submit()
        back = bytearray()
        reader = threading.Thread(target=lambda: back.extend(_read_exactly(cli, len(payload))))
        reader.start()
        got = collect(ring, has_ud(UD_SEND))
        reader.join()
        assert got[0].res == len(payload)
        assert bytes(back) == payload


def _read_exactly(sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk
        out += chunk
    return out


def test_send_keeps_python_buffer_alive(ring):
    cli, srv = tcp_pair()
    with cli, srv:
        ring.prep_send(srv, pattern(300000, 3), UD_SEND)  # only the ring holds it
        gc.collect()
        assert UD_SEND in ring._keep
        ring.submit()
        back = _read_exactly(cli, 300000)
        collect(ring, has_ud(UD_SEND))
        assert bytes(back) == pattern(300000, 3)
        assert not ring._keep


def test_sendv_gathers_buffers(ring):
    cli, srv = tcp_pair()
    with cli, srv:
        parts = [b"alpha-", bytearray(b"beta-"), memoryview(b"gamma"), pattern(100000, 4)]
        total = sum(len(p) for p in parts)
        ring.prep_sendv(srv, parts, UD_SEND, msg_flags=socket.MSG_WAITALL)
        ring.submit()
        back = _read_exactly(cli, total)
        got = collect(ring, has_ud(UD_SEND))
        assert got[0].res == total
        assert bytes(back) == b"".join(bytes(p) for p in parts)
        with pytest.raises(urocket.UrkError) as ei:
            ring.prep_sendv(srv, [], UD_SEND)
        assert ei.value.errno == errno.EINVAL


def test_single_shot_recv_into_bytearray(ring):
    cli, srv = tcp_pair()
    with cli, srv:
        buf = bytearray(64)
        ring.prep_recv(srv, buf, UD_RECV, nbytes=10)
        cli.sendall(b"0123456789abcdef")
        got = collect(ring, has_ud(UD_RECV))
        assert got[0].res == 10 and buf[:10] == b"0123456789" and not got[0].data
        with pytest.raises(BufferError):
            ring.prep_recv(srv, b"read-only", UD_RECV)
        with pytest.raises(ValueError):
            ring.prep_recv(srv, buf, UD_RECV, nbytes=65)


# ---------------------------------------------------------------- connect, close

def test_connect_accept_and_refused(ring):
    with listener() as lsock:
        s = socket.socket()
        with s:
            ring.prep_connect(s, lsock.getsockname(), 31)
            got = collect(ring, has_ud(31))
            assert got[0].res == 0
            peer, _ = lsock.accept()
            peer.close()
        port = lsock.getsockname()[1]
    # The listener is closed: nothing on that port now.
    s = socket.socket()
    with s:
        ring.prep_connect(s, urocket.Address("127.0.0.1", port), 32)
        got = collect(ring, has_ud(32))
        assert got[0].res == -errno.ECONNREFUSED
        err = urocket.error_from_code(got[0].res)
        assert isinstance(err, ConnectionRefusedError) and isinstance(err, urocket.UrkError)


def test_shutdown_and_close_through_the_ring(ring):
    cli, srv = tcp_pair()
    with cli:
        fd = srv.detach()
        ring.prep_shutdown(fd, socket.SHUT_WR, 41)
        got = collect(ring, has_ud(41))
        assert got[0].res == 0
        assert cli.recv(10) == b""  # FIN arrived
        ring.prep_close(fd, 42)
        got = collect(ring, has_ud(42))
        assert got[0].res == 0
        with pytest.raises(OSError):
            os.fstat(fd)


# ---------------------------------------------------------------- cancel

def test_cancel_multishot_recv(ring):
    br = ring.buffer_ring(4, 64, 1)
    cli, srv = tcp_pair()
    with br, cli, srv:
        ring.prep_recv_multishot(srv, br, UD_RECV)
        ring.submit()
        ring.prep_cancel(UD_RECV, UD_CANCEL)
        got = collect(ring, lambda g: has_ud(UD_RECV)(g) and has_ud(UD_CANCEL)(g))
        res = {g.user_data: g.res for g in got}
        assert res == {UD_RECV: -errno.ECANCELED, UD_CANCEL: 0}
        assert not [g for g in got if g.user_data == UD_RECV][0].more
        # Nothing left to cancel now.
        ring.prep_cancel(UD_RECV, UD_CANCEL)
        got = collect(ring, has_ud(UD_CANCEL))
        assert got[0].res == -errno.ENOENT


def test_cancel_single_recv_releases_its_buffer(ring):
    cli, srv = tcp_pair()
    with cli, srv:
        ring.prep_recv(srv, bytearray(100), 50)
        ring.submit()
        assert 50 in ring._keep
        ring.prep_cancel_fd(srv, UD_CANCEL)
        got = collect(ring, lambda g: has_ud(50)(g) and has_ud(UD_CANCEL)(g))
        assert {g.user_data: g.res for g in got} == {50: -errno.ECANCELED, UD_CANCEL: 0}
        assert not ring._keep


def test_cancel_all_counts_matches(ring):
    c1, s1 = tcp_pair()
    c2, s2 = tcp_pair()
    with c1, s1, c2, s2:
        ring.prep_recv(s1, bytearray(8), 60)
        ring.prep_recv(s2, bytearray(8), 60)
        ring.submit()
        ring.prep_cancel(60, UD_CANCEL, urocket.CANCEL_ALL)
        got = collect(ring, lambda g: has_ud(60, 2)(g) and has_ud(UD_CANCEL)(g))
        assert [g.res for g in got if g.user_data == UD_CANCEL] == [2]
        assert [g.res for g in got if g.user_data == 60] == [-errno.ECANCELED] * 2
        assert not ring._keep


# ---------------------------------------------------------------- timeouts

def test_timeout_op_expires_with_etime(ring):
    ring.prep_timeout(0.01, 70)
    got = collect(ring, has_ud(70))
    assert got[0].res == -errno.ETIME


def test_timeout_op_completes_after_count(ring):
    ring.prep_timeout(LIVENESS_TIMEOUT, 71, count=2)
    ring.prep_nop(72)
    ring.prep_nop(73)
    got = collect(ring, has_ud(71))
    assert {g.user_data: g.res for g in got} == {71: 0, 72: 0, 73: 0}


def test_complete_with_timeout_returns_empty_batch(ring):
    batch = ring.complete(16, 1, 0.02)
    assert len(batch) == 0 and not batch
    assert len(ring.complete(16, 0, 0)) == 0
    assert len(ring.complete(16)) == 0
    with pytest.raises(ValueError):
        ring.complete(16, 1, -1)


def test_linked_op_is_cancelled_when_its_predecessor_fails(ring):
    ring.prep_timeout(0.001, 80, flags=urocket.OP_LINK)  # -ETIME breaks the link
    ring.prep_nop(81)
    got = collect(ring, has_ud(81))
    assert {g.user_data: g.res for g in got} == {80: -errno.ETIME, 81: -errno.ECANCELED}


def test_skip_success_posts_nothing(ring):
    ring.prep_nop(90, urocket.OP_SKIP_SUCCESS)
    ring.prep_nop(91)
    got = collect(ring, has_ud(91))
    assert [g.user_data for g in got] == [91]
    assert len(ring.complete(16, 1, 0.05)) == 0  # and nothing for 90 later


# ---------------------------------------------------------------- SQ full

def test_sq_full_path_with_4_entries_and_1000_nops():
    with urocket.Ring(sq_entries=4) as r:
        assert r.info.sq_entries == 4
        for i in range(1000):
            r.prep_nop(i)  # the shim submits when the SQ is full
        assert r.stats.sq_full_waits > 0
        got = collect(r, lambda g: len(g) >= 1000)
        assert sorted(g.user_data for g in got) == list(range(1000))
        assert all(g.res == 0 for g in got)
        st = r.stats
        assert st.submitted == 1000 and st.completed == 1000


# ---------------------------------------------------------------- batches

def test_batch_is_a_reused_view(ring):
    for i in range(100):
        ring.prep_nop(1000 + i)
    b1 = ring.complete(max=100, min_complete=100, timeout=LIVENESS_TIMEOUT)
    assert len(b1) == 100 and b1.capacity >= 100
    assert [c.user_data for c in b1] == [b1.user_data(i) for i in range(100)]
    assert b1[-1] == b1[99] and b1[0].user_data == 1000
    assert b1.tuples()[5][0] == b1.user_data(5)
    assert b1.res(0) == 0 and b1.flags(0) == 0 and not b1.more(0)
    assert b1.data(0) is None and b1.bytes(0) == b""
    with pytest.raises(IndexError):
        b1[100]
    with pytest.raises(IndexError):
        b1.res(100)
    b2 = ring.complete()
    assert b2 is b1 and len(b1) == 0
    own = ring.new_batch(4)
    ring.prep_nop(5)
    assert ring.complete(4, 1, LIVENESS_TIMEOUT, batch=own) is own and own.user_data(0) == 5


# ---------------------------------------------------------------- threads, wake-ups

def test_gil_is_released_while_waiting():
    """A thread blocked in complete() must not hold the GIL: the main thread
    runs Python meanwhile and wakes it with a msg_ring. Were the GIL held,
    the main thread could not run and the wait would end only by timeout."""
    waiter = urocket.Ring(disabled=True)
    result = []
    ready = threading.Event()

    def wait():
        waiter.enable()
        ready.set()
        b = waiter.complete(4, 1, LIVENESS_TIMEOUT)
        result.extend(b.tuples())

    t = threading.Thread(target=wait)
    t.start()
    try:
        assert ready.wait(LIVENESS_TIMEOUT)
        time.sleep(0.05)  # let it block in the kernel
        with urocket.Ring() as sender:
            sender.prep_msg_ring(waiter.fd, 123, 0xABCD, 5)
            got = collect(sender, has_ud(5))
            assert got[0].res == 0
        t.join(LIVENESS_TIMEOUT)
        assert not t.is_alive()
        assert [(r[0], r[1]) for r in result] == [(0xABCD, 123)]
    finally:
        t.join()
        waiter.close()


def test_blocking_complete_is_interruptible_by_signals():
    """Ctrl-C must reach a thread waiting with timeout=None: io_uring_enter
    returns -EINTR, complete() returns, and Python runs the handler."""
    import signal

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted()

    with urocket.Ring() as r:
        # Watchdog: if the signal were swallowed, wake the ring after the
        # liveness timeout so the test fails instead of hanging.
        stop = threading.Event()

        def watchdog():
            if not stop.wait(LIVENESS_TIMEOUT):
                with urocket.Ring() as w:
                    w.prep_msg_ring(r.fd, 0, 999, 1)
                    collect(w, has_ud(1))

        wd = threading.Thread(target=watchdog)
        wd.start()
        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(Interrupted):
                r.complete(4, 1, None)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            stop.set()
            wd.join()


def test_msg_ring_between_rings():
    with urocket.Ring() as a, urocket.Ring() as b:
        a.prep_msg_ring(b, -5, 77, 6)
        collect(a, has_ud(6))
        got = collect(b, has_ud(77))
        assert got[0].res == -5


def test_eventfd_signals_completions(ring):
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        ring.register_eventfd(efd)
        ring.prep_nop(1)
        ring.submit()
        collect(ring, has_ud(1))
        assert os.eventfd_read(efd) >= 1
        ring.unregister_eventfd()
        with pytest.raises(urocket.UrkError):
            ring.unregister_eventfd()
    finally:
        os.close(efd)


# ---------------------------------------------------------------- lifecycle, bad arguments

def test_closed_ring_raises_value_error():
    r = urocket.Ring()
    r.close()
    r.close()
    assert r.closed and "closed" in repr(r)
    calls = [lambda: r.prep_nop(1), lambda: r.submit(), lambda: r.complete(),
             lambda: r.info, lambda: r.stats, lambda: r.fd, lambda: r.buffer_ring(2, 64, 1),
             lambda: r.prep_send(0, b"x"), lambda: r.prep_recv(0, bytearray(1)),
             lambda: r.prep_sendv(0, [b"x"]), lambda: r.prep_connect(0, ("127.0.0.1", 1)),
             lambda: r.prep_accept_multishot(0), lambda: r.prep_recv_multishot(0, 1),
             lambda: r.prep_close(0), lambda: r.prep_shutdown(0, 1),
             lambda: r.prep_cancel(1), lambda: r.prep_cancel_fd(0),
             lambda: r.prep_timeout(1), lambda: r.prep_msg_ring(0, 0, 0),
             lambda: r.enable(), lambda: r.register_eventfd(0)]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        with r:
            pass


@pytest.mark.allow_unclosed
def test_unclosed_ring_is_closed_by_gc_with_a_warning():
    from urocket import _util
    before = _util.finalized_open_count()
    r = urocket.Ring()
    br = r.buffer_ring(2, 64, 1)
    del br
    with pytest.warns(ResourceWarning):
        del r
        gc.collect()
    assert _util.finalized_open_count() > before


@pytest.mark.parametrize("kwargs, exc", [
    (dict(sq_entries=3), urocket.UrkError),          # not a power of two
    (dict(sq_entries=65536), urocket.UrkError),
    (dict(sq_entries=64, cq_entries=32), urocket.UrkError),  # CQ below SQ
    (dict(cq_entries=100), urocket.UrkError),
    (dict(sq_entries=-1), OverflowError),
    (dict(sq_entries="8"), TypeError),
    (dict(bogus=1), TypeError),
])
def test_bad_ring_options(kwargs, exc):
    with pytest.raises(exc) as ei:
        urocket.Ring(**kwargs)
    if exc is urocket.UrkError:
        assert ei.value.errno == errno.EINVAL and type(ei.value) is urocket.UrkError


def test_bad_buffer_ring_arguments(ring):
    for count, size in ((3, 64), (0, 64), (65536, 64), (4, 0), (4, (1 << 30) + 1)):
        with pytest.raises(urocket.UrkError) as ei:
            ring.buffer_ring(count, size, 1)
        assert ei.value.errno == errno.EINVAL
    with pytest.raises(OverflowError):
        ring.buffer_ring(4, 64, 70000)


def test_bad_op_arguments(ring):
    with pytest.raises(urocket.UrkError) as ei:
        ring.prep_recv_multishot(-1, 1, 1)
    assert ei.value.errno == errno.EBADF
    with socket.socket() as s:
        with pytest.raises(FileNotFoundError) as ei:  # -ENOENT: no such group
            ring.prep_recv_multishot(s, 99, 1)
        assert isinstance(ei.value, urocket.UrkError) and ei.value.name == "ENOENT"
        with pytest.raises(urocket.UrkError) as ei:
            ring.prep_send(s, b"x", 1, flags=1 << 30)  # unknown op flag
        assert ei.value.errno == errno.EINVAL
        with pytest.raises(urocket.UrkError) as ei:
            ring.prep_shutdown(s, 3, 1)
        assert ei.value.errno == errno.EINVAL
        with pytest.raises(urocket.UrkError) as ei:
            ring.prep_connect(s, ("localhost", 80), 1)  # no name resolution
        assert ei.value.errno == errno.EINVAL
    with pytest.raises(OverflowError):
        ring.prep_nop(-1)
    with pytest.raises(OverflowError):
        ring.prep_nop(1 << 64)
    with pytest.raises(TypeError):
        ring.prep_send("not an fd", b"x")
    with pytest.raises(TypeError):
        ring.prep_send(0, "text is not bytes")
    with pytest.raises(ValueError):
        ring.prep_timeout(-1, 1)
    with pytest.raises(urocket.UrkError) as ei:
        ring.prep_msg_ring(-1, 0, 0)
    assert ei.value.errno == errno.EBADF
    with pytest.raises(urocket.UrkError) as ei:
        ring.complete(max=4, min_complete=5)
    assert ei.value.errno == errno.EINVAL
    # Nothing was queued by the refused calls.
    assert ring.submit() == 0

"""urocket.aio (asyncio servers on the engine) over loopback, on the standard
event loop and on uvloop: echo under 200 clients, backpressure both ways,
zero-copy views, handler exceptions, cancellation and graceful shutdown."""
import asyncio
import logging
import random
import socket
import struct

import pytest

import urocket
import urocket.aio
from urk_net import LIVENESS


@pytest.fixture(scope="module")
def uvloop_once():
    """uvloop opens a pipe pair once per process with its first loop: open
    it before the per-test fd accounting (module scope runs first)."""
    try:
        import uvloop
    except ImportError:
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        r.run(asyncio.sleep(0))


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request, uvloop_once):
    """run(coroutine_function) on a fresh event loop of the kind asked."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop

    def runner(fn, *args):
        async def bounded():
            return await asyncio.wait_for(fn(*args), LIVENESS)
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(bounded())
    return runner


async def echo(conn):
    while True:
        data = await conn.recv()
        if not data:
            return
        conn.write(data)
        await conn.drain()


async def exchange(port, payload, chunk=16384):
    """Send payload in chunks while reading back as many bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async def send():
            for off in range(0, len(payload), chunk):
                writer.write(payload[off:off + chunk])
                await writer.drain()
        sender = asyncio.ensure_future(send())
        got = await reader.readexactly(len(payload))
        await sender
        return got
    finally:
        writer.close()
        await writer.wait_closed()


def test_import_names():
    import urocket.asyncio as alias
    assert alias is urocket.aio
    assert urocket.asyncio is urocket.aio
    import asyncio as stdlib
    assert stdlib.get_event_loop_policy is asyncio.get_event_loop_policy


def test_echo_200_concurrent_clients_byte_exact(run):
    rng = random.Random(11)
    payloads = [rng.randbytes(rng.choice([1, 10, 1000, 20000, 100000])) for _ in range(200)]

    async def main():
        server = await urocket.aio.start_server(echo, "127.0.0.1", 0, reactors=2)
        async with server:
            got = await asyncio.gather(*(exchange(server.port, p) for p in payloads))
            stats = [r.stats() for r in server.engine.reactors]
        return got, stats

    got, stats = run(main)
    assert [len(g) for g in got] == [len(p) for p in payloads]
    assert got == payloads
    assert sum(s.accepted for s in stats) == 200


def test_peername_and_many_small_writes_in_order(run):
    async def handler(conn):
        conn.write(("%s:%d\n" % conn.peername).encode())
        for i in range(1000):
            conn.write(b"%d," % i)
        await conn.drain()

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            me = writer.get_extra_info("sockname")
            data = await reader.read()   # until the handler returned and closed
            writer.close()
            await writer.wait_closed()
        return me, data

    me, data = run(main)
    first, rest = data.split(b"\n", 1)
    assert first.decode() == "%s:%d" % me
    assert rest == b"".join(b"%d," % i for i in range(1000))


def test_write_backpressure_drain_blocks_then_resumes(run):
    total = 8 << 20
    chunk = 64 << 10
    limit = 256 << 10
    progress = {"written": 0, "max_queued": 0}

    async def handler(conn):
        data = b"w" * chunk
        r = server_box[0].engine.reactors[0]
        while progress["written"] < total:
            conn.write(data)
            progress["written"] += chunk
            progress["max_queued"] = max(progress["max_queued"], r.stats().send_queued)
            await conn.drain()

    server_box = []

    async def main():
        server = await urocket.aio.start_server(handler, write_limit=limit)
        server_box.append(server)
        async with server:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
            s.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(s, ("127.0.0.1", server.port))
            try:
                # Not reading: the handler must stall well short of the total.
                await asyncio.sleep(0.3)
                stalled = progress["written"]
                await asyncio.sleep(0.3)
                assert progress["written"] == stalled < total
                got = 0
                while got < total:
                    data = await loop.sock_recv(s, 1 << 20)
                    assert data
                    got += len(data)
            finally:
                s.close()
        return stalled, got

    stalled, got = run(main)
    assert got == total
    assert progress["written"] == total
    # Memory stayed bounded by the limit (plus the chunk that crossed it).
    assert progress["max_queued"] <= limit + chunk


@pytest.mark.parametrize("bundles", [True, False], ids=["bundles", "no-bundles"])
def test_read_backpressure_pauses_a_fast_sender(run, bundles):
    total = 16 << 20
    box = {}

    async def handler(conn):
        box["conn"] = conn
        await box["go"].wait()
        got = bytearray()
        while len(got) < total:
            data = await conn.recv()
            assert data
            got += data
        box["got"] = bytes(got)

    async def main():
        box["go"] = asyncio.Event()
        payload = random.Random(5).randbytes(total)
        async with await urocket.aio.start_server(handler, read_limit=64 << 10,
                                                  no_recv_bundle=not bundles) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(payload)
            await asyncio.sleep(0.5)       # the handler is not reading yet
            buffered = box["conn"]._nbuf
            box["go"].set()
            await writer.drain()
            while "got" not in box:
                await asyncio.sleep(0.01)
            writer.close()
            await writer.wait_closed()
        return payload, buffered

    payload, buffered = run(main)
    assert box["got"] == payload
    # Paused long before the 16 MiB were taken in: read_limit plus at most
    # about one batch of events already harvested when the pause was asked.
    # With receive bundles one pass of the kernel may fill every free buffer
    # of the reactor (1024 x 4 KiB by default) before the pause takes
    # effect, so the bound is read_limit plus the buffer pool and a batch.
    assert buffered < (6 << 20 if bundles else 3 << 20)


def test_readexactly_and_incomplete_read(run):
    results = []

    async def handler(conn):
        while True:
            try:
                head = await conn.readexactly(4)
            except asyncio.IncompleteReadError as e:
                results.append(("incomplete", e.partial, e.expected))
                return
            n = struct.unpack("!I", head)[0]
            body = await conn.readexactly(n)
            conn.write(struct.pack("!I", len(body)) + body[::-1])

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            msgs = [b"a", b"hello" * 1000, b"", b"z" * 100000]
            blob = b"".join(struct.pack("!I", len(m)) + m for m in msgs)
            for i in range(0, len(blob), 777):     # split at odd places
                writer.write(blob[i:i + 777])
                await writer.drain()
            out = []
            for m in msgs:
                n = struct.unpack("!I", await reader.readexactly(4))[0]
                out.append(await reader.readexactly(n))
            writer.write(b"\x00\x01")              # half a header, then EOF
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            for _ in range(500):
                if results:
                    break
                await asyncio.sleep(0.01)
        return msgs, out

    msgs, out = run(main)
    assert out == [m[::-1] for m in msgs]
    assert results == [("incomplete", b"\x00\x01", 4)]


def test_recv_view_is_zero_copy_and_released_by_the_next_call(run):
    seen = {}
    server_box = []

    async def handler(conn):
        seen["waiting"] = True
        view = await conn.recv_view()      # waiting before the data comes: zero copy
        seen["held"] = server_box[0].engine.reactors[0].stats().bufs_held
        seen["type"] = type(view)
        seen["readonly"] = view.readonly
        seen["first"] = bytes(view)
        nxt = await conn.recv_view()   # releases the first view
        try:
            bytes(view)
            seen["old_view"] = "still readable"
        except ValueError:
            seen["old_view"] = "released"
        seen["second"] = bytes(nxt)
        conn.release_view()
        seen["eof"] = bytes(await conn.recv_view())
        conn.write(b"done")

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            server_box.append(server)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            while "waiting" not in seen:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            writer.write(b"first")
            await writer.drain()
            while "first" not in seen:
                await asyncio.sleep(0.01)
            writer.write(b"second")
            await writer.drain()
            while "second" not in seen:
                await asyncio.sleep(0.01)
            r = server.engine.reactors[0]
            held = r.stats().bufs_held
            writer.write_eof()
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
        return held, data

    held, data = run(main)
    assert seen["type"] is memoryview and seen["readonly"]
    assert (seen["first"], seen["second"]) == (b"first", b"second")
    assert seen["old_view"] == "released"
    assert seen["held"] == 1     # the view was the engine's buffer, still held
    assert held == 0             # given back once the next call released it
    assert seen["eof"] == b""
    # The engine closes after the peer's EOF once what was queued is sent; a
    # reply written after that is dropped (no half-close, see urocket.aio).
    assert data in (b"done", b"")


def test_handler_exception_is_logged_and_closes_only_that_connection(run, caplog):
    async def handler(conn):
        data = await conn.recv()
        if data == b"boom":
            raise ValueError("handler blew up")
        conn.write(data)
        await echo(conn)

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
            w1.write(b"boom")
            assert await r1.read() == b""           # closed by the server
            w1.close()
            await w1.wait_closed()
            got = await exchange(server.port, b"still serving")
        return got

    with caplog.at_level(logging.ERROR, logger="urocket.aio"):
        assert run(main) == b"still serving"
    errors = [r for r in caplog.records if r.name == "urocket.aio"]
    assert len(errors) == 1
    assert errors[0].exc_info and errors[0].exc_info[0] is ValueError
    assert "failed" in errors[0].getMessage()


def test_reset_by_peer_raises_in_recv(run):
    box = {}

    async def handler(conn):
        conn.write(b"hi")
        try:
            await conn.recv()
            await conn.recv()
            box["result"] = "eof"
        except ConnectionResetError as e:
            box["result"] = e
        conn.write(b"dropped")               # after the end: silently dropped
        try:
            await conn.drain()
            box["drain"] = "returned"
        except ConnectionResetError:
            box["drain"] = "raised"

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            loop = asyncio.get_running_loop()
            s = socket.socket()
            s.setblocking(False)
            await loop.sock_connect(s, ("127.0.0.1", server.port))
            assert await loop.sock_recv(s, 2) == b"hi"
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()                                # RST
            for _ in range(1000):
                if "drain" in box:
                    break
                await asyncio.sleep(0.01)

    run(main)
    assert box["drain"] == "raised"
    assert isinstance(box["result"], ConnectionResetError)
    assert isinstance(box["result"], urocket.UrkError)


def test_close_cancels_handlers_and_closes_live_connections_gracefully(run):
    events = []

    async def handler(conn):
        conn.write(b"welcome")
        try:
            await conn.recv()     # blocks: clients never send
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def main():
        server = await urocket.aio.start_server(handler, reactors=2)
        clients = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(10)]
        for reader, _ in clients:
            assert await reader.readexactly(7) == b"welcome"
        assert len(server.connections()) == 10
        assert server.is_serving()
        server.close()
        assert not server.is_serving()
        await server.wait_closed()
        tails = [await reader.read() for reader, _ in clients]   # EOF, nothing lost
        for _, writer in clients:
            writer.close()
            await writer.wait_closed()
        assert server.engine.closed
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)
        return tails

    assert run(main) == [b""] * 10
    assert events == ["cancelled"] * 10


def test_serve_forever_cancelled_closes_the_server(run):
    async def main():
        server = await urocket.aio.start_server(echo)
        task = asyncio.ensure_future(server.serve_forever())
        got = await exchange(server.port, b"x" * 1000)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return got, server.engine.closed

    assert run(main) == (b"x" * 1000, True)


def test_shutdown_aborts_connections_that_do_not_drain(run):
    async def handler(conn):
        try:
            while True:
                conn.write(b"f" * 65536)
                await conn.drain()
        except asyncio.CancelledError:
            conn.write(b"last words")
            raise

    async def main():
        server = await urocket.aio.start_server(handler, write_limit=128 << 10,
                                                shutdown_timeout=0.3)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", server.port))
        await asyncio.sleep(0.2)        # the handler is stuck in drain()
        server.close()
        await server.wait_closed()      # gives up on the peer that never reads
        s.close()
        return server.engine.closed

    assert run(main) is True


def test_handler_can_be_a_plain_function_and_writes_after_close_are_dropped(run):
    calls = []

    def handler(conn):
        calls.append(conn.peername)
        conn.write(b"bye")
        conn.close()
        conn.write(b"dropped")
        assert conn.is_closing()

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
        return data

    assert run(main) == b"bye"
    assert len(calls) == 1


def test_wait_closed_on_a_connection(run):
    box = {}

    async def handler(conn):
        box["conn"] = conn
        await conn.wait_closed()
        box["closed"] = True

    async def main():
        async with await urocket.aio.start_server(handler) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            while "conn" not in box:
                await asyncio.sleep(0.01)
            writer.close()
            await writer.wait_closed()
            while "closed" not in box:
                await asyncio.sleep(0.01)
            assert box["conn"].at_eof()

    run(main)


def test_bad_arguments(run):
    async def main():
        with pytest.raises(ValueError):
            await urocket.aio.start_server(echo, release_on_poll=True)
        with pytest.raises(ValueError):
            await urocket.aio.start_server(echo, read_limit=0)
        with pytest.raises(OSError):   # a name that does not resolve
            await urocket.aio.start_server(echo, "not-an-address.invalid")
        with pytest.raises(urocket.UrkError):   # resolves, but not to an address here
            await urocket.aio.start_server(echo, "192.0.2.1")
        with pytest.raises(TypeError):
            await urocket.aio.start_server(echo, no_such_option=1)

    run(main)

"""urocket.aio's asyncio-streams shape (start_server with (reader, writer)
callbacks, open_connection, StreamReader/StreamWriter) against the standard
library's: one plain asyncio-streams program (data/streams_app.py) runs
unchanged except for its import line, on the engine and on asyncio, each
side against the other, over loopback, on asyncio's loop and on uvloop."""
import asyncio
import importlib.util
import os
import random
import socket
import sys
import types

import pytest

import urocket.aio
from urk_net import LIVENESS

APP = os.path.join(os.path.dirname(__file__), "data", "streams_app.py")
STD_IMPORT = "from asyncio import open_connection, start_server\n"
URK_IMPORT = "from urocket.aio import open_connection, start_server\n"


def _load(name, source):
    mod = types.ModuleType(name)
    mod.__file__ = APP
    exec(compile(source, APP, "exec"), mod.__dict__)
    sys.modules[name] = mod
    return mod


with open(APP) as _f:
    _SOURCE = _f.read()
STD = _load("streams_app_asyncio", _SOURCE)
URK = _load("streams_app_urocket", _SOURCE.replace(STD_IMPORT, URK_IMPORT))
IMPLS = {"urocket": URK, "asyncio": STD}


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


def test_the_program_differs_only_in_its_import():
    assert _SOURCE.count(STD_IMPORT) == 1
    std_lines = _SOURCE.splitlines()
    urk_lines = _SOURCE.replace(STD_IMPORT, URK_IMPORT).splitlines()
    assert sum(a != b for a, b in zip(std_lines, urk_lines)) == 1
    assert URK.start_server is urocket.aio.start_server
    assert STD.start_server is asyncio.start_server


PAIRS = [("urocket", "urocket"), ("urocket", "asyncio"), ("asyncio", "urocket")]


@pytest.mark.parametrize("server_impl,client_impl", PAIRS)
def test_echo_random_payloads_byte_exact(run, server_impl, client_impl):
    rnd = random.Random(1400 + len(server_impl) * 7 + len(client_impl))
    payloads = [rnd.randbytes(rnd.choice((1, 100, 4096, 65537, 300_000, 1 << 20)))
                for _ in range(12)]

    async def main():
        server, port = await IMPLS[server_impl].serve(IMPLS[server_impl].handle_echo)
        try:
            client = IMPLS[client_impl]
            got = await asyncio.gather(*(client.echo_roundtrip("127.0.0.1", port, p,
                                                               rnd.choice((1000, 16384)))
                                         for p in payloads))
        finally:
            server.close()
            await server.wait_closed()
        assert [len(g) for g in got] == [len(p) for p in payloads]
        assert got == payloads

    run(main)


@pytest.mark.parametrize("server_impl,client_impl", PAIRS)
def test_http_keepalive_get_and_post(run, server_impl, client_impl):
    async def main():
        srv = IMPLS[server_impl]
        server, port = await srv.serve(srv.handle_http)
        try:
            client = IMPLS[client_impl]
            paths = ["/a", "/b/c", "/%d" % port] * 20
            gets = await client.http_get("127.0.0.1", port, paths)
            body = random.Random(3).randbytes(70_000)
            posts = await client.http_get("127.0.0.1", port, ["/upload"] * 3, body)
        finally:
            server.close()
            await server.wait_closed()
        assert [g[0] for g in gets] == [b"200"] * len(paths)
        assert [g[2] for g in gets] == [b"GET %s 0" % p.encode() for p in paths]
        assert all(g[1][b"content-type"] == b"text/plain" for g in gets)
        assert [p[2] for p in posts] == [b"POST /upload 70000"] * 3

    run(main)


@pytest.mark.parametrize("server_impl,client_impl", PAIRS)
def test_lines_readline_and_async_iteration(run, server_impl, client_impl):
    lines = [b"hello\n", b"\n", b"x" * 50_000 + b"\n", b"last line\n"]

    async def main():
        srv = IMPLS[server_impl]
        server, port = await srv.serve(srv.handle_lines)
        try:
            got = await IMPLS[client_impl].lines_roundtrip("127.0.0.1", port, lines)
        finally:
            server.close()
            await server.wait_closed()
        assert got == [line.upper() for line in lines]

    run(main)


@pytest.mark.parametrize("server_impl", ["asyncio", "urocket"])
def test_write_eof_then_read_to_eof(run, server_impl):
    """The client half-closes; the server reads to EOF, then answers."""
    payload = random.Random(5).randbytes(200_000)

    async def main():
        srv = IMPLS[server_impl]
        server, port = await srv.serve(srv.handle_sum)
        try:
            answer = await URK.sum_roundtrip("127.0.0.1", port, payload)
        finally:
            server.close()
            await server.wait_closed()
        assert answer == b"%d bytes, sum %d\n" % (len(payload), sum(payload))

    run(main)


def test_read_to_eof_from_a_server_that_closes(run):
    payload = random.Random(6).randbytes(300_000)

    async def send_and_close(reader, writer):
        writer.write(payload)
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(send_and_close, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await urocket.aio.open_connection("127.0.0.1", port)
            got = await reader.read()
            assert reader.at_eof()
            assert await reader.read() == b""
            assert await reader.read(10) == b""
            assert await reader.readline() == b""
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        assert got == payload

    run(main)


async def _limit_script(open_conn, port):
    """What a client sees reading past the limit: the same outcomes are
    expected from asyncio and from urocket.aio."""
    reader, writer = await open_conn("127.0.0.1", port, limit=1024)
    out = []
    try:
        await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as e:
        out.append(("overrun", e.consumed > 1024))
    out.append(("after", await reader.readexactly(6001) == b"a" * 6000 + b"\n"))  # none lost
    try:
        await reader.readline()
    except ValueError as e:
        out.append(("readline", "limit" in str(e)))
    out.append(("next", await reader.readline()))
    try:
        await reader.readuntil(b"END")
    except asyncio.IncompleteReadError as e:
        out.append(("incomplete", e.partial, e.expected))
    out.append(("eof", reader.at_eof()))
    writer.close()
    await writer.wait_closed()
    return out


def test_readuntil_past_its_limit_raises_like_asyncio(run):
    async def talker(reader, writer):
        writer.write(b"a" * 6000 + b"\n")    # readuntil overruns, the bytes stay
        writer.write(b"b" * 3000 + b"\n")    # readline: one too-long line, dropped
        writer.write(b"short\n")             # ... and the next line reads fine
        writer.write(b"tail")                # readuntil(b"END") hits EOF
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(talker, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            std = await _limit_script(asyncio.open_connection, port)
            urk = await _limit_script(urocket.aio.open_connection, port)
        finally:
            server.close()
            await server.wait_closed()
        assert std[0] == ("overrun", True)
        assert urk == std

    run(main)


def test_extra_info_host_names_and_refused(run):
    seen = {}

    async def cb(reader, writer):
        seen["peername"] = writer.get_extra_info("peername")
        seen["sockname"] = writer.get_extra_info("sockname")
        seen["socket"] = writer.get_extra_info("socket", "none")
        writer.write(b"hi")
        await writer.drain()
        writer.close()

    async def main():
        server = await urocket.aio.start_server(cb, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        assert server.sockets[0].getsockname() == ("127.0.0.1", port)
        try:
            reader, writer = await urocket.aio.open_connection("localhost", port)
            assert await reader.read() == b"hi"
            assert writer.get_extra_info("peername") == ("127.0.0.1", port)
            assert writer.get_extra_info("nothing", 7) == 7
            assert writer.can_write_eof()
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        assert seen["peername"][0] == "127.0.0.1" and seen["peername"][1] != port
        assert seen["sockname"] == ("127.0.0.1", port)
        assert seen["socket"] == "none"

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
        s.close()
        with pytest.raises(ConnectionRefusedError):
            await urocket.aio.open_connection("127.0.0.1", closed_port)
        with pytest.raises(OSError):
            await urocket.aio.open_connection("no-such-host.invalid", 80)
        with pytest.raises(ValueError):
            await urocket.aio.open_connection("127.0.0.1", 80, ssl=True)

    run(main)


def test_callback_style_is_picked_from_the_signature(run):
    async def one(conn):
        conn.write(b"conn:" + type(conn).__name__.encode())

    async def two(reader, writer):
        writer.write(b"streams:" + type(reader).__name__.encode())
        writer.close()

    async def main():
        for cb, want in ((one, b"conn:Connection"), (two, b"streams:StreamReader")):
            async with await urocket.aio.start_server(cb) as server:
                reader, writer = await urocket.aio.open_connection("127.0.0.1", server.port)
                assert await reader.read() == want
                writer.close()
                await writer.wait_closed()

    run(main)


def test_cancelled_connect_leaves_nothing_behind(run):
    async def main():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            task = asyncio.ensure_future(urocket.aio.open_connection("127.0.0.1", port))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(50):   # the engine is closed once idle
                if not urocket.aio._POOLS:
                    break
                await asyncio.sleep(0.01)
            assert not urocket.aio._POOLS
        finally:
            server.close()
            await server.wait_closed()

    run(main)


def test_both_directions_half_close_independently(run):
    """The server says hello and sends FIN first; the client reads to EOF,
    then still sends its data and its own FIN; the server reads that to
    EOF. Both sides on the engine."""
    payload = random.Random(8).randbytes(150_000)
    got = {}

    async def server_cb(reader, writer):
        writer.write(b"hello")
        writer.write_eof()
        with pytest.raises(RuntimeError):
            writer.write(b"after eof")
        got["data"] = await reader.read()
        got["at_eof"] = reader.at_eof()
        writer.close()

    async def main():
        async with await urocket.aio.start_server(server_cb) as server:
            reader, writer = await urocket.aio.open_connection("127.0.0.1", server.port)
            assert await reader.read() == b"hello"
            assert reader.at_eof() and not writer.is_closing()
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            while "data" not in got:
                await asyncio.sleep(0.01)
            writer.close()   # both ways are shut: closing is still the owner's job
            await writer.wait_closed()
        assert got["data"] == payload and got["at_eof"]

    run(main)


def test_connection_handler_half_close_is_opt_in(run):
    """A Connection handler reads a request to EOF and answers with
    half_close=True; without it the engine closes at the peer's FIN."""
    async def summer(conn):
        data = await conn.read()
        conn.write(b"%d" % len(data))

    async def ask(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 70_000)
        writer.write_eof()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer

    async def main():
        async with await urocket.aio.start_server(summer, half_close=True) as server:
            assert await ask(server.port) == b"70000"
        async with await urocket.aio.start_server(summer) as server:
            assert await ask(server.port) == b""

    run(main)


def test_a_callback_that_returns_leaves_the_writer_usable_until_the_peer_is_done(run):
    """As in asyncio, returning from the callback does not close the writer
    (here it is used later from elsewhere); once the peer sends FIN as well,
    nobody reads the connection any more and it is closed."""
    writers = []

    async def register(reader, writer):
        writers.append(writer)

    async def main():
        async with await urocket.aio.start_server(register) as server:
            reader, writer = await urocket.aio.open_connection("127.0.0.1", server.port)
            while not writers:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)   # the callback has returned by now
            writers[0].write(b"later\n")
            assert await reader.readline() == b"later\n"
            assert len(server.connections()) == 1
            writer.write_eof()
            assert await reader.read() == b""      # the server closed its side too
            await writers[0].wait_closed()
            assert server.connections() == []
            writer.close()
            await writer.wait_closed()

    run(main)


def _fake_resolver(loop, table):
    """Make loop.getaddrinfo answer names from `table` (name -> [(family,
    host)]), as a resolver returning several addresses would."""
    real = loop.getaddrinfo

    async def getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        if host not in table:
            return await real(host, port, family=family, type=type, proto=proto, flags=flags)
        return [(fam, socket.SOCK_STREAM, 6, "", (addr, int(port)) if fam == socket.AF_INET
                 else (addr, int(port), 0, 0)) for fam, addr in table[host]]
    loop.getaddrinfo = getaddrinfo


def test_a_name_with_several_addresses_binds_each_and_connects_in_order(run):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def hello(reader, writer):
        writer.write(b"hi %s" % writer.get_extra_info("sockname")[0].encode())
        writer.close()

    async def main():
        loop = asyncio.get_running_loop()
        _fake_resolver(loop, {"both.test": [(socket.AF_INET, "127.0.0.1"),
                                            (socket.AF_INET6, "::1")]})
        async with await urocket.aio.start_server(hello, "both.test", 0) as server:
            names = [s.getsockname()[:2] for s in server.sockets]
            port = server.port
            assert names == [("127.0.0.1", port), ("::1", port)]
            assert len(server.engines) == 2
            for host in ("127.0.0.1", "::1"):
                reader, writer = await asyncio.open_connection(host, port)
                assert await reader.read() == b"hi " + host.encode()
                writer.close()
                await writer.wait_closed()

            # A client tries each address in order: the first refuses.
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
            s.close()
            _fake_resolver(loop, {"first-refuses.test": [(socket.AF_INET, "127.0.0.2"),
                                                         (socket.AF_INET6, "::1")]})
            reader, writer = await urocket.aio.open_connection("first-refuses.test", port)
            assert await reader.read() == b"hi ::1"
            writer.close()
            await writer.wait_closed()
            _fake_resolver(loop, {"none.test": [(socket.AF_INET, "127.0.0.1"),
                                                (socket.AF_INET6, "::1")]})
            with pytest.raises(OSError, match=r"Multiple exceptions: 127\.0\.0\.1:%d: .*"
                               r"::1:%d: " % (closed, closed)):
                await urocket.aio.open_connection("none.test", closed)

    run(main)

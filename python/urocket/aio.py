"""asyncio servers and clients on the uRocket engine (also importable as
urocket.asyncio), in two shapes.

asyncio streams, by changing an import: start_server() with a
(reader, writer) callback and open_connection() return StreamReader /
StreamWriter objects with asyncio's methods (read, readline, readuntil,
readexactly, at_eof, write, writelines, drain, write_eof, close,
wait_closed, get_extra_info, async iteration over lines):

    import asyncio
    from urocket.aio import open_connection, start_server   # was: from asyncio import ...

    async def echo(reader, writer):
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    async def main():
        server = await start_server(echo, "localhost", 8888)
        async with server:
            await server.serve_forever()

    asyncio.run(main())                           # or uvloop.run(main())

One object per connection: a handler taking one argument gets the
Connection itself (reading and writing on one object, plus recv() and the
zero-copy recv_view()):

    async def echo(conn):
        while data := await conn.recv():          # b"" at EOF
            conn.write(data)
            await conn.drain()                    # backpressure

Host names are resolved (loop.getaddrinfo) before binding or connecting.
start_server binds every address a name resolves to (one engine each);
host=None or "" binds every IPv4 interface (0.0.0.0). open_connection tries
the addresses in order, as asyncio does.

How it runs: each reactor's descriptor is registered with loop.add_reader().
When it turns readable, events are drained in batches (poll with timeout 0,
256 events per FFI call) and dispatched: received bytes go to their
connection, new connections start a handler task. Buffers are given back to
the engine in one call per batch. Writes are queued in the engine at once
and handed to the kernel by one flush per loop iteration. Everything runs
on the event loop's thread, which owns the reactors: use a connection from
that loop only (as with asyncio streams). The clients of one event loop
share one engine (one reactor), made by the first open_connection() and
closed when its last connection has closed.

Received data. recv(), read*() return bytes copied out of the engine's
buffer: they never dangle. recv_view() returns a memoryview that may point
straight into the engine's receive buffer (zero copy), valid until the next
read call or release_view() on the same connection; copy what you keep.

Backpressure. write() never blocks; when the data queued in the engine for a
connection goes over write_limit (urk_engine_opts_t.send_limit), drain()
blocks until the engine reports the queue below the limit again
(URK_EV_WRITABLE). Reading side: when more than read_limit received bytes
wait unread, receiving from that peer pauses until half of them were read.

Handlers. One task per connection runs the callback. A one-argument handler
(conn) has its connection closed gracefully when it returns or raises; a
(reader, writer) callback, as in asyncio, closes the writer itself (the
connection is closed for it only when it raises). Exceptions are logged on
the "urocket.aio" logger. server.close() stops accepting, cancels every
handler task and closes every connection; await server.wait_closed() waits
for all of it (connections that do not finish within shutdown_timeout are
aborted).

Differences from asyncio streams: no TLS, no `sock=` or `local_addr=`;
get_extra_info knows 'peername' and (for a server's connections, as the
listening address) 'sockname', and has no 'socket'.

Half-close. Client connections and (reader, writer) servers run the engine
with URK_ENGINE_HALF_CLOSE, as asyncio streams behave: the peer's FIN ends
reading (read() -> b"", at_eof()) and the connection stays open for writing
until it is closed, so a server can read a request to EOF and then answer.
Servers with a Connection handler default to half_close=False: the engine
closes the connection at the peer's FIN, after sending what was queued by
then (start_server(..., half_close=True) to change it). write_eof() sends
FIN after the queued data while reading goes on.
"""
import asyncio
import inspect
import itertools
import socket
import weakref
from typing import (Any, Callable, Coroutine, Dict, Iterable, List, Optional, Sequence, Set,
                    Tuple, Union)

from urocket._aioconn import (DEFAULT_LIMIT, ENGINE_HALF_CLOSE, BytesLike, Connection,
                              Driver, SockAddr, logger)
from urocket._ffi import lib
from urocket.addr import Address
from urocket.engine import Engine
from urocket._cdef import CONSTANTS as _K
from urocket.errors import NotSupportedError, UrkError, error_from_code

__all__ = ["start_server", "open_connection", "connect", "Server", "Connection",
           "StreamReader", "StreamWriter", "logger"]

ConnHandler = Callable[[Connection], Any]
StreamHandler = Callable[["StreamReader", "StreamWriter"], Any]
Handler = Union[ConnHandler, StreamHandler]


# ------------------------------------------------------------ streams ---

class StreamReader:
    """asyncio.StreamReader's reading methods over a Connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __repr__(self) -> str:
        return "<urocket.aio.StreamReader %r>" % (self._conn,)

    @property
    def connection(self) -> Connection:
        return self._conn

    def exception(self) -> Optional[BaseException]:
        return self._conn._exc

    def at_eof(self) -> bool:
        """True once the peer is done sending and every byte was read."""
        return self._conn.at_eof()

    def read(self, n: int = -1) -> Coroutine[Any, Any, bytes]:
        """n < 0: every byte until EOF; else up to n bytes (b"" at EOF)."""
        return self._conn.read(n)

    def readline(self) -> Coroutine[Any, Any, bytes]:
        """Up to and including b"\\n"; what is left at EOF; ValueError past
        the limit."""
        return self._conn.readline()

    def readuntil(self, separator: bytes = b"\n") -> Coroutine[Any, Any, bytes]:
        """Up to and including separator; asyncio.LimitOverrunError past
        the limit, asyncio.IncompleteReadError at EOF."""
        return self._conn.readuntil(separator)

    def readexactly(self, n: int) -> Coroutine[Any, Any, bytes]:
        """Exactly n bytes; asyncio.IncompleteReadError at EOF."""
        return self._conn.readexactly(n)

    def __aiter__(self) -> "StreamReader":
        return self

    async def __anext__(self) -> bytes:
        line = await self._conn.readline()
        if line == b"":
            raise StopAsyncIteration
        return line


class StreamWriter:
    """asyncio.StreamWriter's methods over a Connection (its transport)."""

    __slots__ = ("_conn", "_reader")

    def __init__(self, conn: Connection, reader: Optional[StreamReader] = None) -> None:
        self._conn = conn
        self._reader = reader

    def __repr__(self) -> str:
        return "<urocket.aio.StreamWriter %r>" % (self._conn,)

    @property
    def transport(self) -> Connection:
        """The Connection (write, close, abort, is_closing, get_extra_info)."""
        return self._conn

    def write(self, data: BytesLike) -> None:
        self._conn.write(data)

    def writelines(self, data: Iterable[BytesLike]) -> None:
        for d in data:
            self._conn.write(d)

    def write_eof(self) -> None:
        """Send FIN after the queued data; the reading side stays open."""
        self._conn.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self._conn.close()

    def is_closing(self) -> bool:
        return self._conn.is_closing()

    def wait_closed(self) -> Coroutine[Any, Any, None]:
        return self._conn.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._conn.get_extra_info(name, default)

    def drain(self) -> Coroutine[Any, Any, None]:
        """Wait while the connection's queued data is over the write limit;
        raises ConnectionResetError if the connection ended with an error."""
        return self._conn.drain()


# -------------------------------------------------------------- names ---

def _numeric(host: str) -> bool:
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, host.split("%", 1)[0])
            return True
        except (OSError, ValueError):
            pass
    return False


async def _resolve(loop: asyncio.AbstractEventLoop, host: Union[str, bytes, None],
                   port: Union[int, str, None], passive: bool,
                   family: int = 0) -> List[Tuple[str, int]]:
    """(numeric host, port) for every address `host` names, in the order
    getaddrinfo gives them, without duplicates."""
    if isinstance(host, bytes):
        host = host.decode()
    if port is None:
        port = 0 if passive else None
        if port is None:
            raise ValueError("open_connection needs a port")
    if not host:
        if not passive:
            raise ValueError("open_connection needs a host")
        host = "0.0.0.0"
    if isinstance(port, int) and _numeric(host):
        if not 0 <= port <= 65535:
            raise ValueError("port must be in 0..65535, got %r" % (port,))
        return [(host, port)]
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE if passive else 0)
    out: List[Tuple[str, int]] = []
    for fam, _t, _p, _c, sa in infos:
        if fam not in (socket.AF_INET, socket.AF_INET6):
            continue
        item = (str(sa[0]), int(sa[1]))
        if item not in out:
            out.append(item)
    if not out:
        raise OSError("getaddrinfo(%r) returned no IPv4 or IPv6 address" % (host,))
    return out


def _no_tls(kw: Dict[str, Any], what: str) -> None:
    for name in ("ssl", "sock", "local_addr", "server_hostname", "ssl_handshake_timeout",
                 "ssl_shutdown_timeout"):
        if kw.pop(name, None) is not None:
            raise ValueError("urocket.aio.%s does not support %s=" % (what, name))


# ------------------------------------------------------------- server ---

class _ListenSocket:
    """What asyncio's Server.sockets entries are used for: getsockname()."""

    __slots__ = ("_addr",)

    def __init__(self, host: str, port: int) -> None:
        self._addr = Address(host, port)

    @property
    def family(self) -> int:
        return self._addr.family

    @property
    def type(self) -> int:
        return socket.SOCK_STREAM

    def getsockname(self) -> SockAddr:
        return self._addr.to_tuple()

    def __repr__(self) -> str:
        return "<urocket.aio listening socket %s>" % (self._addr,)


def _takes_streams(cb: Callable[..., Any]) -> bool:
    """True for a (reader, writer) callback, False for a (conn) handler."""
    try:
        sig = inspect.signature(cb)
    except (TypeError, ValueError):
        return False
    try:
        sig.bind(None)
        return False
    except TypeError:
        pass
    try:
        sig.bind(None, None)
        return True
    except TypeError:
        return False


class Server:
    """A listening uRocket engine (one per bound address) whose connections
    run an asyncio handler. Made by start_server(); use `async with server`,
    close(), wait_closed(), serve_forever(), as asyncio.Server."""

    def __init__(self, handler: Handler, engines: Sequence[Engine],
                 loop: asyncio.AbstractEventLoop, read_limit: int, limit: int,
                 shutdown_timeout: float, streams: bool) -> None:
        self._handler = handler
        self._engines = list(engines)
        self._loop = loop
        self._limit = limit
        self._streams = streams
        self._shutdown_timeout = shutdown_timeout
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._closing = False
        self._done: "asyncio.Future[None]" = loop.create_future()
        self._closer: Optional["asyncio.Task[None]"] = None
        self._drivers = [Driver(self, r, loop, read_limit)
                         for e in self._engines for r in e.reactors]
        self._socknames = {id(d): Address(e.host, e.port).to_tuple()
                          for e in self._engines for d in self._drivers
                          if d.reactor.engine is e}

    def _start(self) -> None:
        for d in self._drivers:
            d.start()

    def __repr__(self) -> str:
        return "<urocket.aio.Server %s reactors=%d%s>" % (
            ", ".join("%s:%d" % (e.host, e.port) for e in self._engines),
            len(self._drivers), " closed" if self._closing else "")

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._engines[0].port

    @property
    def host(self) -> str:
        """The (first) numeric address the server listens on."""
        return self._engines[0].host

    @property
    def engine(self) -> Engine:
        """The (first) engine."""
        return self._engines[0]

    @property
    def engines(self) -> List[Engine]:
        """One engine per bound address."""
        return list(self._engines)

    @property
    def sockets(self) -> List[_ListenSocket]:
        """One entry per bound address, with getsockname() (as
        asyncio.Server.sockets; they are not socket objects)."""
        return [_ListenSocket(e.host, e.port) for e in self._engines]

    def connections(self) -> List[Connection]:
        """Connections open now."""
        return [c for d in self._drivers for c in d.conns.values()]

    def is_serving(self) -> bool:
        return not self._closing

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    # ---- driver reports ----

    def _opened(self, drv: Driver, cid: int, tag: int, peer_raw: bytes) -> None:
        if self._closing:
            lib.urk_close(drv.rp, cid, 1)
            drv.schedule_flush()
            return
        conn = Connection(drv, cid, peer_raw, self._limit)
        drv.conns[cid] = conn
        task = self._loop.create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _connect_failed(self, drv: Driver, cid: int, tag: int, res: int) -> None:
        pass   # a server makes no outgoing connections

    def _gone(self, drv: Driver, conn: Connection) -> None:
        pass

    def _sockname(self, drv: Driver) -> Optional[SockAddr]:
        return self._socknames.get(id(drv))

    # ---- handlers ----

    async def _run(self, conn: Connection) -> None:
        streams = self._streams
        handler: Callable[..., Any] = self._handler
        try:
            if streams:
                reader = StreamReader(conn)
                res = handler(reader, StreamWriter(conn, reader))
            else:
                res = handler(conn)
            if inspect.isawaitable(res):
                await res
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception:
            logger.exception("urocket.aio: handler %s failed on the connection from %s; "
                             "closing it", getattr(self._handler, "__qualname__",
                                                   self._handler), conn.peername)
            conn.close()
        else:
            if not streams or conn._eof:
                conn.close()
            else:
                conn._unowned = True   # closed at the peer's FIN (see start_server)

    # ---- shutdown ----

    def close(self) -> None:
        """Stop accepting, cancel the handler tasks and close every
        connection (gracefully; see wait_closed)."""
        if self._closing:
            return
        self._closing = True
        for t in list(self._tasks):
            t.cancel()
        for c in self.connections():
            c.close()
        self._closer = self._loop.create_task(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            timeout = self._shutdown_timeout
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=timeout)
            pending = [c._closed_fut for c in self.connections()]
            if pending:
                _, left = await asyncio.wait(pending, timeout=timeout)
                if left:
                    for c in self.connections():
                        c.abort()
                    await asyncio.wait(left, timeout=1.0)
        finally:
            self._teardown()

    def _teardown(self) -> None:
        for d in self._drivers:
            d.detach()
            for c in list(d.conns.values()):
                c._on_closed(1)
            d.conns.clear()
        for e in self._engines:
            if e.closed:
                continue
            try:
                e.stop(0)
            except UrkError:
                logger.exception("urocket.aio: stopping the engine")
            e.close()
        if not self._done.done():
            self._done.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until close() was called and finished: handler tasks done,
        connections closed, engines stopped."""
        await asyncio.shield(self._done)

    async def serve_forever(self) -> None:
        """Serve until cancelled (then close and wait) or closed."""
        try:
            await asyncio.shield(self._done)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def start_serving(self) -> None:
        """Nothing to do: the server serves from start_server() on."""

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


async def start_server(client_connected_cb: Handler,
                       host: Union[str, bytes, None] = "127.0.0.1",
                       port: Union[int, str, None] = 0, reactors: int = 1, *,
                       limit: int = DEFAULT_LIMIT, read_limit: int = 256 * 1024,
                       write_limit: Optional[int] = None, shutdown_timeout: float = 5.0,
                       streams: Optional[bool] = None, half_close: Optional[bool] = None,
                       family: int = 0,
                       reuse_port: Optional[bool] = None, reuse_address: Optional[bool] = None,
                       start_serving: bool = True, **engine_opts: Any) -> Server:
    """Start a server on the uRocket engine; returns a Server, serving.

    client_connected_cb: a (reader, writer) callback as for
    asyncio.start_server, or a handler taking the Connection (picked from
    its signature; streams=True/False forces it). Coroutine functions or
    plain functions. A Connection handler's connection is closed when it
    returns; a (reader, writer) callback may return and leave its writer
    open for others to use, as in asyncio: the connection is then closed
    when the peer sends FIN (no one is reading it any more), or by close().

    half_close (default: on for (reader, writer) callbacks, as asyncio
    streams; off for Connection handlers): the peer's FIN ends reading and
    the connection stays open for writing until closed. Off: the engine
    closes the connection at the peer's FIN, after sending what was queued.

    host: a numeric address or a name (resolved first; every address is
    bound, port 0 picks one port for all); None or "" for every IPv4
    interface. reactors: engine reactors per address (all driven from this
    loop). limit: readline/readuntil limit (64 KiB, as asyncio). read_limit:
    unread bytes per connection before receiving pauses. write_limit: queued
    bytes per connection over which drain() waits (the engine's send_limit;
    default 4 MiB). shutdown_timeout: seconds close() gives handlers and
    connections before aborting them. Other keywords go to urocket.Engine
    (backlog, buf_count, buf_size, max_conns, idle_timeout_ms, sqpoll,
    reactor_cpus, ...); asyncio's ssl/sock are refused.
    """
    _no_tls(engine_opts, "start_server")
    if engine_opts.get("release_on_poll"):
        raise ValueError("release_on_poll is managed by urocket.aio")
    if read_limit < 1:
        raise ValueError("read_limit must be >= 1")
    if limit < 1:
        raise ValueError("limit must be >= 1")
    if reuse_port:
        engine_opts["reuseport"] = True
    del reuse_address, start_serving   # SO_REUSEADDR is always on; always serving
    if streams is None:
        streams = _takes_streams(client_connected_cb)
    if half_close is None:
        half_close = streams
    if half_close:
        if not ENGINE_HALF_CLOSE:
            raise NotSupportedError(_K["URK_ENOTSUP"], "half_close needs a liburocket with "
                                    "URK_ENGINE_HALF_CLOSE (0.2)")
        engine_opts["flags"] = (engine_opts.get("flags") or 0) | ENGINE_HALF_CLOSE
    loop = asyncio.get_running_loop()
    addrs = await _resolve(loop, host, port, True, family)
    engines: List[Engine] = []
    server = None
    try:
        bound = None
        for h, p in addrs:
            e = Engine(h, bound if bound is not None else p, reactors,
                       send_limit=write_limit, **engine_opts)
            engines.append(e)
            bound = e.port
        for e in engines:
            e.start()
        server = Server(client_connected_cb, engines, loop, read_limit, limit,
                        shutdown_timeout, streams)
        server._start()
    except BaseException:
        if server is not None:
            for d in server._drivers:
                d.detach()
        for e in engines:
            e.close()
        raise
    return server


# ------------------------------------------------------------- client ---

class _ClientPool:
    """The engine (no listener, one reactor) the clients of one event loop
    share. Made on the first connect, closed when idle."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._closing = False
        self.pending: Dict[int, Tuple["asyncio.Future[Connection]", int, int]] = {}
        self.tags = itertools.count(1)
        self.engine = Engine("127.0.0.1", 0, 1, no_listen=True, flags=ENGINE_HALF_CLOSE)
        try:
            self.engine.start()
            self.driver = Driver(self, self.engine.reactors[0], loop, 256 * 1024)
            self.driver.start()
        except BaseException:
            self.engine.close()
            raise

    async def connect(self, host: str, port: int, limit: int,
                      read_limit: int) -> Connection:
        tag = next(self.tags)
        fut: "asyncio.Future[Connection]" = self.loop.create_future()
        self.pending[tag] = (fut, limit, read_limit)
        try:
            self.driver.reactor.connect(host, port, tag=tag)
        except BaseException:
            del self.pending[tag]
            self._idle_check()
            raise
        self.driver.schedule_flush()
        try:
            return await fut
        finally:
            if self.pending.pop(tag, None) is not None:   # cancelled while connecting
                self._idle_check()

    def _opened(self, drv: Driver, cid: int, tag: int, peer_raw: bytes) -> None:
        entry = self.pending.pop(tag, None)
        conn = Connection(drv, cid, peer_raw, entry[1] if entry else DEFAULT_LIMIT,
                          entry[2] if entry else None)
        drv.conns[cid] = conn
        if entry is None or entry[0].done():
            conn.abort()   # its connect() was cancelled
            return
        entry[0].set_result(conn)

    def _connect_failed(self, drv: Driver, cid: int, tag: int, res: int) -> None:
        entry = self.pending.pop(tag, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(error_from_code(res))
        self._idle_check()

    def _gone(self, drv: Driver, conn: Connection) -> None:
        self._idle_check()

    def _sockname(self, drv: Driver) -> Optional[SockAddr]:
        return None   # the engine does not report a client's local address

    def _idle_check(self) -> None:
        if not self.pending and not self.driver.conns and not self._closing:
            self.loop.call_soon(self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.pending or self.driver.conns or self._closing:
            return
        self._closing = True
        if _POOLS.get(self.loop) is self:
            del _POOLS[self.loop]
        self.driver.detach()
        try:
            self.engine.stop(0)
        except UrkError:
            logger.exception("urocket.aio: stopping the client engine")
        self.engine.close()


_POOLS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ClientPool]" = \
    weakref.WeakKeyDictionary()


def _pool(loop: asyncio.AbstractEventLoop) -> _ClientPool:
    pool = _POOLS.get(loop)
    if pool is None or pool._closing:
        pool = _POOLS[loop] = _ClientPool(loop)
    return pool


async def connect(host: Union[str, bytes, None], port: Union[int, str, None], *,
                  limit: int = DEFAULT_LIMIT, read_limit: int = 256 * 1024,
                  family: int = 0) -> Connection:
    """Open a TCP connection on the engine and return its Connection. host:
    a numeric address or a name (every address it resolves to is tried in
    order; OSError naming each failure when none connects)."""
    if limit < 1 or read_limit < 1:
        raise ValueError("limit and read_limit must be >= 1")
    loop = asyncio.get_running_loop()
    addrs = await _resolve(loop, host, port, False, family)
    errors: List[OSError] = []
    for h, p in addrs:
        try:
            return await _pool(loop).connect(h, p, limit, read_limit)
        except OSError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise OSError("Multiple exceptions: " + ", ".join(
        "%s:%d: %s" % (h, p, e) for (h, p), e in zip(addrs, errors)))


async def open_connection(host: Union[str, bytes, None] = None,
                          port: Union[int, str, None] = None, *,
                          limit: int = DEFAULT_LIMIT, **kwds: Any
                          ) -> Tuple[StreamReader, StreamWriter]:
    """As asyncio.open_connection: (reader, writer) of a new TCP connection,
    on the engine. Keywords: limit (readline/readuntil), read_limit,
    family; asyncio's ssl/sock/local_addr are refused."""
    _no_tls(kwds, "open_connection")
    for name in ("proto", "flags", "happy_eyeballs_delay", "interleave"):
        kwds.pop(name, None)
    conn = await connect(host, port, limit=limit, **kwds)
    reader = StreamReader(conn)
    return reader, StreamWriter(conn, reader)

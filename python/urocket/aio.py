"""asyncio servers on the uRocket engine (also importable as urocket.asyncio).

    import asyncio, urocket.aio

    async def echo(conn):
        while data := await conn.recv():          # b"" at EOF
            conn.write(data)
            await conn.drain()                    # backpressure

    async def main():
        server = await urocket.aio.start_server(echo, "127.0.0.1", 8888)
        async with server:
            await server.serve_forever()

    asyncio.run(main())                           # or uvloop.run(main())

How it runs: each reactor's descriptor is registered with loop.add_reader().
When it turns readable, events are drained in batches (poll with timeout 0,
256 events per FFI call) and dispatched: received bytes go to their
connection, new connections start a handler task. Buffers are given back to
the engine in one call per batch. Writes from handlers are queued in the
engine at once and handed to the kernel by one flush per loop iteration.
Everything runs on the event loop's thread, which owns the reactors: call a
Connection's methods from that loop only (as with asyncio streams).

Received data. recv() and readexactly() return bytes copied out of the
engine's buffer: they never dangle. recv_view() returns a memoryview that
may point straight into the engine's receive buffer (zero copy). Such a view
is valid until the next recv(), recv_view(), readexactly() or release_view()
on the same connection, or until the server closes; then it is released
(touching it raises ValueError). Copy what you keep (bytes(view)).

Backpressure. write() never blocks; when the data queued in the engine for a
connection goes over the server's write_limit (urk_engine_opts_t.send_limit),
drain() blocks until the engine reports the queue below the limit again
(URK_EV_WRITABLE). Reading side: when more than read_limit received bytes
wait unread, receiving from that peer pauses until the handler has read half
of them (a soft limit: what the engine had already received when the pause
was asked, at most about one batch of events, still comes in).

Handlers. One task per connection runs `await handler(conn)`. When it
returns or raises, the connection is closed gracefully (queued writes are
sent first); an exception is logged on the "urocket.aio" logger and never
reaches the server. server.close() stops accepting, cancels every handler
task and closes every connection; await server.wait_closed() waits for all
of it (connections that do not finish within shutdown_timeout are aborted).

Differences from asyncio streams: the engine closes a connection once the
peer has closed its side (EOF), after sending what the handler queued by
then, so there is no half-closed state; drain() raises only when the
connection ended with an error (a reset), not after a clean close.
"""
import asyncio
import collections
import logging

from urocket._cdef import CONSTANTS as _K
from urocket._ffi import ffi, lib
from urocket.addr import Address
from urocket.engine import (EV_CLOSED, EV_DATA, EV_OPEN, EV_WRITABLE, Engine)
from urocket.errors import UrkError, error_from_code

__all__ = ["start_server", "Server", "Connection", "logger"]

logger = logging.getLogger("urocket.aio")

_EAGAIN = -11
_STALE = -_K["URK_ESTALE_ID"]
_CLOSING = -_K["URK_ECLOSING"]
_SEND_FORCE = _K["URK_SEND_FORCE"]
_BATCH = 256
_MAX_SEND = 1 << 30


class Connection:
    """One client connection of a Server, given to the handler."""

    __slots__ = ("_drv", "_id", "_peer_raw", "_chunks", "_nbuf", "_eof", "_exc", "_waiter",
                 "_want_view", "_view", "_view_base", "_view_buf", "_closing", "_closed",
                 "_closed_fut", "_over_limit", "_drain_waiters", "_paused", "__weakref__")

    def __init__(self, drv, conn_id, peer_raw):
        self._drv = drv
        self._id = conn_id
        self._peer_raw = peer_raw
        self._chunks = collections.deque()
        self._nbuf = 0
        self._eof = False
        self._exc = None
        self._waiter = None
        self._want_view = False
        self._view = None
        self._view_base = None
        self._view_buf = 0
        self._closing = False
        self._closed = False
        self._closed_fut = drv.loop.create_future()
        self._over_limit = False
        self._drain_waiters = []
        self._paused = False

    def __repr__(self):
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return "<urocket.aio.Connection %#x %s %s>" % (self._id, self.peername, state)

    @property
    def id(self):
        """The engine's connection id (urk_conn_t)."""
        return self._id

    @property
    def peername(self):
        """(host, port) of the peer."""
        try:
            return Address.from_bytes(self._peer_raw).to_tuple()
        except (ValueError, OSError):
            return None

    # ---- receiving ----

    def _wake(self):
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _feed(self, data):
        self._chunks.append(data)
        self._nbuf += len(data)
        if self._nbuf >= self._drv.read_limit and not self._paused and not self._closing:
            self._pause(True)
        self._wake()

    def _pause(self, pause):
        drv = self._drv
        if drv.rp is None or self._closed:
            return
        rc = lib.urk_conn_pause_recv(drv.rp, self._id, 1 if pause else 0)
        if rc == 0:
            self._paused = pause
            drv.schedule_flush()

    async def _wait_data(self):
        if self._waiter is not None:
            raise RuntimeError("another coroutine is already waiting for data "
                               "on this connection")
        if self._paused:
            self._pause(False)   # someone wants more: never wait on a paused peer
        self._waiter = self._drv.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _take(self, limit):
        chunks = self._chunks
        if limit < 0 or limit >= self._nbuf:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self._nbuf = 0
        else:
            parts = []
            need = limit
            while need:
                c = chunks[0]
                if len(c) <= need:
                    parts.append(chunks.popleft())
                    need -= len(c)
                else:
                    parts.append(c[:need])
                    chunks[0] = c[need:]
                    need = 0
            data = b"".join(parts)
            self._nbuf -= len(data)
        if self._paused and self._nbuf < self._drv.read_limit // 2:
            self._pause(False)
        return data

    def _raise_if_failed(self):
        if self._exc is not None:
            raise self._exc

    async def recv(self, max=-1):
        """Up to `max` bytes (-1: all that arrived), waiting for some; b"" at
        EOF. Raises ConnectionResetError (an UrkError) when the connection
        ended with an error, once the data before it was read."""
        if self._view is not None:
            self._drop_view()
        if max == 0:
            return b""
        while not self._chunks:
            if self._eof:
                self._raise_if_failed()
                return b""
            await self._wait_data()
        return self._take(max)

    async def readexactly(self, n):
        """Exactly n bytes; asyncio.IncompleteReadError if EOF comes first."""
        if n < 0:
            raise ValueError("readexactly size can not be less than zero")
        if self._view is not None:
            self._drop_view()
        if n == 0:
            return b""
        while self._nbuf < n:
            if self._eof:
                self._raise_if_failed()
                raise asyncio.IncompleteReadError(self._take(-1), n)
            await self._wait_data()
        return self._take(n)

    async def recv_view(self):
        """The next received bytes as a read-only memoryview: straight over
        the engine's receive buffer when the data arrives while this call
        waits (zero copy), else over a copy. Either way valid until the next
        recv*/readexactly/release_view() on this connection, then released
        (using it raises ValueError). An empty view at EOF."""
        if self._view is not None:
            self._drop_view()
        if not self._chunks and not self._eof:
            self._want_view = True
            try:
                await self._wait_data()
            finally:
                self._want_view = False
            if self._view is not None:
                return self._view
        if self._chunks:
            self._view = memoryview(self._take(-1)).toreadonly()
            return self._view
        self._raise_if_failed()
        return memoryview(b"")

    def _give_view(self, base, buf):
        view = base.toreadonly()
        self._view_base = base
        self._view = view
        self._view_buf = buf
        self._wake()

    def _drop_view(self):
        for mv in (self._view, self._view_base):
            if mv is not None:
                try:
                    mv.release()
                except BufferError:
                    pass   # exported further: cannot be revoked; it was documented
        self._view = self._view_base = None
        buf = self._view_buf
        if buf:
            self._view_buf = 0
            self._drv.give_back(buf)

    def release_view(self):
        """Give the buffer under the last recv_view() back to the engine now."""
        self._drop_view()

    def at_eof(self):
        """True once the peer is gone and every received byte was read."""
        return self._eof and not self._chunks

    # ---- sending ----

    def write(self, data):
        """Queue data (copied by the engine). Never blocks; use drain() for
        backpressure. Data written after close() or after the connection
        ended is dropped, as with asyncio transports."""
        if self._closing or self._closed:
            return
        if type(data) is bytes:
            n = len(data)
            c = data
        else:
            c = ffi.from_buffer(data)
            n = len(c)
        if n == 0:
            return
        if n > _MAX_SEND:
            mv = memoryview(data).cast("B")
            for off in range(0, n, _MAX_SEND):
                self.write(bytes(mv[off:off + _MAX_SEND]))
            return
        drv = self._drv
        rp = drv.rp
        rc = lib.urk_send(rp, self._id, c, n, 0, 0)
        if rc == _EAGAIN:
            # Over the limit: queue it all the same (write() never fails)
            # and make drain() wait for the WRITABLE event now promised.
            self._over_limit = True
            rc = lib.urk_send(rp, self._id, c, n, _SEND_FORCE, 0)
        if rc:
            if rc in (_STALE, _CLOSING):
                return   # the CLOSED event is on its way
            raise error_from_code(rc)
        if not drv.flush_pending:
            drv.schedule_flush()

    def writelines(self, chunks):
        for c in chunks:
            self.write(c)

    async def drain(self):
        """Wait until the data queued for this connection is below the write
        limit. Raises ConnectionResetError if the connection ended with an
        error."""
        if not self._over_limit or self._closed:
            self._raise_if_failed()
            return
        fut = self._drv.loop.create_future()
        self._drain_waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._drain_waiters:
                self._drain_waiters.remove(fut)
        self._raise_if_failed()

    def _on_writable(self):
        self._over_limit = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # ---- closing ----

    def close(self):
        """Close gracefully: what was written is sent, then FIN."""
        self._close(0)

    def abort(self):
        """Close at once with a reset; unsent data is dropped."""
        self._close(1)

    def _close(self, abort):
        if self._closed or (self._closing and not abort):
            return
        self._closing = True
        drv = self._drv
        if drv.rp is None:
            return
        rc = lib.urk_close(drv.rp, self._id, abort)
        if rc and rc not in (_STALE, _CLOSING):
            logger.warning("urk_close on %r: %s", self, error_from_code(rc))
        drv.schedule_flush()

    def is_closing(self):
        return self._closing or self._closed

    async def wait_closed(self):
        """Wait until the engine reported the connection closed."""
        await asyncio.shield(self._closed_fut)

    def _on_closed(self, res):
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._eof = True
        self._paused = False
        if res < 0:
            self._exc = error_from_code(res)
        self._wake()
        self._on_writable()
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)


class _Driver:
    """Runs one reactor from the event loop."""

    __slots__ = ("server", "reactor", "rp", "loop", "conns", "fd", "releases",
                 "flush_pending", "read_limit")

    def __init__(self, server, reactor, loop, read_limit):
        self.server = server
        self.reactor = reactor
        self.rp = reactor._r
        self.loop = loop
        self.conns = {}
        self.releases = []
        self.flush_pending = False
        self.read_limit = read_limit
        self.fd = reactor.fd()

    def start(self):
        self.on_readable()   # claims the reactor for this thread, takes early events
        self.loop.add_reader(self.fd, self.on_readable)

    def detach(self):
        try:
            self.loop.remove_reader(self.fd)
        except Exception:  # the loop may be closing
            pass
        for c in self.conns.values():
            c._drop_view()
        self.releases.clear()
        self.rp = None

    def on_readable(self):
        if self.rp is None:
            return
        try:
            r = self.reactor
            while True:
                batch = r.poll(_BATCH, 0)
                n = len(batch)
                if n:
                    self.dispatch(batch)
                if self.releases:
                    self._release()
                if n < _BATCH:
                    break
        except Exception:
            logger.exception("urocket.aio: reactor %d failed", self.reactor.index)

    def dispatch(self, batch):
        arr = batch._arr
        conns = self.conns
        releases = self.releases
        for i, (cid, typ, res, _p, ln, buf, _u) in enumerate(batch.tuples()):
            if typ == EV_DATA:
                c = conns.get(cid)
                if c is None or c._closing:
                    releases.append(buf)
                elif c._want_view and not c._chunks and not c._view_buf:
                    c._give_view(memoryview(ffi.buffer(arr[i].data, ln)), buf)
                else:
                    data = ffi.buffer(arr[i].data, ln)[:]
                    releases.append(buf)
                    c._feed(data)
            elif typ == EV_OPEN:
                self._open(cid, ffi.buffer(arr[i].data, ln)[:])
            elif typ == EV_CLOSED:
                c = conns.pop(cid, None)
                if c is not None:
                    c._on_closed(res)
            elif typ == EV_WRITABLE:
                c = conns.get(cid)
                if c is not None:
                    c._on_writable()

    def _open(self, cid, peer_raw):
        if self.server._closing:
            lib.urk_close(self.rp, cid, 1)
            self.schedule_flush()
            return
        conn = Connection(self, cid, peer_raw)
        self.conns[cid] = conn
        self.server._spawn(conn)

    def give_back(self, buf):
        self.releases.append(buf)
        self.schedule_flush()

    def _release(self):
        bufs = self.releases
        self.releases = []
        try:
            self.reactor.release(bufs)
        except UrkError:
            logger.exception("urocket.aio: releasing %d buffers", len(bufs))

    def schedule_flush(self):
        if not self.flush_pending and self.rp is not None:
            self.flush_pending = True
            self.loop.call_soon(self.flush)

    def flush(self):
        self.flush_pending = False
        if self.rp is None:
            return
        if self.releases:
            self._release()
        rc = lib.urk_reactor_flush(self.rp)
        if rc < 0:
            logger.error("urocket.aio: flush on reactor %d: %s", self.reactor.index,
                         error_from_code(rc))


class Server:
    """A listening uRocket engine whose connections run an asyncio handler.
    Made by start_server(); use `async with server`, close(),
    wait_closed(), serve_forever()."""

    def __init__(self, handler, engine, loop, read_limit, shutdown_timeout):
        self._handler = handler
        self._engine = engine
        self._loop = loop
        self._shutdown_timeout = shutdown_timeout
        self._tasks = set()
        self._closing = False
        self._done = loop.create_future()
        self._closer = None
        self._drivers = [_Driver(self, r, loop, read_limit) for r in engine.reactors]

    def _start(self):
        for d in self._drivers:
            d.start()

    def __repr__(self):
        return "<urocket.aio.Server %s:%d reactors=%d%s>" % (
            self.host, self.port, len(self._drivers), " closed" if self._closing else "")

    @property
    def port(self):
        """The port the server listens on."""
        return self._engine.port

    @property
    def host(self):
        return self._engine.host

    @property
    def engine(self):
        return self._engine

    def connections(self):
        """Connections open now."""
        return [c for d in self._drivers for c in d.conns.values()]

    def is_serving(self):
        return not self._closing

    def get_loop(self):
        return self._loop

    # ---- handlers ----

    def _spawn(self, conn):
        task = self._loop.create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, conn):
        try:
            res = self._handler(conn)
            if asyncio.iscoroutine(res) or isinstance(res, asyncio.Future):
                await res
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("urocket.aio: handler %s failed on the connection from %s; "
                             "closing it", getattr(self._handler, "__qualname__",
                                                   self._handler), conn.peername)
        finally:
            conn.close()

    # ---- shutdown ----

    def close(self):
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

    async def _shutdown(self):
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

    def _teardown(self):
        if self._engine.closed:
            return
        for d in self._drivers:
            d.detach()
            for c in list(d.conns.values()):
                c._on_closed(1)
            d.conns.clear()
        try:
            self._engine.stop(0)
        except UrkError:
            logger.exception("urocket.aio: stopping the engine")
        self._engine.close()
        if not self._done.done():
            self._done.set_result(None)

    async def wait_closed(self):
        """Wait until close() was called and finished: handler tasks done,
        connections closed, engine stopped."""
        await asyncio.shield(self._done)

    async def serve_forever(self):
        """Serve until cancelled (then close and wait) or closed."""
        try:
            await asyncio.shield(self._done)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def start_serving(self):
        """Nothing to do: the server serves from start_server() on."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
        await self.wait_closed()


async def start_server(handler, host="127.0.0.1", port=0, reactors=1, *, read_limit=256 * 1024,
                       write_limit=None, shutdown_timeout=5.0, **engine_opts):
    """Start a server on the uRocket engine running `handler(conn)` (a
    coroutine function) for every connection; returns a Server, serving.

    host must be a numeric IPv4/IPv6 literal. reactors: engine reactors
    (all driven from this loop). read_limit: unread bytes per connection
    before receiving pauses. write_limit: queued bytes per connection over
    which drain() waits (the engine's send_limit; default 4 MiB).
    shutdown_timeout: seconds close() gives handlers and connections before
    aborting them. Other keywords go to urocket.Engine (buf_count,
    buf_size, max_conns, idle_timeout_ms, sqpoll, reactor_cpus, ...).
    """
    if engine_opts.get("release_on_poll"):
        raise ValueError("release_on_poll is managed by urocket.aio")
    if read_limit < 1:
        raise ValueError("read_limit must be >= 1")
    loop = asyncio.get_running_loop()
    engine = Engine(host, port, reactors, send_limit=write_limit, **engine_opts)
    server = None
    try:
        engine.start()
        server = Server(handler, engine, loop, read_limit, shutdown_timeout)
        server._start()
    except BaseException:
        if server is not None:
            for d in server._drivers:
                d.detach()
        engine.close()
        raise
    return server

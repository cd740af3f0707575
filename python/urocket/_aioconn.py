"""The connection object of urocket.aio and the driver that runs one reactor
from an asyncio event loop (see urocket.aio for the whole story)."""
import asyncio
import collections
import logging
from typing import Any, Deque, Dict, List, Optional, Protocol, Tuple, Union

from urocket._cdef import CONSTANTS as _K
from urocket._ffi import ffi, lib
from urocket.addr import Address
from urocket.engine import (EV_CLOSED, EV_CONNECT_FAILED, EV_DATA, EV_OPEN, EV_WRITABLE,
                            Reactor)
from urocket.errors import UrkError, error_from_code

logger = logging.getLogger("urocket.aio")

BytesLike = Union[bytes, bytearray, memoryview]
# (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6, or a path
# string for a Unix-domain socket: Any, as the socket module's own stubs type
# addresses, so `getsockname()[1]` type-checks as the port does there.
SockAddr = Any

_EAGAIN = -11
_STALE = -_K["URK_ESTALE_ID"]
_CLOSING = -_K["URK_ECLOSING"]
_SEND_FORCE = _K["URK_SEND_FORCE"]
# Half-close: with URK_ENGINE_HALF_CLOSE the engine reports the peer's FIN
# as URK_EV_EOF and keeps the connection open for sending until it is
# closed. A library without it closes the connection at the peer's FIN.
EV_EOF: Optional[int] = _K.get("URK_EV_EOF")
ENGINE_HALF_CLOSE: int = _K.get("URK_ENGINE_HALF_CLOSE", 0)
_BATCH = 256
_MAX_SEND = 1 << 30
DEFAULT_LIMIT = 1 << 16          # readuntil/readline limit, as asyncio's


class _Owner(Protocol):
    """What a driver reports to: a Server or the client pool of a loop."""

    _closing: bool

    def _opened(self, drv: "Driver", cid: int, tag: int, peer_raw: bytes) -> None: ...

    def _connect_failed(self, drv: "Driver", cid: int, tag: int, res: int) -> None: ...

    def _gone(self, drv: "Driver", conn: "Connection") -> None: ...

    def _sockname(self, drv: "Driver") -> Optional[SockAddr]: ...


class Connection:
    """One TCP connection on the engine: a server's accepted connection
    (given to the handler) or one opened by urocket.aio.connect().

    Reading: recv(), read(), readline(), readuntil(), readexactly(),
    recv_view(), at_eof(). Writing: write(), writelines(), drain(),
    write_eof(). Closing: close(), abort(), wait_closed(). It is also the
    `transport` of the StreamWriter made over it.
    """

    __slots__ = ("_drv", "_id", "_peer_raw", "_chunks", "_nbuf", "_eof", "_exc", "_waiter",
                 "_want_view", "_view", "_view_base", "_view_buf", "_closing", "_closed",
                 "_closed_fut", "_over_limit", "_drain_waiters", "_paused", "_limit",
                 "_read_limit", "_eof_sent", "_unowned", "__weakref__")

    def __init__(self, drv: "Driver", conn_id: int, peer_raw: bytes,
                 limit: int = DEFAULT_LIMIT, read_limit: Optional[int] = None) -> None:
        self._drv = drv
        self._id = conn_id
        self._peer_raw = peer_raw
        self._chunks: Deque[bytes] = collections.deque()
        self._nbuf = 0
        self._eof = False
        self._exc: Optional[BaseException] = None
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._want_view = False
        self._view: Optional[memoryview] = None
        self._view_base: Optional[memoryview] = None
        self._view_buf = 0
        self._closing = False
        self._closed = False
        self._closed_fut: "asyncio.Future[None]" = drv.loop.create_future()
        self._over_limit = False
        self._drain_waiters: List["asyncio.Future[None]"] = []
        self._paused = False
        self._limit = limit
        self._read_limit = read_limit if read_limit is not None else drv.read_limit
        self._eof_sent = False
        self._unowned = False   # its (reader, writer) callback returned without closing

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return "<urocket.aio.Connection %#x %s %s>" % (self._id, self.peername, state)

    @property
    def id(self) -> int:
        """The engine's connection id (urk_conn_t)."""
        return self._id

    @property
    def peername(self) -> Optional[SockAddr]:
        """(host, port) of the peer."""
        try:
            return Address.from_bytes(self._peer_raw).to_tuple()
        except (ValueError, OSError):
            return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """As asyncio transports: 'peername' (host, port) of the peer;
        'sockname' the local (host, port) of a server's connection (the
        listening address); anything else (there is no socket object): the
        default."""
        if name == "peername":
            peer = self.peername
            return default if peer is None else peer
        if name == "sockname":
            local = self._drv.owner._sockname(self._drv)
            return default if local is None else local
        return default

    # ---- receiving ----

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._nbuf += len(data)
        if self._nbuf >= self._read_limit and not self._paused and not self._closing:
            self._pause(True)
        self._wake()

    def _pause(self, pause: bool) -> None:
        drv = self._drv
        if drv.rp is None or self._closed:
            return
        rc = lib.urk_conn_pause_recv(drv.rp, self._id, 1 if pause else 0)
        if rc == 0:
            self._paused = pause
            drv.schedule_flush()

    async def _wait_data(self) -> None:
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

    def _take(self, limit: int) -> bytes:
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
        if self._paused and self._nbuf < self._read_limit // 2:
            self._pause(False)
        return data

    def _joined(self) -> bytes:
        """Every unread byte as one chunk (kept as the only chunk)."""
        chunks = self._chunks
        if len(chunks) > 1:
            joined = b"".join(chunks)
            chunks.clear()
            chunks.append(joined)
        return chunks[0] if chunks else b""

    def _raise_if_failed(self) -> None:
        if self._exc is not None:
            raise self._exc

    async def recv(self, max: int = -1) -> bytes:
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

    async def read(self, n: int = -1) -> bytes:
        """As asyncio.StreamReader.read: n < 0 reads until EOF and returns
        every byte; n > 0 returns up to n bytes (waiting for at least one);
        b"" at EOF."""
        if self._view is not None:
            self._drop_view()
        if n >= 0:
            if n == 0:
                return b""
            while not self._chunks:
                if self._eof:
                    self._raise_if_failed()
                    return b""
                await self._wait_data()
            return self._take(n)
        while not self._eof:
            await self._wait_data()
        self._raise_if_failed()
        return self._take(-1)

    async def readexactly(self, n: int) -> bytes:
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

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """As asyncio.StreamReader.readuntil: the bytes up to and including
        separator. asyncio.LimitOverrunError when more than the limit
        (open_connection/start_server `limit`, 64 KiB by default) arrives
        without it (the data stays unread); asyncio.IncompleteReadError
        (with what came) at EOF."""
        seplen = len(separator)
        if seplen == 0:
            raise ValueError("Separator should be at least one-byte string")
        if self._view is not None:
            self._drop_view()
        limit = self._limit
        offset = 0
        while True:
            buf = self._joined()
            if len(buf) - offset >= seplen:
                isep = buf.find(separator, offset)
                if isep != -1:
                    break
                offset = len(buf) + 1 - seplen
                if offset > limit:
                    raise asyncio.LimitOverrunError(
                        "Separator is not found, and chunk exceed the limit", offset)
            if self._eof:
                self._raise_if_failed()
                raise asyncio.IncompleteReadError(self._take(-1), None)
            await self._wait_data()
        if isep > limit:
            raise asyncio.LimitOverrunError(
                "Separator is found, but chunk is longer than limit", isep)
        return self._take(isep + seplen)

    async def readline(self) -> bytes:
        """As asyncio.StreamReader.readline: up to and including b"\\n";
        what is left at EOF (b"" once nothing is); ValueError (with the
        over-long line dropped) past the limit."""
        try:
            return await self.readuntil(b"\n")
        except asyncio.IncompleteReadError as e:
            return e.partial
        except asyncio.LimitOverrunError as e:
            if self._joined().startswith(b"\n", e.consumed):
                self._take(e.consumed + 1)
            else:
                self._take(-1)
            raise ValueError(e.args[0])

    async def recv_view(self) -> memoryview:
        """The next received bytes as a read-only memoryview: straight over
        the engine's receive buffer when the data arrives while this call
        waits (zero copy), else over a copy. Either way valid until the next
        recv*/read*/release_view() on this connection, then released
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

    def _give_view(self, base: memoryview, buf: int) -> None:
        view = base.toreadonly()
        self._view_base = base
        self._view = view
        self._view_buf = buf
        self._wake()

    def _drop_view(self) -> None:
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

    def release_view(self) -> None:
        """Give the buffer under the last recv_view() back to the engine now."""
        self._drop_view()

    def at_eof(self) -> bool:
        """True once the peer is done sending (or gone) and every received
        byte was read."""
        return self._eof and not self._chunks

    def exception(self) -> Optional[BaseException]:
        """The error the connection ended with (None for a clean end)."""
        return self._exc

    # ---- sending ----

    def write(self, data: BytesLike) -> None:
        """Queue data (copied by the engine). Never blocks; use drain() for
        backpressure. Data written after close() or after the connection
        ended is dropped, as with asyncio transports."""
        if self._closing or self._closed:
            return
        if self._eof_sent:
            raise RuntimeError("Cannot call write() after write_eof()")
        if type(data) is bytes:
            n = len(data)
            c: Any = data
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

    def writelines(self, chunks: "Any") -> None:
        """write() each bytes-like object of an iterable."""
        for c in chunks:
            self.write(c)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Send FIN after the queued data; receiving goes on (half-close)."""
        if self._closing or self._closed or self._eof_sent:
            return
        drv = self._drv
        if drv.rp is None:
            return
        rc = lib.urk_shutdown_write(drv.rp, self._id)
        if rc and rc not in (_STALE, _CLOSING):
            raise error_from_code(rc)
        self._eof_sent = True
        drv.schedule_flush()

    async def drain(self) -> None:
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

    def _on_writable(self) -> None:
        self._over_limit = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def get_write_buffer_size(self) -> int:
        """Not tracked per connection by the engine: 0 (drain() knows the
        limit)."""
        return 0

    # ---- closing ----

    def close(self) -> None:
        """Close gracefully: what was written is sent, then FIN."""
        self._close(0)

    def abort(self) -> None:
        """Close at once with a reset; unsent data is dropped."""
        self._close(1)

    def _close(self, abort: int) -> None:
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

    def is_closing(self) -> bool:
        return self._closing or self._closed

    async def wait_closed(self) -> None:
        """Wait until the engine reported the connection closed."""
        await asyncio.shield(self._closed_fut)

    def _on_eof(self) -> None:
        self._eof = True
        self._paused = False
        self._wake()
        if self._unowned:
            self.close()   # nobody reads it any more and the peer is done

    def _on_closed(self, res: int) -> None:
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


class Driver:
    """Runs one reactor from the event loop."""

    __slots__ = ("owner", "reactor", "rp", "loop", "conns", "fd", "releases",
                 "flush_pending", "read_limit")

    def __init__(self, owner: _Owner, reactor: Reactor, loop: asyncio.AbstractEventLoop,
                 read_limit: int) -> None:
        self.owner = owner
        self.reactor = reactor
        self.rp: Any = reactor._r
        self.loop = loop
        self.conns: Dict[int, Connection] = {}
        self.releases: List[int] = []
        self.flush_pending = False
        self.read_limit = read_limit
        self.fd = reactor.fd()

    def start(self) -> None:
        self.on_readable()   # claims the reactor for this thread, takes early events
        self.loop.add_reader(self.fd, self.on_readable)

    def detach(self) -> None:
        try:
            self.loop.remove_reader(self.fd)
        except Exception:  # the loop may be closing
            pass
        for c in self.conns.values():
            c._drop_view()
        self.releases.clear()
        self.rp = None

    def on_readable(self) -> None:
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
                if n < _BATCH or self.rp is None:
                    break
        except Exception:
            logger.exception("urocket.aio: reactor %d failed", self.reactor.index)

    def dispatch(self, batch: Any) -> None:
        arr = batch._arr
        conns = self.conns
        releases = self.releases
        for i, (cid, typ, res, _p, ln, buf, user) in enumerate(batch.tuples()):
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
                self.owner._opened(self, cid, user, ffi.buffer(arr[i].data, ln)[:])
            elif typ == EV_CLOSED:
                c = conns.pop(cid, None)
                if c is not None:
                    c._on_closed(res)
                    self.owner._gone(self, c)
            elif typ == EV_WRITABLE:
                c = conns.get(cid)
                if c is not None:
                    c._on_writable()
            elif typ == EV_EOF:
                c = conns.get(cid)
                if c is not None:
                    c._on_eof()
            elif typ == EV_CONNECT_FAILED:
                self.owner._connect_failed(self, cid, user, res)

    def give_back(self, buf: int) -> None:
        self.releases.append(buf)
        self.schedule_flush()

    def _release(self) -> None:
        bufs = self.releases
        self.releases = []
        try:
            self.reactor.release(bufs)
        except UrkError:
            logger.exception("urocket.aio: releasing %d buffers", len(bufs))

    def schedule_flush(self) -> None:
        if not self.flush_pending and self.rp is not None:
            self.flush_pending = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_pending = False
        if self.rp is None:
            return
        if self.releases:
            self._release()
        rc = lib.urk_reactor_flush(self.rp)
        if rc < 0:
            logger.error("urocket.aio: flush on reactor %d: %s", self.reactor.index,
                         error_from_code(rc))

"""The engine: one acceptor thread handing connections to N reactors, driven
from Python in pull mode.

    with urocket.Engine(port=0, reactors=1) as engine:      # binds, starts
        r = engine.reactors[0]
        while True:
            batch = r.poll(256, timeout_ms=-1)               # 1 FFI call
            replies = [(batch.conn(i), batch.bytes(i))
                       for i in range(len(batch)) if batch.type(i) == urocket.EV_DATA]
            r.send_batch(replies)                            # 1 FFI call
            r.release(batch)                                 # 1 FFI call

A reactor is owned by the first thread that polls it (or calls any other
owner-only method): every call except wake(), fd() and stats() must come from
that thread (WrongThreadError otherwise). Events come back in an EventBatch:
one reused cffi array of urk_event_t, read without per-field Python objects.
A DATA event's bytes live in an engine buffer that stays valid until it is
given back with release() (or, with release_on_poll=True, until the next
poll): copy with batch.bytes(i), or read in place with batch.data(i).
"""
import builtins
import struct
from typing import (Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

from ._cdef import CONSTANTS as _K
from ._ffi import ffi, lib
from ._util import CdataBatch, Handle, new_opts, record_type
from .addr import Address, as_address
from .errors import StateError, UrkError, _check, error_from_code

__all__ = ["Engine", "Reactor", "EventBatch", "Event", "ReactorStats", "EngineStats",
           "EVENT_NAMES"]

EV_OPEN = _K["URK_EV_OPEN"]
EV_DATA = _K["URK_EV_DATA"]
EV_WRITABLE = _K["URK_EV_WRITABLE"]
EV_CLOSED = _K["URK_EV_CLOSED"]
EV_SEND_DONE = _K["URK_EV_SEND_DONE"]
EV_CONNECT_FAILED = _K["URK_EV_CONNECT_FAILED"]
EV_EOF = _K["URK_EV_EOF"]      # half_close=True: the peer sent FIN; still open
EV_POST = _K["URK_EV_POST"]    # Reactor.post(): user is the posted value
EVENT_NAMES = {v: k[len("URK_EV_"):].lower() for k, v in _K.items() if k.startswith("URK_EV_")}

_SEND_NOCOPY = _K["URK_SEND_NOCOPY"]
_SEND_NOTIFY = _K["URK_SEND_NOTIFY"]
_EAGAIN = 11

_EV_SIZE = ffi.sizeof("urk_event_t")
# urk_event_t as a struct-module format: conn, type, res, data, len, buf, user.
_EV = struct.Struct("=QIiQIIQ")
assert _EV.size == _EV_SIZE, "urk_event_t layout changed: update _EV"
_REQ_SIZE = ffi.sizeof("urk_send_req_t")
# urk_send_req_t: conn, data, len, flags, tag, result, reserved.
_REQ = struct.Struct("=QQIIQiI")
assert _REQ.size == _REQ_SIZE, "urk_send_req_t layout changed: update _REQ"
_REQ_RESULT_OFF = 32
_RESULT = struct.Struct("=i")
_MAX_LEN = 0xFFFFFFFF

_ENGINE_FLAGS = {
    "sqpoll": _K["URK_ENGINE_SQPOLL"],
    "reuseport": _K["URK_ENGINE_REUSEPORT"],
    "no_listen": _K["URK_ENGINE_NO_LISTEN"],
    "least_conn": _K["URK_ENGINE_LEAST_CONN"],
    "no_msg_ring": _K["URK_ENGINE_NO_MSG_RING"],
    "release_on_poll": _K["URK_ENGINE_RELEASE_ON_POLL"],
    "no_defer_taskrun": _K["URK_ENGINE_NO_DEFER_TASKRUN"],
    "half_close": _K["URK_ENGINE_HALF_CLOSE"],
    "no_registered_ring": _K["URK_ENGINE_NO_REGISTERED_RING"],
    "no_send_pool": _K["URK_ENGINE_NO_SEND_POOL"],
    "no_recv_bundle": _K["URK_ENGINE_NO_RECV_BUNDLE"],
}

ReactorStats = record_type("urk_reactor_stats_t", "ReactorStats",
                           "Counters of one reactor (urk_reactor_stats_t).")
EngineStats = record_type("urk_engine_stats_t", "EngineStats",
                          "Counters of the acceptor (urk_engine_stats_t).")


class Event(NamedTuple):
    """One event, decoded (its bytes are read through the batch: data(i),
    bytes(i)). type is one of EV_OPEN, EV_DATA, EV_WRITABLE, EV_CLOSED,
    EV_SEND_DONE, EV_CONNECT_FAILED, EV_EOF (half_close engines: the peer
    sent FIN, the connection stays open until close()), EV_POST (user: the
    value given to Reactor.post)."""

    conn: int
    type: int
    res: int
    len: int
    buf: int
    user: int

    @property
    def name(self) -> str:
        """"open", "data", "writable", "closed", "send_done", "connect_failed"."""
        return EVENT_NAMES.get(self.type, "unknown")


class EventBatch(CdataBatch):
    """View over one cffi array of urk_event_t, filled by Reactor.poll().

    A reactor returns the same batch every poll: its contents are replaced by
    the next poll. len(batch), batch[i] (an Event), iteration, tuples() (all
    events as plain tuples in one call) and per-event accessors type(i),
    conn(i), res(i), user(i), buf(i), data(i) (zero-copy memoryview into the
    engine buffer: valid until that buffer is released), bytes(i) (a copy)
    and peer(i) (the Address of an OPEN event).
    """

    __slots__ = ()
    CTYPE = "urk_event_t"

    def __init__(self, capacity: int = 256) -> None:
        super().__init__(capacity)

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self._n:
            raise IndexError("event index out of range")

    def __getitem__(self, i: int) -> Event:
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("event index out of range")
        conn, typ, res, _p, ln, buf, user = _EV.unpack_from(self._mv, i * _EV_SIZE)
        return Event(conn, typ, res, ln, buf, user)

    def __iter__(self) -> Iterator[Event]:
        make = Event._make
        for conn, typ, res, _p, ln, buf, user in _EV.iter_unpack(
                self._mv[:self._n * _EV_SIZE]):
            yield make((conn, typ, res, ln, buf, user))

    def tuples(self) -> List[Tuple[Any, ...]]:
        """Every event as a plain tuple (conn, type, res, data_ptr, len, buf,
        user), decoded in one call: the fast way to walk a batch."""
        return list(_EV.iter_unpack(self._mv[:self._n * _EV_SIZE]))

    def type(self, i: int) -> int:
        self._check_index(i)
        return self._arr[i].type

    def conn(self, i: int) -> int:
        self._check_index(i)
        return self._arr[i].conn

    def res(self, i: int) -> int:
        self._check_index(i)
        return self._arr[i].res

    def user(self, i: int) -> int:
        self._check_index(i)
        return self._arr[i].user

    def buf(self, i: int) -> int:
        """Buffer handle of a DATA event (0 for others)."""
        self._check_index(i)
        return self._arr[i].buf

    def len(self, i: int) -> int:
        self._check_index(i)
        return self._arr[i].len

    def data(self, i: int) -> Optional[memoryview]:
        """Bytes of event i as a zero-copy read-only memoryview (None when
        the event has none). A DATA view is valid until its buffer is
        released (release(), or the next poll with release_on_poll); read
        it after that and you read whatever the kernel wrote there next."""
        self._check_index(i)
        e = self._arr[i]
        if e.data == ffi.NULL:
            return None
        return memoryview(ffi.buffer(e.data, e.len)).toreadonly()

    def bytes(self, i: int) -> builtins.bytes:
        """Bytes of event i as a copy (b"" when it has none)."""
        self._check_index(i)
        e = self._arr[i]
        if e.data == ffi.NULL or e.len == 0:
            return b""
        return ffi.unpack(ffi.cast("char *", e.data), e.len)

    def peer(self, i: int) -> Address:
        """Address of the peer of an OPEN event."""
        self._check_index(i)
        e = self._arr[i]
        if e.type != EV_OPEN:
            raise ValueError("event %d is not an OPEN event" % i)
        return Address.from_bytes(ffi.unpack(ffi.cast("char *", e.data), e.len))

    def buffers(self) -> List[int]:
        """Buffer handles of every DATA event in the batch."""
        return [t[5] for t in _EV.iter_unpack(self._mv[:self._n * _EV_SIZE])
                if t[1] == EV_DATA]

    def __repr__(self) -> str:
        return "<EventBatch %d/%d>" % (self._n, self._cap)


class Reactor:
    """One reactor of an Engine (its ring, buffers and connections). Get them
    from Engine.reactors; they die with their engine."""

    __slots__ = ("_engine", "_r", "_index", "_batch", "_bufs", "_bufs_cap", "_reqs",
                 "_reqs_mv", "_reqs_cap", "_ptrs", "_nocopy", "_release_on_poll",
                 "_failures", "__weakref__")

    def __init__(self, engine: "Engine", ptr: Any, index: int, release_on_poll: bool) -> None:
        self._engine = engine
        self._r = ptr
        self._index = index
        self._release_on_poll = release_on_poll
        self._batch = EventBatch(256)
        self._bufs_cap = 256
        self._bufs = ffi.new("uint32_t[]", self._bufs_cap)
        self._reqs_cap = 0
        self._reqs: Any = None
        self._reqs_mv: Any = None
        self._ptrs: Dict[int, Tuple[Any, int]] = {}        # id(bytes) -> (bytes, address): pointers of immutable data
        self._nocopy: Dict[Tuple[int, int], List[Any]] = {}      # (conn, tag) -> [cdata...]: kept until SEND_DONE
        self._failures: List[Tuple[int, UrkError]] = []

    def _p(self) -> Any:
        r = self._r
        if r is None:
            raise ValueError("I/O operation on a closed engine")
        return r

    def _detach(self) -> None:
        self._r = None
        self._nocopy.clear()
        self._ptrs.clear()

    @property
    def index(self) -> int:
        return self._index

    @property
    def engine(self) -> "Engine":
        return self._engine

    def __repr__(self) -> str:
        return "<urocket.Reactor %d%s>" % (self._index, " closed" if self._r is None else "")

    # ---- polling ----

    def poll(self, max: int = 256, timeout_ms: int = -1) -> EventBatch:
        """Wait up to timeout_ms (-1: no limit, 0: never) for events and
        return up to `max` of them as this reactor's EventBatch (reused:
        replaced by the next poll). The GIL is released while waiting; a
        thread blocked here returns on wake()."""
        r = self._r
        if r is None:
            raise ValueError("I/O operation on a closed engine")
        batch = self._batch
        if max > batch._cap:
            self._batch = batch = EventBatch(max)
        n = lib.urk_reactor_poll(r, batch._arr, max, timeout_ms)
        if n < 0:
            batch._n = 0
            _check(n)
        batch._n = n
        if self._nocopy and n:
            self._forget_sent(batch)
        return batch

    def _forget_sent(self, batch: EventBatch) -> None:
        keep = self._nocopy
        for t in batch.tuples():
            if t[1] == EV_SEND_DONE:
                entry = keep.get((t[0], t[6]))
                if entry is not None:
                    entry.pop(0)
                    if not entry:
                        del keep[(t[0], t[6])]

    def fd(self) -> int:
        """A descriptor that is readable while events may be pending: register
        it with a host event loop, then poll(timeout_ms=0). Any thread."""
        return _check(lib.urk_reactor_fd(self._p()))

    def wake(self) -> None:
        """Make a blocked (or the next) poll return. Any thread."""
        _check(lib.urk_reactor_wake(self._p()))

    def flush(self) -> int:
        """Hand queued sends and closes to the kernel now (poll does it too).
        Returns how many requests were submitted."""
        return _check(lib.urk_reactor_flush(self._p()))

    def post(self, value: int = 0) -> None:
        """Queue an EV_POST event carrying `value` (an int, 0..2**64-1) in
        `user` for the reactor's owner: the next poll returns it and fd()
        becomes readable. Any thread; posts arrive in order and none is lost
        (urk_reactor_post with no function)."""
        if not isinstance(value, int) or not 0 <= value < 1 << 64:
            raise ValueError("post value must be an int in 0..2**64-1, got %r" % (value,))
        _check(lib.urk_reactor_post(self._p(), ffi.NULL, ffi.cast("void *", value)))

    # ---- buffers ----

    def release(self, what: Union[EventBatch, int, Iterable[int]]) -> int:
        """Give DATA buffers back in one call: an EventBatch (every DATA
        event in it), one handle, or an iterable of handles. Returns the
        count. All or nothing: a handle not held raises (EINVAL)."""
        r = self._p()
        if self._release_on_poll:
            raise StateError(_K["URK_ESTATE"], "buffers are released by the next poll "
                             "(release_on_poll=True)")
        handles: Sequence[int]
        if isinstance(what, EventBatch):
            handles = what.buffers()
        elif type(what) is int:
            handles = (what,)
        else:
            handles = what if isinstance(what, (list, tuple)) else list(what)  # type: ignore
        n = len(handles)
        if n == 0:
            return 0
        if n > self._bufs_cap:
            self._bufs_cap = max(n, self._bufs_cap * 2)
            self._bufs = ffi.new("uint32_t[]", self._bufs_cap)
        arr = self._bufs
        arr[0:n] = handles
        return _check(lib.urk_reactor_release(r, arr, n))

    # ---- sending ----

    def send(self, conn: int, data: Union[builtins.bytes, bytearray, memoryview],
             flags: int = 0, tag: int = 0) -> None:
        """Queue data for conn (the engine copies it unless flags has
        SEND_NOCOPY, in which case this reactor keeps `data` alive until its
        SEND_DONE event). Raises BlockingIOError (EAGAIN) over the send
        limit (a WRITABLE event follows), StaleIdError, ClosingError."""
        r = self._p()
        c = data if type(data) is bytes else ffi.from_buffer(data)
        n = len(data) if type(data) is bytes else len(c)
        if n > _MAX_LEN:
            raise ValueError("send of more than 4 GiB - 1 in one call")
        rc = lib.urk_send(r, conn, c, n, flags, tag)
        if rc:
            _check(rc)
        if flags & _SEND_NOCOPY:
            self._nocopy.setdefault((conn, tag), []).append((data, c))

    def _address(self, data: Any, keep: List[Any]) -> Tuple[int, int]:
        """(address, length) of a bytes-like object, the object kept alive in
        `keep` for the duration of the call."""
        if type(data) is bytes:
            hit = self._ptrs.get(id(data))
            if hit is not None and hit[0] is data:
                return hit[1], len(data)
            c = ffi.from_buffer(data)
            addr = int(ffi.cast("uintptr_t", c))
            ptrs = self._ptrs
            if len(ptrs) >= 512:
                ptrs.clear()
            ptrs[id(data)] = (data, addr)   # holding `data` keeps the address valid
            return addr, len(data)
        c = ffi.from_buffer(data)
        keep.append(c)
        return int(ffi.cast("uintptr_t", c)), len(c)

    def send_batch(self, items: Sequence[Tuple[Any, ...]]) -> int:
        """Queue many sends in one urk_send_batch call. items: a sequence of
        (conn, data) or (conn, data, flags) or (conn, data, flags, tag).
        Returns how many were queued; when fewer than len(items), failures()
        lists (index, exception) for the others."""
        r = self._p()
        n = len(items)
        if n == 0:
            self._failures = []
            return 0
        if n > self._reqs_cap:
            cap = max(n, 64, self._reqs_cap * 2)
            self._reqs = ffi.new("urk_send_req_t[]", cap)
            self._reqs_mv = memoryview(ffi.buffer(self._reqs))
            self._reqs_cap = cap
        mv = self._reqs_mv
        pack = _REQ.pack_into
        keep: List[Any] = []
        nocopy: Optional[List[Tuple[int, int, int, Any]]] = None
        off = 0
        for it in items:
            k = len(it)
            conn = it[0]
            data = it[1]
            flags = it[2] if k > 2 else 0
            tag = it[3] if k > 3 else 0
            addr, ln = self._address(data, keep)
            if ln > _MAX_LEN:
                raise ValueError("send of more than 4 GiB - 1 in one call")
            pack(mv, off, conn, addr, ln, flags, tag, 0, 0)
            if flags & _SEND_NOCOPY:
                if nocopy is None:
                    nocopy = []
                nocopy.append((off // _REQ_SIZE, conn, tag, data))
            off += _REQ_SIZE
        ok = lib.urk_send_batch(r, self._reqs, n)
        if ok < 0:
            _check(ok)
        if nocopy:
            for i, conn, tag, data in nocopy:
                if _RESULT.unpack_from(mv, i * _REQ_SIZE + _REQ_RESULT_OFF)[0] == 0:
                    self._nocopy.setdefault((conn, tag), []).append(data)
        if ok < n:
            failures = []
            for i in range(n):
                rc = _RESULT.unpack_from(mv, i * _REQ_SIZE + _REQ_RESULT_OFF)[0]
                if rc:
                    failures.append((i, error_from_code(rc)))
            self._failures = failures
        else:
            self._failures = []
        return ok

    def failures(self) -> List[Tuple[int, UrkError]]:
        """(index, UrkError) for every request the last send_batch refused
        (BlockingIOError for EAGAIN: over the send limit)."""
        return list(self._failures)

    # ---- connections ----

    def close(self, conn: int, abort: bool = False) -> None:
        """Graceful close (queued sends finish, then FIN) or abort (RST).
        A CLOSED event follows."""
        rc = lib.urk_close(self._p(), conn, 1 if abort else 0)
        if rc:
            _check(rc)

    def shutdown_write(self, conn: int) -> None:
        """FIN after the queued sends; receiving goes on."""
        _check(lib.urk_shutdown_write(self._p(), conn))

    def pause_recv(self, conn: int, pause: bool = True) -> None:
        """Stop (or, pause=False, resume) receiving on conn."""
        _check(lib.urk_conn_pause_recv(self._p(), conn, 1 if pause else 0))

    def resume_recv(self, conn: int) -> None:
        self.pause_recv(conn, False)

    def connect(self, host: Union[str, Address, Tuple[Any, ...]], port: Optional[int] = None,
                tag: int = 0) -> int:
        """Open an outgoing connection to (host, port) or an Address; returns
        its id at once. An OPEN event (user == tag) or CONNECT_FAILED follows."""
        addr = as_address(host if port is None else (host, port))
        out = ffi.new("urk_conn_t *")
        _check(lib.urk_reactor_connect(self._p(), addr.cdata, tag, out))
        return out[0]

    def peer(self, conn: int) -> Address:
        """Address of conn's peer."""
        out = ffi.new("urk_addr_t *")
        _check(lib.urk_conn_peer(self._p(), conn, out))
        return Address.from_cdata(out)

    def set_user(self, conn: int, value: int) -> None:
        """Keep a 64-bit value with conn, echoed in its events' user field."""
        _check(lib.urk_conn_set_user(self._p(), conn, value))

    def user(self, conn: int) -> int:
        out = ffi.new("uint64_t *")
        _check(lib.urk_conn_user(self._p(), conn, out))
        return out[0]

    def stats(self) -> Any:
        """ReactorStats. Any thread."""
        out = ffi.new("urk_reactor_stats_t *")
        _check(lib.urk_reactor_stats(self._p(), out))
        return ReactorStats.from_cdata(out)


class Engine(Handle):
    """The uRocket engine (urk_engine_t): a listener, an acceptor thread and
    `reactors` reactors driven in pull mode from Python.

    Creating it binds the listener (port 0: a free port, see .port) and
    builds every ring; nothing runs before start(). As a context manager it
    starts on entry (if not started) and closes on exit.

    Keywords are the fields of urk_engine_opts_t (None keeps the library's
    default): backlog, sq_entries, cq_entries, buf_count, buf_size,
    buf_low_water, max_conns, idle_timeout_ms, send_limit, sqpoll_idle_ms,
    acceptor_cpu, reactor_cpus (a list with one CPU per reactor, -1: none),
    flags (raw URK_ENGINE_* bits), and one boolean per flag: sqpoll,
    reuseport, no_listen, least_conn, no_msg_ring, release_on_poll,
    no_defer_taskrun, half_close (a peer's FIN is an EV_EOF event and the
    connection stays open for sending until close()), no_send_pool (send
    chunks malloc'd per send) and no_recv_bundle (one buffer per kernel
    receive completion; EV_DATA events look the same either way): these two
    switch performance features off; no_registered_ring is accepted for 0.2
    compatibility and has no effect.
    """

    __slots__ = ("_reactors", "_started", "_stopped", "_port", "_host", "_flags")
    _kind = "engine"

    def __init__(self, host: Union[str, bytes] = "127.0.0.1", port: int = 0, reactors: int = 1,
                 *, flags: int = 0, backlog: Optional[int] = None,
                 sq_entries: Optional[int] = None, cq_entries: Optional[int] = None,
                 buf_count: Optional[int] = None, buf_size: Optional[int] = None,
                 buf_low_water: Optional[int] = None, max_conns: Optional[int] = None,
                 idle_timeout_ms: Optional[int] = None, send_limit: Optional[int] = None,
                 sqpoll_idle_ms: Optional[int] = None, acceptor_cpu: Optional[int] = None,
                 reactor_cpus: Optional[Sequence[int]] = None, sqpoll: bool = False,
                 reuseport: bool = False, no_listen: bool = False, least_conn: bool = False,
                 no_msg_ring: bool = False, release_on_poll: bool = False,
                 no_defer_taskrun: bool = False, half_close: bool = False,
                 no_registered_ring: bool = False, no_send_pool: bool = False,
                 no_recv_bundle: bool = False) -> None:
        switches = {"sqpoll": sqpoll, "reuseport": reuseport, "no_listen": no_listen,
                    "least_conn": least_conn, "no_msg_ring": no_msg_ring,
                    "release_on_poll": release_on_poll, "no_defer_taskrun": no_defer_taskrun,
                    "half_close": half_close, "no_registered_ring": no_registered_ring,
                    "no_send_pool": no_send_pool, "no_recv_bundle": no_recv_bundle}
        flags = flags or 0
        for name, on in switches.items():
            if on:
                flags |= _ENGINE_FLAGS[name]
        if not isinstance(reactors, int) or not 1 <= reactors <= 64:
            raise ValueError("reactors must be an int in 1..64, got %r" % (reactors,))
        if reactor_cpus is not None:
            reactor_cpus = list(reactor_cpus)
            if len(reactor_cpus) != reactors:
                raise ValueError("reactor_cpus needs one entry per reactor (%d), got %d"
                                 % (reactors, len(reactor_cpus)))
        if not isinstance(host, (str, bytes)):
            raise TypeError("host must be a str, got %r" % type(host).__name__)
        if not 0 <= port <= 65535:
            raise ValueError("port must be in 0..65535, got %r" % (port,))
        opts, keep = new_opts("urk_engine_opts_t", lib.urk_engine_opts_init, {
            "flags": flags, "host": host, "port": port, "reactors": reactors,
            "backlog": backlog, "sq_entries": sq_entries, "cq_entries": cq_entries,
            "buf_count": buf_count, "buf_size": buf_size, "buf_low_water": buf_low_water,
            "max_conns": max_conns, "idle_timeout_ms": idle_timeout_ms,
            "send_limit": send_limit, "sqpoll_idle_ms": sqpoll_idle_ms,
            "acceptor_cpu": acceptor_cpu, "reactor_cpus": reactor_cpus})
        out = ffi.new("urk_engine_t **")
        _check(lib.urk_engine_create(opts, out))
        del keep   # the engine copied what it keeps
        e = out[0]
        self._register(e)
        self._started = False
        self._stopped = False
        self._flags = flags
        self._host = host.decode() if isinstance(host, bytes) else host
        self._port = lib.urk_engine_port(e)
        rel = bool(flags & _ENGINE_FLAGS["release_on_poll"])
        self._reactors = []
        rp = ffi.new("urk_reactor_t **")
        for i in range(_check(lib.urk_engine_reactor_count(e))):
            _check(lib.urk_engine_reactor(e, i, rp))
            self._reactors.append(Reactor(self, rp[0], i, rel))

    def _destroy(self, ptr: Any) -> None:
        for r in self._reactors:
            r._detach()
        lib.urk_engine_destroy(ptr)

    def _p(self) -> Any:
        p = self._ptr
        if p is None:
            raise self._closed_error()
        return p

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<urocket.Engine closed>"
        state = "stopped" if self._stopped else "running" if self._started else "created"
        return "<urocket.Engine %s:%d reactors=%d %s>" % (
            self._host, self._port, len(self._reactors), state)

    def __enter__(self) -> "Engine":
        if self.closed:
            raise self._closed_error()
        if not self._started:
            self.start()
        return self

    @property
    def port(self) -> int:
        """The bound port (the one picked when created with port 0)."""
        return self._port

    @property
    def host(self) -> str:
        return self._host

    @property
    def reactors(self) -> List[Reactor]:
        """List of Reactor, one per reactor."""
        return list(self._reactors)

    @property
    def release_on_poll(self) -> bool:
        return bool(self._flags & _ENGINE_FLAGS["release_on_poll"])

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        """Start accepting, in pull mode: drive each reactor with poll()."""
        _check(lib.urk_engine_start(self._p(), ffi.NULL))
        self._started = True

    def stop(self, drain_ms: int = 0) -> None:
        """Stop accepting, let queued sends drain for up to drain_ms, close
        every connection and join every engine thread. Idempotent. Reactors
        must not be polled concurrently: stop (or wake and join) the threads
        polling them first."""
        _check(lib.urk_engine_stop(self._p(), drain_ms))
        self._stopped = True

    def stats(self) -> Any:
        """EngineStats of the acceptor (accepted, accept_rearms, ...)."""
        out = ffi.new("urk_engine_stats_t *")
        _check(lib.urk_engine_stats(self._p(), out))
        return EngineStats.from_cdata(out)

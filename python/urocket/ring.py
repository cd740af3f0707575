"""The ring layer: Ring (one io_uring), BufRing (provided buffers), prep_*
requests and batched completions.

A Ring is driven by one thread (with DEFER_TASKRUN, the creating thread, or
the thread calling enable() for a ring created disabled). Requests are queued
with prep_*(), handed to the kernel by submit() or complete(), and their
results come back from complete() as a CompletionBatch: one reused cffi array
of urk_cqe_t, read without per-field Python objects.
"""
import builtins
import struct
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from ._cdef import CONSTANTS as _K
from ._ffi import ffi, lib
from ._util import CdataBatch, Handle, fd_of, new_opts, record_type
from .addr import Address, as_address
from .errors import _check

__all__ = ["Ring", "BufRing", "CompletionBatch", "Completion", "RingInfo", "RingStats"]

_F_BUFFER = _K["URK_CQE_F_BUFFER"]
_F_MORE = _K["URK_CQE_F_MORE"]
_NULL = ffi.NULL
_NULL_RING = ffi.cast("urk_ring_t *", 0)
_CQE_SIZE = ffi.sizeof("urk_cqe_t")
# urk_cqe_t as struct-module format, so records decode in one C call:
# user_data, res, flags, buf, buf_len, buf_id, buf_group.
_CQE = struct.Struct("=QiIQIHH")
assert _CQE.size == _CQE_SIZE, "urk_cqe_t layout changed: update _CQE"

# A file descriptor: an int or an object with fileno() (a socket).
FdLike = Any
Buffer = Union[builtins.bytes, bytearray, memoryview]

_ACTIVE_NAMES = {
    name[len("URK_RING_ACTIVE_"):].lower(): value
    for name, value in _K.items() if name.startswith("URK_RING_ACTIVE_")
}


_RingInfoBase: Any = record_type("urk_ring_info_t", "RingInfo")


class RingInfo(_RingInfoBase):  # type: ignore[misc]
    """What the ring really got (urk_ring_info_t): active URK_RING_ACTIVE_*
    bits, granted SQ/CQ sizes, raw IORING_FEAT_* and IORING_SETUP_* bits."""

    __slots__ = ()

    @property
    def active_names(self) -> FrozenSet[str]:
        """frozenset of active feature names: {"defer_taskrun", "enabled", ...}."""
        return frozenset(n for n, v in _ACTIVE_NAMES.items() if self.active & v)


RingStats = record_type("urk_ring_stats_t", "RingStats",
                        "Counters of a ring (urk_ring_stats_t).")


class Completion(NamedTuple):
    """One completion, decoded. buf_* are set when flags has CQE_F_BUFFER."""

    user_data: int
    res: int
    flags: int
    buf_len: int
    buf_id: int
    buf_group: int

    @property
    def more(self) -> bool:
        """True while the multishot request goes on (CQE_F_MORE)."""
        return bool(self.flags & _F_MORE)

    @property
    def has_buffer(self) -> bool:
        """True if the completion carries a provided buffer (CQE_F_BUFFER)."""
        return bool(self.flags & _F_BUFFER)


class CompletionBatch(CdataBatch):
    """View over one cffi array of urk_cqe_t, filled by Ring.complete().

    The batch a Ring returns is the same object every call: its contents are
    replaced by the next complete(). len(batch), batch[i] (a Completion),
    iteration, and per-field accessors user_data(i), res(i), flags(i),
    buf_id(i), data(i) (zero-copy memoryview) and bytes(i) (a copy).
    """

    __slots__ = ()
    CTYPE = "urk_cqe_t"

    def __init__(self, capacity: int = 64) -> None:
        super().__init__(capacity)

    def __getitem__(self, i: int) -> Completion:
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("completion index out of range")
        ud, res, flags, _buf, blen, bid, grp = _CQE.unpack_from(self._mv, i * _CQE_SIZE)
        return Completion(ud, res, flags, blen, bid, grp)

    def __iter__(self) -> Iterator[Completion]:
        make = Completion._make
        for ud, res, flags, _buf, blen, bid, grp in _CQE.iter_unpack(
                self._mv[:self._n * _CQE_SIZE]):
            yield make((ud, res, flags, blen, bid, grp))

    def tuples(self) -> List[Tuple[Any, ...]]:
        """All completions as plain tuples (user_data, res, flags, buf,
        buf_len, buf_id, buf_group), decoded in one call."""
        return list(_CQE.iter_unpack(self._mv[:self._n * _CQE_SIZE]))

    def _cqe(self, i: int) -> Any:
        if not 0 <= i < self._n:
            raise IndexError("completion index out of range")
        return self._arr[i]

    def user_data(self, i: int) -> int:
        """user_data of completion i."""
        return self._cqe(i).user_data

    def res(self, i: int) -> int:
        """Result of completion i: >= 0 (bytes, fd, ...) or -errno."""
        return self._cqe(i).res

    def flags(self, i: int) -> int:
        """CQE_F_* flags of completion i."""
        return self._cqe(i).flags

    def more(self, i: int) -> bool:
        """True if completion i's multishot request goes on."""
        return bool(self._cqe(i).flags & _F_MORE)

    def buf_id(self, i: int) -> int:
        """Provided-buffer id of completion i (give back with BufRing.recycle)."""
        return self._cqe(i).buf_id

    def data(self, i: int) -> Optional[memoryview]:
        """Received bytes of completion i as a zero-copy memoryview into the
        provided buffer, or None if it carries no buffer. Valid until that
        buffer is recycled or its BufRing is closed: copy before that."""
        c = self._cqe(i)
        if c.buf == _NULL:
            return None
        return memoryview(ffi.buffer(c.buf, c.buf_len))

    def bytes(self, i: int) -> builtins.bytes:
        """Received bytes of completion i as a bytes copy (b"" if no buffer)."""
        c = self._cqe(i)
        if c.buf == _NULL:
            return b""
        return ffi.buffer(c.buf, c.buf_len)[:]

    def __repr__(self) -> str:
        return "<CompletionBatch %d/%d>" % (self._n, self._cap)


class Ring(Handle):
    """One io_uring (urk_ring_t). Use as a context manager or close() it.

    Keyword options (None keeps the library default):
      sq_entries      power of two, 1..32768 (default 256)
      cq_entries      0/None: 16 x sq_entries, at least 4096
      sqpoll          kernel SQ polling thread
      sqpoll_idle_ms  SQPOLL idle time (default 1000)
      sqpoll_cpu      CPU of the SQPOLL thread (-1: any)
      defer_taskrun   SINGLE_ISSUER + DEFER_TASKRUN when the kernel has it
                      (False: COOP_TASKRUN)
      register_fd     register the ring fd (faster io_uring_enter)
      disabled        create disabled; the thread calling enable() becomes the
                      single issuer
      force_fallback  act as if DEFER_TASKRUN were refused (tests the fallback)

    Requests that borrow Python memory (prep_send, prep_sendv, prep_recv) keep
    it alive until a completion without CQE_F_MORE arrives for their
    user_data, so give such requests a user_data no other in-flight request
    shares. With OP_SKIP_SUCCESS there may be no completion: the memory is
    then held until close().
    """

    __slots__ = ("_batch", "_keep", "_bufrings", "_raw")
    _kind = "ring"

    def __init__(self, *, sq_entries: Optional[int] = None, cq_entries: Optional[int] = None,
                 sqpoll: bool = False, sqpoll_idle_ms: Optional[int] = None,
                 sqpoll_cpu: Optional[int] = None, defer_taskrun: bool = True,
                 register_fd: bool = True, disabled: bool = False,
                 force_fallback: bool = False) -> None:
        flags = 0
        if sqpoll:
            flags |= _K["URK_RING_SQPOLL"]
        if not defer_taskrun:
            flags |= _K["URK_RING_NO_DEFER_TASKRUN"]
        if not register_fd:
            flags |= _K["URK_RING_NO_REGISTER_FD"]
        if force_fallback:
            flags |= _K["URK_RING_FORCE_FALLBACK"]
        if disabled:
            flags |= _K["URK_RING_DISABLED"]
        opts, _ = new_opts("urk_ring_opts_t", lib.urk_ring_opts_init, {
            "flags": flags, "sq_entries": sq_entries, "cq_entries": cq_entries,
            "sqpoll_idle_ms": sqpoll_idle_ms, "sqpoll_cpu": sqpoll_cpu})
        out = ffi.new("urk_ring_t **")
        _check(lib.urk_ring_create(opts, out))
        self._batch = CompletionBatch(64)
        self._keep: Dict[int, List[Any]] = {}
        self._bufrings: Dict[int, BufRing] = {}
        self._raw = out[0]  # the pointer prep_* pass; NULL once closed
        self._register(out[0])

    def _destroy(self, ptr: Any) -> None:
        self._raw = _NULL_RING
        for br in list(self._bufrings.values()):
            br.close()
        lib.urk_ring_destroy(ptr)
        # The kernel has dropped every request with the ring: memory they
        # borrowed can go now.
        self._keep.clear()

    def _p(self) -> Any:
        p = self._ptr
        if p is None:
            raise self._closed_error()
        return p

    def _fail(self, rc: int) -> None:
        # prep_* pass self._raw without checking: NULL once closed, which
        # the library refuses with an error code; only then ask why.
        if self._ptr is None:
            raise self._closed_error()
        _check(rc)

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<urocket.Ring closed>"
        return "<urocket.Ring fd=%d>" % lib.urk_ring_fd(self._ptr)

    # ---- properties ----

    @property
    def fd(self) -> int:
        """The ring's file descriptor (target of prep_msg_ring)."""
        return _check(lib.urk_ring_fd(self._p()))

    @property
    def info(self) -> RingInfo:
        """RingInfo: what setup really got."""
        out = ffi.new("urk_ring_info_t *")
        _check(lib.urk_ring_info(self._p(), out))
        return RingInfo.from_cdata(out)

    @property
    def stats(self) -> Any:
        """RingStats: counters since creation."""
        out = ffi.new("urk_ring_stats_t *")
        _check(lib.urk_ring_stats(self._p(), out))
        return RingStats.from_cdata(out)

    def enable(self) -> None:
        """Enable a ring created with disabled=True; this thread becomes its
        single issuer."""
        _check(lib.urk_ring_enable(self._p()))

    def register_eventfd(self, efd: FdLike) -> None:
        """Have the kernel signal eventfd `efd` when completions are posted."""
        _check(lib.urk_ring_register_eventfd(self._p(), fd_of(efd)))

    def unregister_eventfd(self) -> None:
        """Undo register_eventfd()."""
        _check(lib.urk_ring_unregister_eventfd(self._p()))

    # ---- buffer rings ----

    def buffer_ring(self, count: int, size: int, group_id: int,
                    incremental: bool = False) -> "BufRing":
        """Register count x size provided buffers under group_id (a BufRing).
        count is a power of two. FileExistsError-derived UrkError if the group
        is taken; NotSupportedError for incremental on kernels before 6.12."""
        return BufRing(self, count, size, group_id, incremental)

    # ---- requests ----

    def _hold(self, user_data: int, obj: Any) -> None:
        entry = self._keep.get(user_data)
        if entry is None:
            self._keep[user_data] = [1, obj]
        else:
            entry[0] += 1
            entry.append(obj)

    def _release(self, arr: Any, n: int) -> None:
        keep = self._keep
        for i in range(n):
            c = arr[i]
            if not c.flags & _F_MORE:
                entry = keep.get(c.user_data)
                if entry is not None:
                    entry[0] -= 1
                    if entry[0] <= 0:
                        del keep[c.user_data]

    def prep_nop(self, user_data: int = 0, flags: int = 0) -> None:
        """Queue a no-op; completes with res 0."""
        rc = lib.urk_prep_nop(self._raw, user_data, flags)
        if rc:
            self._fail(rc)

    def prep_accept_multishot(self, listen_fd: FdLike, user_data: int = 0,
                              flags: int = 0) -> None:
        """Multishot accept: each completion's res is a new fd (close it).
        Without CQE_F_MORE the accept stopped: queue it again."""
        rc = lib.urk_prep_accept_multishot(self._raw, fd_of(listen_fd), user_data, flags)
        if rc:
            self._fail(rc)

    def prep_recv_multishot(self, fd: FdLike, group: Union[int, "BufRing"], user_data: int = 0,
                            flags: int = 0) -> None:
        """Multishot recv into buffers of `group` (a BufRing or its group id).
        Completions carry data (batch.data(i)) to give back with recycle().
        -ENOBUFS without CQE_F_MORE means the group ran dry: recycle, then
        queue it again. RECV_BUNDLE is reserved: refused in 0.1."""
        gid = group.group if isinstance(group, BufRing) else group
        rc = lib.urk_prep_recv_multishot(self._raw, fd_of(fd), gid, user_data, flags)
        if rc:
            self._fail(rc)

    def prep_recv(self, fd: FdLike, buf: Union[bytearray, memoryview], user_data: int = 0,
                  flags: int = 0, nbytes: Optional[int] = None) -> None:
        """Single-shot recv into a writable buffer (bytearray, memoryview,
        ...), held until completion. nbytes limits the length."""
        p = self._raw
        c = ffi.from_buffer(buf, require_writable=True)
        n = len(c) if nbytes is None else nbytes
        if not 0 <= n <= len(c):
            raise ValueError("nbytes %d outside 0..%d" % (n, len(c)))
        rc = lib.urk_prep_recv(p, fd_of(fd), c, n, user_data, flags)
        if rc:
            self._fail(rc)
        self._hold(user_data, (buf, c))

    def prep_send(self, fd: FdLike, data: Buffer, user_data: int = 0, msg_flags: int = 0,
                  flags: int = 0) -> None:
        """send(2) of a bytes-like object (MSG_NOSIGNAL added), held until
        completion. res may be less than len(data): send the rest after."""
        p = self._raw
        c = ffi.from_buffer(data)
        rc = lib.urk_prep_send(p, fd_of(fd), c, len(c), msg_flags, user_data, flags)
        if rc:
            self._fail(rc)
        self._hold(user_data, (data, c))

    def prep_sendv(self, fd: FdLike, buffers: Iterable[Buffer], user_data: int = 0,
                   msg_flags: int = 0, flags: int = 0) -> None:
        """sendmsg(2) of a sequence of bytes-like objects (1..1024), all held
        until completion."""
        p = self._raw
        bufs = list(buffers)
        iov = ffi.new("urk_iovec_t[]", max(len(bufs), 1))
        cs = []
        for i, b in enumerate(bufs):
            c = ffi.from_buffer(b)
            cs.append(c)
            iov[i].base = c
            iov[i].len = len(c)
        rc = lib.urk_prep_sendv(p, fd_of(fd), iov, len(bufs), msg_flags, user_data, flags)
        if rc:
            self._fail(rc)
        self._hold(user_data, (bufs, cs, iov))

    def prep_connect(self, fd: FdLike, addr: Union[Address, Tuple[Any, ...]],
                     user_data: int = 0, flags: int = 0) -> None:
        """connect(2) to an Address or (host, port) numeric literal."""
        p = self._raw
        a = as_address(addr)
        rc = lib.urk_prep_connect(p, fd_of(fd), a.cdata, user_data, flags)
        if rc:
            self._fail(rc)

    def prep_close(self, fd: FdLike, user_data: int = 0, flags: int = 0) -> None:
        """close(2) through the ring."""
        rc = lib.urk_prep_close(self._raw, fd_of(fd), user_data, flags)
        if rc:
            self._fail(rc)

    def prep_shutdown(self, fd: FdLike, how: int, user_data: int = 0, flags: int = 0) -> None:
        """shutdown(2); how is socket.SHUT_RD / SHUT_WR / SHUT_RDWR."""
        rc = lib.urk_prep_shutdown(self._raw, fd_of(fd), how, user_data, flags)
        if rc:
            self._fail(rc)

    def prep_cancel(self, target_user_data: int, user_data: int = 0, flags: int = 0) -> None:
        """Cancel the request(s) with target_user_data (CANCEL_ALL: every
        match). res: 0, -ENOENT, -EALREADY (or a count with CANCEL_ALL). The
        cancelled request still posts its own final completion."""
        rc = lib.urk_prep_cancel(self._raw, target_user_data, user_data, flags)
        if rc:
            self._fail(rc)

    def prep_cancel_fd(self, fd: FdLike, user_data: int = 0, flags: int = 0) -> None:
        """Cancel requests on fd (CANCEL_ALL: all of them)."""
        rc = lib.urk_prep_cancel_fd(self._raw, fd_of(fd), user_data, flags)
        if rc:
            self._fail(rc)

    def prep_timeout(self, seconds: float, user_data: int = 0, count: int = 0,
                     flags: int = 0) -> None:
        """Completes with -ETIME after `seconds`, or with 0 once `count` other
        completions were posted (count 0: pure timer)."""
        if seconds < 0:
            raise ValueError("timeout must be >= 0")
        rc = lib.urk_prep_timeout(self._raw, int(seconds * 1e9), count, user_data, flags)
        if rc:
            self._fail(rc)

    def prep_msg_ring(self, target: "Ring", res: int, target_user_data: int,
                      user_data: int = 0, flags: int = 0) -> None:
        """Post {user_data=target_user_data, res=res} on ring `target` (a Ring
        or its fd); wakes a thread waiting there."""
        tfd = target.fd if isinstance(target, Ring) else fd_of(target)
        rc = lib.urk_prep_msg_ring(self._raw, tfd, res, target_user_data, user_data, flags)
        if rc:
            self._fail(rc)

    # ---- submission and completion ----

    def submit(self) -> int:
        """Hand queued requests to the kernel; returns how many."""
        return _check(lib.urk_ring_submit(self._p()))

    def new_batch(self, capacity: int = 64) -> CompletionBatch:
        """A CompletionBatch of its own, for complete(batch=...)."""
        return CompletionBatch(capacity)

    def complete(self, max: int = 64, min_complete: int = 0, timeout: Optional[float] = None,
                 batch: Optional[CompletionBatch] = None) -> CompletionBatch:
        """Submit what is queued, wait until min_complete completions are
        ready or `timeout` seconds pass (None: no limit; min_complete 0:
        never waits), and return up to `max` of them as a CompletionBatch.

        The GIL is released while waiting. Without `batch`, the ring's own
        batch is reused: its contents are replaced by the next call.
        """
        p = self._ptr
        if p is None:
            raise self._closed_error()
        if batch is None:
            batch = self._batch
        if max > batch._cap:
            batch._ensure(max)
        if timeout is None:
            tns = -1
        elif timeout < 0:
            raise ValueError("timeout must be >= 0 or None")
        else:
            tns = int(timeout * 1e9)
        arr = batch._arr
        n = lib.urk_ring_complete(p, arr, max, min_complete, tns)
        if n < 0:
            batch._n = 0
            _check(n)
        batch._n = n
        if self._keep and n:
            self._release(arr, n)
        return batch


class BufRing(Handle):
    """A provided-buffer ring (urk_bufring_t) of `count` buffers of `size`
    bytes under buffer group `group`. Create with Ring.buffer_ring(). Closed
    with its Ring at the latest; data views die with it."""

    __slots__ = ("_ring", "_group", "_count", "_size", "_bids")
    _kind = "buffer ring"

    def __init__(self, ring: Ring, count: int, size: int, group_id: int,
                 incremental: bool = False) -> None:
        rp = ring._p()
        opts, _ = new_opts("urk_bufring_opts_t", lib.urk_bufring_opts_init, {
            "flags": _K["URK_BUFRING_INC"] if incremental else 0,
            "count": count, "size": size, "group_id": group_id})
        out = ffi.new("urk_bufring_t **")
        _check(lib.urk_bufring_create(rp, opts, out))
        self._ring = ring
        self._group = group_id
        self._count = count
        self._size = size
        self._bids = ffi.new("uint16_t[]", 64)
        self._register(out[0])
        ring._bufrings[group_id] = self

    def _destroy(self, ptr: Any) -> None:
        self._ring._bufrings.pop(self._group, None)
        lib.urk_bufring_destroy(ptr)

    def _p(self) -> Any:
        p = self._ptr
        if p is None:
            raise self._closed_error()
        return p

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else "available=%d" % self.available
        return "<urocket.BufRing group=%d count=%d size=%d %s>" % (
            self._group, self._count, self._size, state)

    @property
    def group(self) -> int:
        """Buffer group id (what recv requests select from)."""
        return self._group

    @property
    def count(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        return self._size

    @property
    def available(self) -> int:
        """Buffers the kernel can fill now."""
        return _check(lib.urk_bufring_available(self._p()))

    def buf(self, bid: int) -> memoryview:
        """The whole buffer `bid` as a writable memoryview (valid until close)."""
        out = ffi.new("void **")
        _check(lib.urk_bufring_buf(self._p(), bid, out))
        return memoryview(ffi.buffer(out[0], self._size))

    def recycle(self, bids: Union[int, Iterable[int]]) -> int:
        """Give buffers back to the kernel in one publish: an int or an
        iterable of ints. All or nothing: a bid not held raises (EALREADY:
        already with the kernel; EINVAL: out of range). Returns the count."""
        p = self._p()
        if type(bids) is int:
            arr = self._bids
            arr[0] = bids
            return _check(lib.urk_bufring_recycle(p, arr, 1))
        bids = list(bids)  # type: ignore[arg-type]
        n = len(bids)
        if n <= 64:
            arr = self._bids
            arr[0:n] = bids
        else:
            arr = ffi.new("uint16_t[]", bids)
        return _check(lib.urk_bufring_recycle(p, arr, n))

    def recycle_batch(self, batch: CompletionBatch) -> int:
        """Give back every buffer of this group carried by `batch` (after
        copying what you need out of batch.data(i)). Returns the count."""
        p = self._p()
        g = self._group
        bids = [t[5] for t in batch.tuples() if t[2] & _F_BUFFER and t[6] == g]
        if not bids:
            return 0
        n = len(bids)
        if n <= 64:
            arr = self._bids
            arr[0:n] = bids
        else:
            arr = ffi.new("uint16_t[]", bids)
        return _check(lib.urk_bufring_recycle(p, arr, n))

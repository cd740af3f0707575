"""Shared plumbing for the wrappers (ring now; engine and load generator next):
native handle lifetime tracking, options structs from keyword arguments, and
result records generated from the struct definitions in the header."""
import collections
import warnings
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from ._ffi import ffi
from .errors import _check

_live: "weakref.WeakSet[Handle]" = weakref.WeakSet()
_finalized_open = [0]   # handles closed by the garbage collector, not close()


class Handle:
    """Base of every object owning a native handle.

    Subclasses implement _destroy() (the urk_*_destroy call) and set
    self._ptr. close() is idempotent; a handle that is garbage-collected while
    open is closed with a ResourceWarning, like an unclosed file.
    """

    __slots__ = ("_ptr", "__weakref__")
    _kind = "handle"

    def _register(self, ptr: Any) -> None:
        self._ptr = ptr
        _live.add(self)

    def _destroy(self, ptr: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the native object. Safe to call more than once."""
        ptr = getattr(self, "_ptr", None)
        if ptr is None:
            return
        self._ptr = None
        _live.discard(self)
        self._destroy(ptr)

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return getattr(self, "_ptr", None) is None

    def _closed_error(self) -> ValueError:
        return ValueError("I/O operation on closed %s" % self._kind)

    def __enter__(self) -> Any:
        if self.closed:
            raise self._closed_error()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_ptr", None) is not None:
            _finalized_open[0] += 1
            try:
                warnings.warn("unclosed %s %r" % (self._kind, self), ResourceWarning,
                              source=self)
                self.close()
            except Exception:  # interpreter shutdown: modules may be gone
                pass


def live_handles() -> List["Handle"]:
    """Native handles (Ring, BufRing, ...) created and not yet closed."""
    return list(_live)


def finalized_open_count() -> int:
    """How many handles were closed by the garbage collector instead of close()."""
    return _finalized_open[0]


def struct_fields(ctype: str) -> List[str]:
    """Field names of a struct typedef, in declaration order."""
    return [name for name, _ in ffi.typeof(ctype).fields]


def new_opts(ctype: str, init: Callable[[Any], int], kwargs: Dict[str, Any],
             skip: Sequence[str] = ()) -> Tuple[Any, List[Any]]:
    """Allocate `ctype *`, fill defaults with init() (an urk_*_opts_init), then
    set each keyword argument on the field of the same name.

    Returns (opts, keepalive): keepalive holds memory that pointer fields point
    into (see _pointer_value) and must outlive every call using opts. None
    keeps the library default. Unknown names, struct_size and reserved fields
    raise TypeError.
    """
    opts = ffi.new(ctype + " *")
    _check(init(opts))
    fields = dict(ffi.typeof(ctype).fields)
    keep: List[Any] = []
    for name, value in kwargs.items():
        field = fields.get(name)
        if field is None or name == "struct_size" or name.startswith("reserved") \
                or name in skip:
            raise TypeError("%s has no option %r" % (ctype, name))
        if value is None:
            continue   # keep the library default
        if field.type.kind == "pointer":
            value = _pointer_value(field.type, value, keep)
        setattr(opts, name, value)
    return opts, keep


def _pointer_value(ptype: Any, value: Any, keep: List[Any]) -> Any:
    """cdata for a pointer field: str/bytes for char * (copied, NUL-added),
    a bytes-like object for void * (copied), a list/tuple for T * (an array
    of T), or a cdata / None as is."""
    item = ptype.item.cname
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        buf = ffi.new("char[]", raw) if item == "char" else ffi.from_buffer(raw)
        keep += [raw, buf]
        return buf
    if isinstance(value, (list, tuple)):
        buf = ffi.new(item + "[]", list(value))
        keep.append(buf)
        return buf
    return value


def record_type(ctype: str, name: str, doc: Optional[str] = None,
                skip: Sequence[str] = ("struct_size",)) -> Type[Any]:
    """A namedtuple class with one field per struct field (struct_size and
    reserved* left out), and a from_cdata(cdata) constructor."""
    names = [f for f in struct_fields(ctype) if f not in skip and not f.startswith("reserved")]
    base = collections.namedtuple(name, names)  # type: ignore[misc]

    def from_cdata(cls: Any, c: Any, _names: Tuple[str, ...] = tuple(names)) -> Any:
        return cls._make([getattr(c, n) for n in _names])

    cls = type(name, (base,), {"__slots__": (), "from_cdata": classmethod(from_cdata),
                               "__doc__": doc or "Values of %s." % ctype})
    return cls


def fd_of(obj: Any) -> int:
    """An int file descriptor from an int or an object with fileno()."""
    if type(obj) is int:
        return obj
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        raise TypeError("expected a file descriptor or an object with fileno(), got %r"
                        % type(obj).__name__)
    return int(fileno())


class CdataBatch:
    """Storage shared by the batch views (CompletionBatch, EventBatch): one
    cffi array of CTYPE, reused by every call that fills it, with a
    memoryview over its bytes for struct-based decoding. Subclasses set
    CTYPE and decode entries; only the first len(self) entries are valid."""

    __slots__ = ("_arr", "_mv", "_n", "_cap")
    CTYPE: str = ""
    _arr: Any
    _mv: memoryview
    _n: int
    _cap: int

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._arr = ffi.new(self.CTYPE + "[]", capacity)
        self._mv = memoryview(ffi.buffer(self._arr))
        self._cap = capacity
        self._n = 0

    @property
    def capacity(self) -> int:
        """How many entries fit."""
        return self._cap

    @property
    def raw(self) -> Any:
        """The underlying cdata array (first len(self) entries valid)."""
        return self._arr

    def _ensure(self, capacity: int) -> None:
        if capacity > self._cap:
            CdataBatch.__init__(self, capacity)

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

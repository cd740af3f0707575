"""uRocket: io_uring networking behind a stable C ABI, from Python.

A thin layer over liburocket loaded with cffi in ABI mode. The declarations
come from the public header (python/urocket/_cdef.py is generated from
shim/include/urocket.h by python/tools/gen_cdef.py), and the library's ABI
version is checked at import.

    import urocket
    print(urocket.version(), sorted(urocket.capabilities()))
    with urocket.Ring() as ring:
        ring.prep_nop(user_data=1)
        batch = ring.complete(min_complete=1, timeout=1.0)
        assert batch.user_data(0) == 1

Every URK_* integer constant of the header is available without its prefix
(urocket.CQE_F_MORE, urocket.OP_LINK, urocket.ESTALE_ID, ...).
"""
from typing import Any, FrozenSet, Iterator, Tuple

from ._cdef import CONSTANTS as _CONSTANTS
from ._ffi import ffi, lib, library_path
from .addr import Address, format_address, parse_address
from .errors import (ClosingError, FramingError, NotSupportedError, StaleIdError,
                     StateError, UrkError, WrongThreadError, err_name,
                     error_from_code, strerror)
from .ring import BufRing, Completion, CompletionBatch, Ring, RingInfo, RingStats
from .engine import Engine, EngineStats, Event, EventBatch, Reactor, ReactorStats
from .loadgen import LoadGenerator, LoadResult, Request, loadtest, merge_results

for _name, _value in _CONSTANTS.items():
    globals()[_name[len("URK_"):]] = _value
del _name, _value

__version__: str = ffi.string(lib.urk_version_string()).decode()

__all__ = [
    "version", "version_string", "abi_version", "capabilities", "capability_names",
    "Ring", "BufRing", "CompletionBatch", "Completion", "RingInfo", "RingStats",
    "Address", "parse_address", "format_address",
    "UrkError", "StaleIdError", "ClosingError", "NotSupportedError", "StateError",
    "WrongThreadError", "FramingError", "error_from_code", "strerror", "err_name",
    "library_path",
    "Engine", "Reactor", "EventBatch", "Event", "EngineStats", "ReactorStats",
    "LoadGenerator", "LoadResult", "Request", "loadtest", "merge_results",
]


def __getattr__(name: str) -> Any:
    # urocket.aio (alias urocket.asyncio) imports the asyncio module: loaded
    # on first use only.
    if name in ("aio", "asyncio"):
        import importlib
        return importlib.import_module("urocket." + name)
    raise AttributeError("module 'urocket' has no attribute %r" % name)


def version() -> Tuple[int, int, int]:
    """Version of the loaded library as a (major, minor, patch) tuple."""
    v = lib.urk_version()
    return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)


def version_string() -> str:
    """Version of the loaded library as "major.minor.patch"."""
    return str(ffi.string(lib.urk_version_string()).decode())


def abi_version() -> int:
    """URK_ABI_VERSION of the loaded library (equal to the header's, checked
    at import)."""
    return int(lib.urk_abi_version())


def _cap_bits() -> Iterator[Tuple[int, str]]:
    for bit in range(64):
        name = lib.urk_cap_name(1 << bit)
        if name != ffi.NULL:
            yield 1 << bit, ffi.string(name).decode()


def capability_names() -> FrozenSet[str]:
    """Every capability name the library knows, probed or not."""
    return frozenset(name for _, name in _cap_bits())


def capabilities() -> FrozenSet[str]:
    """frozenset of capability names the running kernel supports
    ("multishot_accept", "buf_ring", ...), from urk_probe and urk_cap_name.
    Raises UrkError (ENOSYS/EPERM) where io_uring is unavailable."""
    from .errors import _check
    caps = ffi.new("uint64_t *")
    _check(lib.urk_probe(caps))
    mask = caps[0]
    return frozenset(name for bit, name in _cap_bits() if mask & bit)

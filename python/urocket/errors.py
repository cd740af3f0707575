"""Exceptions for negative return codes (-errno or -URK_E*).

Every failing call raises an instance of UrkError (an OSError). Codes with a
builtin OSError subclass also derive from it, so
``except ConnectionRefusedError`` catches -ECONNREFUSED, ``except
BlockingIOError`` catches -EAGAIN, ``except FileExistsError`` catches
-EEXIST, and so on. The shim's own codes get their own classes.
"""
from typing import Any, Dict, Optional, Tuple, Type

from ._cdef import CONSTANTS
from ._ffi import ffi, lib

__all__ = [
    "UrkError", "StaleIdError", "ClosingError", "NotSupportedError",
    "StateError", "WrongThreadError", "FramingError",
    "error_from_code", "strerror", "err_name",
]


_INT_MAX = 2**31 - 1


def strerror(code: int) -> str:
    """Message for -errno / -URK_E* (sign ignored), from urk_strerror."""
    if not -_INT_MAX <= code <= _INT_MAX:
        return "unknown error"
    return str(ffi.string(lib.urk_strerror(code)).decode())


def err_name(code: int) -> str:
    """Symbolic name ("EINVAL", "URK_ESTALE_ID", "UNKNOWN"), from urk_err_name."""
    if not -_INT_MAX <= code <= _INT_MAX:
        return "UNKNOWN"
    return str(ffi.string(lib.urk_err_name(code)).decode())


class UrkError(OSError):
    """A uRocket call failed.

    .errno is the positive code (an errno value or URK_E*), .code the negative
    value the C call returned, .name its symbol (urk_err_name), .strerror its
    message (urk_strerror).
    """

    @property
    def name(self) -> str:
        return err_name(self.errno) if self.errno is not None else "UNKNOWN"

    @property
    def code(self) -> Optional[int]:
        return -self.errno if self.errno is not None else None

    def __str__(self) -> str:
        return "[%s] %s" % (self.name, self.strerror)

    def __reduce__(self) -> Tuple[Any, Tuple[int]]:
        return (error_from_code, (-self.errno,))


class StaleIdError(UrkError):
    """URK_ESTALE_ID: the id names a connection that is gone."""


class ClosingError(UrkError):
    """URK_ECLOSING: the connection is closing."""


class NotSupportedError(UrkError):
    """URK_ENOTSUP: the running kernel lacks a required feature."""


class StateError(UrkError):
    """URK_ESTATE: the call is not valid in the object's current state."""


class WrongThreadError(UrkError):
    """URK_ETHREAD: called from a thread that does not own the object."""


class FramingError(UrkError):
    """URK_EFRAMING: a response did not match the expected framing."""


_BY_CODE: Dict[int, Type[UrkError]] = {
    CONSTANTS["URK_ESTALE_ID"]: StaleIdError,
    CONSTANTS["URK_ECLOSING"]: ClosingError,
    CONSTANTS["URK_ENOTSUP"]: NotSupportedError,
    CONSTANTS["URK_ESTATE"]: StateError,
    CONSTANTS["URK_ETHREAD"]: WrongThreadError,
    CONSTANTS["URK_EFRAMING"]: FramingError,
}


def _errno_classes() -> Dict[Type[OSError], Type[UrkError]]:
    """One UrkError subclass per builtin OSError subclass (PEP 3151), and the
    errno -> class map Python itself uses (OSError(e, ...) picks the class)."""
    made: Dict[Type[OSError], Type[UrkError]] = {}
    for base in (BlockingIOError, ChildProcessError, BrokenPipeError,
                 ConnectionAbortedError, ConnectionRefusedError,
                 ConnectionResetError, FileExistsError, FileNotFoundError,
                 InterruptedError, IsADirectoryError, NotADirectoryError,
                 PermissionError, ProcessLookupError, TimeoutError):
        name = "Urk" + base.__name__
        made[base] = type(name, (UrkError, base), {
            "__module__": __name__,
            "__doc__": "UrkError that is also a builtin %s." % base.__name__,
        })
    for e in range(1, 4096):
        base = type(OSError(e, ""))
        if base in made:
            _BY_CODE[e] = made[base]
    return made


_ERRNO_CLASSES = _errno_classes()
for _cls in _ERRNO_CLASSES.values():
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _cls


# ENOSYS comes from io_uring_setup(2) alone (the library returns it for
# nothing else): the kernel has no io_uring. Said in one sentence, because
# it is the first thing a user on such a kernel sees.
_ENOSYS = 38
NO_IO_URING = ("io_uring is not available: this kernel has no io_uring system calls "
               "(io_uring_setup failed with ENOSYS), and uRocket needs a Linux kernel "
               "with io_uring enabled")


def error_from_code(code: int) -> UrkError:
    """Exception instance for a negative (or positive) error code."""
    e = -code if code < 0 else code
    if e == _ENOSYS:
        return NotSupportedError(e, NO_IO_URING)
    cls = _BY_CODE.get(e, UrkError)
    return cls(e, strerror(e))


def _check(rc: int) -> int:
    """Return rc if >= 0, else raise the matching UrkError subclass."""
    if rc < 0:
        raise error_from_code(rc)
    return rc


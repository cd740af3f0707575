"""Loads liburocket through cffi in ABI mode (ffi.dlopen, calls go through
libffi) and checks that its ABI matches the header this package was
generated from.

Where the library is looked for, in order (the first that exists is loaded;
the import fails naming every place it looked when none does):
  1. $URK_LIBRARY: a path; when set, nothing else is tried.
  2. The packaged copy: liburocket.so.0 inside this package's folder, put
     there by `make wheel` (a wheel carries its library).
  3. The build folder of a source checkout: <checkout>/build/liburocket.so.0
     when the package is python/urocket of that checkout (PYTHONPATH=python
     or `pip install -e python`; `make lib` builds it).
  4. The system: ctypes.util.find_library("urocket"), then
     dlopen("liburocket.so.0") through the dynamic linker's search path
     (LD_LIBRARY_PATH, ld.so.cache: `make install`).

A library that is found but has another ABI version, or is not a uRocket
library, is an error: no other copy is tried silently.

Importing touches no io_uring: on a kernel without it (or with
URK_FORCE_NO_URING=1, which simulates one by making every call that sets up
a ring fail with -ENOSYS as io_uring_setup(2) does there), the import works
and the first ring, engine, load generator or probe raises
urocket.NotSupportedError with one sentence saying so.

cffi releases the GIL around every call into a dlopen'ed library (cdata_call
wraps ffi_call in Py_BEGIN/END_ALLOW_THREADS), so a thread blocked in
urk_ring_complete does not stop other Python threads; tests/python/test_ring.py
proves it.
"""
import errno
import os
from typing import Any, Iterator, List, Tuple

import cffi

from . import _cdef

ffi: Any = cffi.FFI()   # Any: cdata types are checked by cffi at run time
ffi.cdef(_cdef.CDEF)

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_SONAMES = ("liburocket.so.0", "liburocket.so")
# The calls that create an io_uring instance (directly or inside the object).
_URING_SETUP_CALLS = frozenset(("urk_ring_create", "urk_engine_create",
                                "urk_loadgen_create", "urk_probe"))


def _candidates() -> Iterator[Tuple[str, str]]:
    """Yield (path or bare name, which place it is) in search order."""
    for name in _SONAMES:
        yield os.path.join(_PKG_DIR, name), "packaged copy"
    build = os.path.normpath(os.path.join(_PKG_DIR, "..", "..", "build"))
    for name in _SONAMES:
        yield os.path.join(build, name), "source checkout's build folder"
    import ctypes.util  # only when the local searches failed: it may fork
    found = ctypes.util.find_library("urocket")
    if found:
        yield found, "system (ctypes.util.find_library)"
    yield _SONAMES[0], "system (dynamic linker search path)"


def load_library(path: str, expected_abi: int = _cdef.ABI_VERSION) -> Any:
    """dlopen `path` and check its ABI version; ImportError on any failure."""
    try:
        library = ffi.dlopen(path)
    except OSError as exc:
        raise ImportError("urocket: cannot load %s: %s" % (path, exc)) from exc
    try:
        got = library.urk_abi_version()
    except AttributeError as exc:
        raise ImportError("urocket: %s does not export urk_abi_version: not a "
                          "uRocket library" % path) from exc
    if got != expected_abi:
        raise ImportError(
            "urocket: ABI mismatch: the library loaded from %s has ABI version %d, "
            "but this package was generated from a urocket.h with URK_ABI_VERSION %d; "
            "rebuild the library or regenerate python/urocket/_cdef.py"
            % (path, got, expected_abi))
    return library


def _load() -> Tuple[Any, str]:
    env = os.environ.get("URK_LIBRARY")
    if env:
        if os.sep in env and not os.path.exists(env):
            raise ImportError("urocket: URK_LIBRARY=%s does not exist (unset it to use "
                              "the packaged or built library)" % env)
        return load_library(env), env
    tried: List[str] = ["$URK_LIBRARY (not set)"]
    for cand, place in _candidates():
        if os.sep in cand and not os.path.exists(cand):
            tried.append("%s (%s: missing)" % (cand, place))
            continue
        try:
            return load_library(cand), cand
        except ImportError as exc:
            # A library that loads but has the wrong ABI is an error, not a
            # reason to pick another copy silently.
            if "ABI mismatch" in str(exc) or "not a uRocket" in str(exc):
                raise
            tried.append("%s (%s: %s)" % (cand, place, exc.__cause__ or exc))
    raise ImportError("urocket: liburocket not found. Looked at: " + "; ".join(tried)
                      + ". Install the wheel (make wheel; pip install build/wheel/*.whl), "
                      "run `make lib` in the source checkout, or set URK_LIBRARY to the "
                      "library's path.")


class _NoUring:
    """The library as a kernel without io_uring shows it (URK_FORCE_NO_URING=1):
    every call that sets up a ring returns -ENOSYS, as io_uring_setup(2)
    does there; everything else is the real library."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name in _URING_SETUP_CALLS:
            return lambda *args: -errno.ENOSYS
        return attr


lib: Any
library_path: str
lib, library_path = _load()
if os.environ.get("URK_FORCE_NO_URING", "") not in ("", "0"):
    lib = _NoUring(lib)

"""Loads liburocket through cffi in ABI mode (ffi.dlopen, calls go through
libffi) and checks that its ABI matches the header this package was
generated from.

Search order for the library:
  1. $URK_LIBRARY (a path; when set, nothing else is tried)
  2. this package's folder (liburocket.so.0, liburocket.so)
  3. the repository's build/ folder, relative to this package
  4. the system: ctypes.util.find_library("urocket"), then "liburocket.so.0"

cffi releases the GIL around every call into a dlopen'ed library (cdata_call
wraps ffi_call in Py_BEGIN/END_ALLOW_THREADS), so a thread blocked in
urk_ring_complete does not stop other Python threads; tests/python/test_ring.py
proves it.
"""
import os

import cffi

from . import _cdef

ffi = cffi.FFI()
ffi.cdef(_cdef.CDEF)

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_SONAMES = ("liburocket.so.0", "liburocket.so")


def _candidates():
    """Yield (path_or_name, explicit) in search order."""
    env = os.environ.get("URK_LIBRARY")
    if env:
        yield env, True
        return
    for name in _SONAMES:
        yield os.path.join(_PKG_DIR, name), False
    build = os.path.normpath(os.path.join(_PKG_DIR, "..", "..", "build"))
    for name in _SONAMES:
        yield os.path.join(build, name), False
    import ctypes.util  # only when the local searches failed: it may fork
    found = ctypes.util.find_library("urocket")
    if found:
        yield found, False
    yield _SONAMES[0], False


def load_library(path, expected_abi=_cdef.ABI_VERSION):
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


def _load():
    tried = []
    for cand, explicit in _candidates():
        is_path = os.sep in cand
        if is_path and not os.path.exists(cand):
            if explicit:
                raise ImportError("urocket: URK_LIBRARY=%s does not exist" % cand)
            tried.append("%s (missing)" % cand)
            continue
        try:
            return load_library(cand), cand
        except ImportError as exc:
            # A library that loads but has the wrong ABI is an error, not a
            # reason to pick another copy silently.
            if explicit or "ABI mismatch" in str(exc) or "not a uRocket" in str(exc):
                raise
            tried.append("%s (%s)" % (cand, exc.__cause__ or exc))
    raise ImportError("urocket: liburocket not found; set URK_LIBRARY or run "
                      "`make lib`. Tried: " + "; ".join(tried))


lib, library_path = _load()

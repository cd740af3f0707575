"""Error codes to exceptions: shim codes, errno codes, names and messages."""
import errno
import pickle

import pytest

import urocket
from urocket import _cdef, ffi, lib
from urocket.errors import _check

SHIM = {
    "URK_ESTALE_ID": urocket.StaleIdError,
    "URK_ECLOSING": urocket.ClosingError,
    "URK_ENOTSUP": urocket.NotSupportedError,
    "URK_ESTATE": urocket.StateError,
    "URK_ETHREAD": urocket.WrongThreadError,
    "URK_EFRAMING": urocket.FramingError,
}


def test_every_shim_code_in_the_header_has_a_class():
    k = _cdef.CONSTANTS
    codes = range(k["URK_EBASE"] + 1, k["URK_ELAST"] + 1)
    names = {n for n, v in k.items() if n.startswith("URK_E") and v in codes
             and n != "URK_ELAST"}
    assert names == set(SHIM)


@pytest.mark.parametrize("name", sorted(SHIM))
def test_shim_codes(name):
    code = _cdef.CONSTANTS[name]
    e = urocket.error_from_code(-code)
    assert type(e) is SHIM[name]
    assert isinstance(e, urocket.UrkError) and isinstance(e, OSError)
    assert e.errno == code and e.code == -code and e.name == name
    assert e.strerror == ffi.string(lib.urk_strerror(-code)).decode()
    assert str(e) == "[%s] %s" % (name, e.strerror)
    with pytest.raises(SHIM[name]):
        _check(-code)


@pytest.mark.parametrize("code, builtin", [
    (errno.ECONNREFUSED, ConnectionRefusedError),
    (errno.EAGAIN, BlockingIOError),
    (errno.EALREADY, BlockingIOError),
    (errno.EEXIST, FileExistsError),
    (errno.ENOENT, FileNotFoundError),
    (errno.EPIPE, BrokenPipeError),
    (errno.ECONNRESET, ConnectionResetError),
    (errno.ETIMEDOUT, TimeoutError),
    (errno.EPERM, PermissionError),
    (errno.EINTR, InterruptedError),
])
def test_errno_codes_are_also_builtin_oserror_subclasses(code, builtin):
    e = urocket.error_from_code(-code)
    assert isinstance(e, builtin) and isinstance(e, urocket.UrkError)
    assert e.errno == code and e.name == errno.errorcode[code]
    with pytest.raises(builtin):
        _check(-code)
    with pytest.raises(urocket.UrkError):
        _check(-code)


@pytest.mark.parametrize("code", [errno.EINVAL, errno.EBUSY, errno.ETIME, errno.ENOBUFS,
                                  errno.ECANCELED, errno.EBADF])
def test_other_errno_codes_are_plain_urk_errors(code):
    e = urocket.error_from_code(-code)
    assert type(e) is urocket.UrkError
    assert e.name == errno.errorcode[code]
    assert e.strerror == ffi.string(lib.urk_strerror(code)).decode()


def test_sign_is_ignored_and_check_passes_values_through():
    assert type(urocket.error_from_code(111)) is type(urocket.error_from_code(-111))
    assert _check(0) == 0 and _check(42) == 42


def test_names_and_messages():
    assert urocket.err_name(0) == "OK" and urocket.strerror(0) == "success"
    assert urocket.err_name(-errno.EINVAL) == "EINVAL"
    assert urocket.err_name(errno.EINVAL) == "EINVAL"
    assert urocket.err_name(-urocket.ESTALE_ID) == "URK_ESTALE_ID"


@pytest.mark.parametrize("code", [9999, 10007, 2**31 - 1, -(2**31 - 1), 2**31, -(2**31),
                                  2**63])
def test_unknown_codes_never_crash(code):
    e = urocket.error_from_code(code)
    assert type(e) is urocket.UrkError
    assert e.name == "UNKNOWN" and e.strerror == "unknown error"


def test_errors_pickle():
    for code in (-errno.ECONNREFUSED, -urocket.ESTALE_ID, -errno.EINVAL):
        e = urocket.error_from_code(code)
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and back.errno == e.errno and str(back) == str(e)


def test_real_failure_raises_the_mapped_class():
    with urocket.Ring() as r:
        with r.buffer_ring(2, 64, 1):
            try:
                r.buffer_ring(2, 64, 1)
            except FileExistsError as e:
                assert isinstance(e, urocket.UrkError) and e.name == "EEXIST"
            else:
                pytest.fail("duplicate buffer group accepted")

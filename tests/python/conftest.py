"""Fixtures shared by the Python tests: every test must leave no file
descriptor and no native handle (Ring, BufRing, ...) open behind it."""
import gc
import os
import warnings

import pytest

import urocket
from urocket import _util


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allow_unclosed: the test deliberately lets the garbage "
        "collector close a handle")


def _open_fds():
    """fd -> what it points to, without the directory listing's own fd."""
    result = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + name)
        except OSError:
            continue  # the listing's own fd, closed by now
        result[int(name)] = target
    return result


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fails a test that leaves an fd open or a handle unclosed."""
    gc.collect()
    fds_before = _open_fds()
    live_before = {id(h) for h in _util.live_handles()}
    finalized_before = _util.finalized_open_count()
    yield
    leaked = [h for h in _util.live_handles() if id(h) not in live_before]
    leaked_desc = [repr(h) for h in leaked]
    for h in leaked:
        h.close()  # so one leak does not cascade into the next tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    finalized = _util.finalized_open_count() - finalized_before
    new_fds = {fd: t for fd, t in _open_fds().items()
               if fd not in fds_before or fds_before[fd] != t}
    problems = []
    if leaked:
        problems.append("handles not closed: %s" % ", ".join(leaked_desc))
    if finalized and not request.node.get_closest_marker("allow_unclosed"):
        problems.append("%d handle(s) closed by the garbage collector, not close()"
                        % finalized)
    if new_fds:
        problems.append("fds leaked: %r" % new_fds)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def caps():
    return urocket.capabilities()


@pytest.fixture
def ring():
    with urocket.Ring() as r:
        yield r

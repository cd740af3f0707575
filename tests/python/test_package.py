"""The installable package: `make wheel` builds a wheel carrying
liburocket.so, a fresh venv installs it, and from outside the source tree
`import urocket`, the `urocket` command (--help, serve, load) and a
`mypy --strict` check of a user script work with no PYTHONPATH or
URK_LIBRARY; `pip install -e python` works for development; the library
lookup and a kernel without io_uring fail with clear messages."""
import json
import os
import re
import shutil
import glob
import signal
import subprocess
import sys

import pytest

import urocket
from urk_net import LIVENESS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYDIR = os.path.join(ROOT, "python")
EXAMPLE = os.path.join(ROOT, "examples", "typed_example.py")
MYPY = shutil.which("mypy")
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
# The sanitizer runs (make test-asan) preload a runtime into every child:
# packaging is checked by the plain `make test`.
pytestmark = pytest.mark.skipif(bool(os.environ.get("URK_SANITIZER")),
                                reason="packaging is not tested under sanitizers")


def clean_env(**extra):
    """The environment of a user who has only installed the wheel."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "URK_LIBRARY", "MYPYPATH", "PYTHONHOME",
                      "URK_FORCE_NO_URING", "VIRTUAL_ENV")}
    e.update(extra)
    return e


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", 300)
    return subprocess.run([str(a) for a in argv], **kw)


def check_mypy_result(r, what):
    """mypy --strict must pass, with no error allowed."""
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode == 0:
        return
    raise AssertionError("mypy --strict failed on %s:\n%s" % (what, out))


@pytest.fixture(scope="module")
def wheel():
    r = run(["make", "-C", ROOT, "--no-print-directory", "wheel", "PYTHON=" + SYSTEM_PYTHON])
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    found = glob.glob(os.path.join(ROOT, "build", "wheel", "urocket-*.whl"))
    assert len(found) == 1, found
    name = os.path.basename(found[0])
    assert re.match(r"urocket-%s-py3-none-linux_\w+\.whl$" % re.escape(urocket.__version__),
                    name), name
    return found[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh venv (system site-packages for cffi) with the wheel installed;
    returns (its bin folder, a working folder outside the source tree)."""
    base = tmp_path_factory.mktemp("pkg")
    r = run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", base / "venv"],
            env=clean_env())
    assert r.returncode == 0, r.stderr.decode()
    bindir = base / "venv" / "bin"
    r = run([bindir / "python", "-m", "pip", "install", "-q", "--no-index", "--no-deps",
             wheel], env=clean_env(), cwd=base)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    work = base / "work"
    work.mkdir()
    return bindir, work


def test_import_uses_the_packaged_library(venv):
    bindir, work = venv
    r = run([bindir / "python", "-c", "import urocket, urocket.aio, json; print(json.dumps("
             "[urocket.__file__, urocket.library_path, urocket.version_string()]))"],
            env=clean_env(), cwd=work)
    assert r.returncode == 0, r.stderr.decode()
    path, lib, version = json.loads(r.stdout)
    site = str(bindir.parent)
    assert path.startswith(site) and lib.startswith(site), (path, lib)
    assert os.path.basename(lib) == "liburocket.so.0"
    assert version == urocket.__version__
    assert os.path.exists(os.path.join(os.path.dirname(path), "py.typed"))
    readelf = shutil.which("readelf")
    if readelf:
        needed = run([readelf, "-d", lib]).stdout.decode()
        assert "NEEDED" in needed and "liburing" not in needed, needed


def test_console_command_help_serve_and_load(venv):
    bindir, work = venv
    urocket_cmd = bindir / "urocket"
    r = run([urocket_cmd, "--help"], env=clean_env(), cwd=work)
    assert r.returncode == 0, r.stderr.decode()
    assert "serve" in r.stdout.decode() and "load" in r.stdout.decode()

    server = subprocess.Popen([str(urocket_cmd), "serve", "--port", "0", "--mode", "asyncio"],
                              env=clean_env(), cwd=work, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        line = server.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) ", line)
        assert m, (line, server.stderr.read1().decode() if server.poll() is not None else "")
        port = m.group(1)
        r = run([urocket_cmd, "load", "--port", port, "--requests", "300", "-c", "4",
                 "--json", "--quiet"], env=clean_env(), cwd=work, timeout=LIVENESS + 30)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
        result = json.loads(r.stdout.decode().strip().splitlines()[-1])
        assert result["responses"] == 300, result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=LIVENESS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
            raise AssertionError("urocket serve ignored SIGTERM")
        server.stdout.close()
        server.stderr.close()
    assert server.returncode == 0


def test_without_io_uring_first_use_fails_with_one_sentence(venv):
    bindir, work = venv
    env = clean_env(URK_FORCE_NO_URING="1")
    r = run([bindir / "python", "-c", "import urocket, urocket.aio; print('imported')"],
            env=env, cwd=work)
    assert r.returncode == 0 and r.stdout.decode().strip() == "imported", r.stderr.decode()

    r = run([bindir / "urocket", "serve", "--port", "0"], env=env, cwd=work, timeout=LIVENESS)
    err = r.stderr.decode()
    assert r.returncode == 1, (r.returncode, err)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert "io_uring is not available" in err, err

    r = run([bindir / "python", "-c", "import urocket\ntry:\n    urocket.Engine()\n"
             "except urocket.NotSupportedError as e:\n    print(e)"], env=env, cwd=work)
    assert r.returncode == 0, r.stderr.decode()
    assert "io_uring is not available" in r.stdout.decode()


@pytest.mark.skipif(MYPY is None, reason="mypy is not installed (Debian: apt-get install mypy)")
def test_mypy_strict_on_a_user_script_against_the_installed_wheel(venv):
    bindir, work = venv
    r = run([MYPY, "--strict", "--no-incremental", "--python-executable", bindir / "python",
             EXAMPLE], env=clean_env(), cwd=work)
    check_mypy_result(r, "examples/typed_example.py (installed wheel)")


@pytest.mark.skipif(MYPY is None, reason="mypy is not installed (Debian: apt-get install mypy)")
def test_mypy_on_the_package_sources():
    r = run([MYPY, "--no-incremental", "--config-file", os.path.join(PYDIR, "pyproject.toml"),
             os.path.join(PYDIR, "urocket")], env=clean_env(), cwd=ROOT)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    r = run([MYPY, "--strict", "--no-incremental", "--follow-imports=silent", EXAMPLE],
            env=clean_env(MYPYPATH=PYDIR), cwd=ROOT)
    check_mypy_result(r, "examples/typed_example.py (source tree)")


def test_typed_example_runs():
    env = clean_env(PYTHONPATH=PYDIR, URK_LIBRARY=os.path.abspath(urocket.library_path))
    r = run([sys.executable, EXAMPLE, "200"], env=env, cwd=ROOT, timeout=LIVENESS + 30)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "HTTP/1.1 200 OK hello from uRocket" in out
    assert re.search(r"^200 responses, [\d,]+/s, errors: 0$", out, re.M), out
    assert "ping through the pull-mode engine" in out


def test_editable_install_uses_the_build_folder(tmp_path):
    r = run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", tmp_path / "venv"],
            env=clean_env())
    assert r.returncode == 0, r.stderr.decode()
    bindir = tmp_path / "venv" / "bin"
    r = run([bindir / "python", "-m", "pip", "install", "-q", "--no-index", "--no-deps",
             "--no-build-isolation", "-e", PYDIR], env=clean_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    r = run([bindir / "python", "-c", "import urocket; print(urocket.__file__); "
             "print(urocket.library_path)"], env=clean_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    path, lib = r.stdout.decode().split()
    assert path == os.path.join(PYDIR, "urocket", "__init__.py")
    assert lib == os.path.join(ROOT, "build", "liburocket.so.0")
    r = run([bindir / "urocket", "--help"], env=clean_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    leftovers = [n for n in os.listdir(PYDIR) if n.endswith((".egg-info", "build"))]
    assert not leftovers, leftovers


def test_library_not_found_names_every_place_looked(tmp_path):
    pkg = tmp_path / "site" / "urocket"
    shutil.copytree(os.path.join(PYDIR, "urocket"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "liburocket.so*"))
    env = clean_env(PYTHONPATH=str(tmp_path / "site"))
    env.pop("LD_LIBRARY_PATH", None)
    r = run([sys.executable, "-c", "import urocket"], env=env, cwd=tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 1
    assert "liburocket not found" in err, err
    for place in ("$URK_LIBRARY (not set)", str(pkg / "liburocket.so.0"),
                  str(tmp_path / "build" / "liburocket.so.0"), "system"):
        assert place in err, (place, err)

    r = run([sys.executable, "-c", "import urocket"],
            env=dict(env, URK_LIBRARY=str(tmp_path / "nope.so")), cwd=tmp_path)
    assert r.returncode == 1
    assert "URK_LIBRARY=%s does not exist" % (tmp_path / "nope.so") in r.stderr.decode()

"""The binding matches the header and the library: versions, generated
declarations, struct layouts, symbol set, and how the library is found."""
import ctypes.util
import os
import shutil
import subprocess
import sys

import pytest

import urocket
from urocket import _cdef, ffi, lib

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
HEADER = os.path.join(REPO, "shim", "include", "urocket.h")
sys.path.insert(0, os.path.join(REPO, "python", "tools"))
import gen_cdef  # noqa: E402

CC = shutil.which("cc") or shutil.which("gcc")


def _run_python(code, env_update, cwd=REPO):
    env = dict(os.environ)
    env.pop("URK_LIBRARY", None)
    env.update(env_update)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- versions

def test_library_abi_equals_header_abi():
    assert urocket.abi_version() == _cdef.ABI_VERSION == urocket.ABI_VERSION
    assert urocket.ABI_VERSION == _cdef.CONSTANTS["URK_ABI_VERSION"]


def test_version_matches_header():
    k = _cdef.CONSTANTS
    want = (k["URK_VERSION_MAJOR"], k["URK_VERSION_MINOR"], k["URK_VERSION_PATCH"])
    assert urocket.version() == want
    assert urocket.version_string() == urocket.__version__ == "%d.%d.%d" % want
    assert lib.urk_version() == k["URK_VERSION_NUMBER"]


def test_readme_one_liner():
    r = _run_python("import urocket; print(urocket.version(), sorted(urocket.capabilities()))",
                    {"PYTHONPATH": os.path.join(REPO, "python")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(urocket.version()))
    assert "multishot_accept" in r.stdout


# ---------------------------------------------------------------- generated cdef

def test_committed_cdef_is_not_stale():
    with open(os.path.join(REPO, "python", "urocket", "_cdef.py"), encoding="utf-8") as f:
        committed = f.read()
    assert committed == gen_cdef.render_module(HEADER), \
        "python/urocket/_cdef.py is stale: run python/tools/gen_cdef.py"
    assert gen_cdef.main(["--check"]) == 0


def test_generator_evaluates_macros_and_strips_decorations():
    text = """
    /* comment */
    #ifndef GUARD_H
    #define GUARD_H
    #include <stdint.h>
    #ifdef __cplusplus
    extern "C" {
    #endif
    #if defined(BUILDING)
    #define API __attribute__((visibility("default")))
    #else
    #define API
    #endif
    #define BASE 10000
    #define NEXT (BASE + 1)   // trailing comment
    #define BIT3 (1u << 3)
    #define BIG (1ull << 40)
    #define HEX 0x10
    #define LONG_ONE \\
        (BIT3 | HEX)
    #define ALIAS NEXT
    typedef struct thing {
        uint32_t a[BIT3];
    } thing_t; /* size 32 */
    API int f(thing_t *t);
    #ifdef __cplusplus
    }
    #endif
    #endif
    """
    decls, consts, sizes = gen_cdef.parse_header(text)
    assert dict(consts) == {"BASE": 10000, "NEXT": 10001, "BIT3": 8, "BIG": 1 << 40,
                            "HEX": 16, "LONG_ONE": 24, "ALIAS": 10001}
    assert sizes == {"thing_t": 32}
    assert "API" not in decls and "extern" not in decls and "#" not in decls
    assert "/*" not in decls and "//" not in decls
    assert "uint32_t a[8];" in decls and "int f(thing_t *t);" in decls


@pytest.mark.parametrize("bad", [
    "#define X (~0u)\n",             # needs C width rules: refused, not guessed
    "#define F(x) ((x) + 1)\n",      # function-like macro
    "#define X (UNKNOWN + 1)\n",
    "#if SOMETHING > 2\n#endif\n",
    "#pragma once\n",
    "#ifdef A\n",
])
def test_generator_refuses_what_it_does_not_understand(bad):
    with pytest.raises(gen_cdef.HeaderError):
        gen_cdef.parse_header(bad)


# ---------------------------------------------------------------- layout

def _struct_typedefs():
    """Every complete struct typedef cffi knows from the header."""
    names = []
    for name in ffi.list_types()[0]:
        t = ffi.typeof(name)
        if t.kind == "struct" and t.fields is not None:
            names.append(name)
    return sorted(names)


def test_pinned_sizes_match_cffi():
    assert _cdef.STRUCT_SIZES, "no /* size N */ comments found in the header"
    for name, size in _cdef.STRUCT_SIZES.items():
        assert ffi.sizeof(name) == size, name
    # Every struct of the ABI has its size pinned in the header.
    assert set(_struct_typedefs()) == set(_cdef.STRUCT_SIZES)


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_layout_from_cffi_equals_layout_from_c(tmp_path):
    """Sizes, alignments and every field offset as the C compiler sees them
    equal cffi's. The C program is generated from the parsed header, so every
    struct and field is covered without a hand-kept list."""
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <urocket.h>",
             "int main(void) {"]
    expected = []
    for name in _struct_typedefs():
        lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (name, name))
        lines.append('printf("%s align %%zu\\n", _Alignof(%s));' % (name, name))
        expected.append("%s size %d" % (name, ffi.sizeof(name)))
        expected.append("%s align %d" % (name, ffi.alignof(name)))
        for field, _ in ffi.typeof(name).fields:
            lines.append('printf("%s.%s offset %%zu\\n", offsetof(%s, %s));'
                         % (name, field, name, field))
            expected.append("%s.%s offset %d" % (name, field, ffi.offsetof(name, field)))
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([CC, "-std=c11", "-Wall", "-Werror", "-I", os.path.dirname(HEADER),
                    str(src), "-o", str(exe)], check=True, timeout=120)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert out.split("\n")[:-1] == expected
    assert len(expected) > 100  # sanity: the whole ABI was compared


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_shared_abi_layout_program_if_present(tmp_path):
    """tests/abi/abi_layout.c, when another suite provides it, builds against
    the header and runs clean; the cffi comparison above does not need it."""
    src = os.path.join(REPO, "tests", "abi", "abi_layout.c")
    if not os.path.exists(src):
        pytest.skip("tests/abi/abi_layout.c not present")
    exe = tmp_path / "abi_layout"
    subprocess.run([CC, "-std=c11", "-I", os.path.dirname(HEADER), src, "-o", str(exe)],
                   check=True, timeout=120)
    subprocess.run([str(exe)], check=True, capture_output=True, timeout=60)


def test_cqe_struct_format_matches_cffi():
    from urocket.ring import _CQE
    assert _CQE.size == ffi.sizeof("urk_cqe_t")
    c = ffi.new("urk_cqe_t *", {"user_data": 2**64 - 1, "res": -5, "flags": 3,
                                "buf_len": 7, "buf_id": 65535, "buf_group": 9})
    ud, res, flags, _, blen, bid, grp = _CQE.unpack(ffi.buffer(c))
    assert (ud, res, flags, blen, bid, grp) == (2**64 - 1, -5, 3, 7, 65535, 9)


# ---------------------------------------------------------------- symbols

def _exported_symbols():
    out = subprocess.run(["nm", "-D", "--defined-only", urocket.library_path],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines()
            if " T " in line}


@pytest.mark.skipif(shutil.which("nm") is None, reason="no nm")
def test_every_export_is_declared_in_the_header():
    declared = {n for n in dir(lib) if n.startswith("urk_") and callable(getattr(lib, n, None))}
    exported = {s for s in _exported_symbols() if s.startswith("urk_")}
    assert exported <= declared | set(dir(lib)), \
        "exported but not in urocket.h: %s" % sorted(exported - declared)


def test_ring_layer_functions_resolve():
    cdef_funcs = [line.split("(")[0].split()[-1].lstrip("*")
                  for line in _cdef.CDEF.splitlines() if "(" in line and line[0].isalpha()
                  and not line.startswith("typedef")]
    ring_layer = [f for f in cdef_funcs
                  if f.startswith(("urk_ring_", "urk_bufring_", "urk_prep_", "urk_addr_",
                                   "urk_version", "urk_abi_", "urk_probe", "urk_cap_",
                                   "urk_strerror", "urk_err_"))]
    assert len(ring_layer) >= 35
    for f in ring_layer:
        assert callable(getattr(lib, f)), f


# ---------------------------------------------------------------- loading

@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_abi_mismatch_is_refused_at_import(tmp_path):
    fake = tmp_path / "liburocket_fake.so"
    src = tmp_path / "fake.c"
    src.write_text("#include <stdint.h>\n"
                   "uint32_t urk_abi_version(void) { return %d; }\n" % (_cdef.ABI_VERSION + 1))
    subprocess.run([CC, "-shared", "-fPIC", str(src), "-o", str(fake)], check=True, timeout=120)
    r = _run_python("import urocket", {"URK_LIBRARY": str(fake),
                                       "PYTHONPATH": os.path.join(REPO, "python")})
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "ABI mismatch" in r.stderr
    assert str(fake) in r.stderr
    assert "ABI version %d" % (_cdef.ABI_VERSION + 1) in r.stderr
    assert "URK_ABI_VERSION %d" % _cdef.ABI_VERSION in r.stderr


def test_load_library_checks_the_version():
    with pytest.raises(ImportError) as ei:
        urocket._ffi.load_library(urocket.library_path, expected_abi=_cdef.ABI_VERSION + 7)
    msg = str(ei.value)
    assert urocket.library_path in msg and str(_cdef.ABI_VERSION + 7) in msg


def test_urk_library_that_does_not_exist():
    r = _run_python("import urocket", {"URK_LIBRARY": "/nonexistent/liburocket.so.0",
                                       "PYTHONPATH": os.path.join(REPO, "python")})
    assert r.returncode != 0 and "/nonexistent/liburocket.so.0 does not exist" in r.stderr


def test_urk_library_that_is_not_urocket():
    libc = ctypes.util.find_library("c")
    r = _run_python("import urocket", {"URK_LIBRARY": libc,
                                       "PYTHONPATH": os.path.join(REPO, "python")})
    assert r.returncode != 0 and "not a uRocket library" in r.stderr


def test_without_env_the_repo_build_is_found():
    r = _run_python("import urocket; print(urocket.library_path)",
                    {"PYTHONPATH": os.path.join(REPO, "python")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(REPO, "build", "liburocket.so.0")


def test_package_folder_wins_over_build(tmp_path):
    pkg = tmp_path / "urocket"
    shutil.copytree(os.path.join(REPO, "python", "urocket"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
    os.symlink(os.path.realpath(urocket.library_path), pkg / "liburocket.so.0")
    r = _run_python("import urocket; print(urocket.library_path)",
                    {"PYTHONPATH": str(tmp_path)}, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(pkg / "liburocket.so.0")


# ---------------------------------------------------------------- plumbing for engine/loadgen

def _needs(symbol):
    assert hasattr(lib, symbol), "the library does not export %s" % symbol


def test_options_struct_from_keywords():
    from urocket._util import new_opts
    _needs("urk_engine_opts_init")
    opts, keep = new_opts("urk_engine_opts_t", lib.urk_engine_opts_init,
                          {"host": "::1", "port": 8080, "reactors": 2,
                           "reactor_cpus": [0, -1], "buf_size": None})
    assert opts.struct_size == ffi.sizeof("urk_engine_opts_t")
    assert ffi.string(opts.host) == b"::1" and opts.port == 8080
    assert list(opts.reactor_cpus[0:2]) == [0, -1]
    assert opts.buf_size == 4096  # None kept the library default
    assert keep
    for bad in ({"bogus": 1}, {"struct_size": 4}, {"reserved": 0}, {"reserved0": 0}):
        with pytest.raises(TypeError):
            new_opts("urk_engine_opts_t", lib.urk_engine_opts_init, bad)


def test_options_struct_with_byte_buffers():
    from urocket._util import new_opts
    _needs("urk_loadgen_opts_init")
    req = b"GET / HTTP/1.1\r\n\r\n"
    opts, keep = new_opts("urk_loadgen_opts_t", lib.urk_loadgen_opts_init,
                          {"host": b"127.0.0.1", "request": req, "request_len": len(req),
                           "delim": bytearray(b"\n")})
    assert ffi.buffer(opts.request, opts.request_len)[:] == req
    assert ffi.cast("char *", opts.delim)[0] == b"\n"


def test_result_records_follow_the_struct():
    from urocket._util import record_type, struct_fields
    for ctype in ("urk_loadgen_result_t", "urk_reactor_stats_t", "urk_engine_stats_t",
                  "urk_ring_stats_t"):
        rec = record_type(ctype, "R")
        assert list(rec._fields) == [f for f in struct_fields(ctype) if f != "struct_size"]
        c = ffi.new(ctype + " *")
        setattr(c, rec._fields[-1], 42)
        assert rec.from_cdata(c)[-1] == 42

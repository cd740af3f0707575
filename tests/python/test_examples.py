"""examples/loadtest_example.py and examples/demo.py run as a new user would."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

import urocket
from test_cli import Server, env
from urk_net import LIVENESS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def test_loadtest_example_prints_percentiles():
    srv = Server("--mode", "pull")
    try:
        r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "loadtest_example.py"),
                            "127.0.0.1", str(srv.port), "1"], env=env(), capture_output=True,
                           timeout=LIVENESS + 30)
    finally:
        srv.stop()
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert re.search(r"[\d,]+ responses/s over 1\.0 s, errors: \{'connect': 0", out), out
    for name in ("p50", "p90", "p99", "p999", "max"):
        assert re.search(r"^\s*%s\s+\d+\.\d{3} ms$" % name, out, re.M), out


def test_loadtest_example_is_ten_lines_of_code():
    with open(os.path.join(EXAMPLES, "loadtest_example.py")) as f:
        code = [ln for ln in f if ln.strip() and not ln.lstrip().startswith(("#", '"""'))]
    assert len(code) <= 10


def test_demo_runs_and_writes_its_plot(tmp_path):
    from urocket.__main__ import _example_binary
    if _example_binary("http")[0] is None:
        pytest.skip("build/examples/http_server not built")
    plot = tmp_path / "demo.png"
    args = [sys.executable, os.path.join(EXAMPLES, "demo.py"), "--duration", "1",
            "--connections", "8"]
    have_mpl = importlib.util.find_spec("matplotlib") is not None
    r = subprocess.run(args + ["--plot", str(plot)], env=env(), capture_output=True,
                       timeout=LIVENESS + 30)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr)
    assert "listening on 127.0.0.1:" in out
    assert "responses/s" in out and "p99" in out and "errors      none" in out
    assert "server        stopped (exit code 0)" in out
    if have_mpl:
        assert str(plot) in out
        with open(plot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert urocket.version_string() in out

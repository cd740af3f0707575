#!/usr/bin/python3
"""uRocket benchmark harness (issue 6).

Runs every available server in SERVERS against every load tool at each
connection count, rounds interleaved (A B A B ...), server pinned to one CPU
and the load tool to another with taskset. Records requests/s, the server's
CPU seconds (utime+stime of all its threads from /proc/<pid>/stat), requests
per server-CPU-second, latency p50/p99 and errors; reports medians over rounds
and ratios to the epoll baseline measured in the same run. Also measures
server RSS per idle connection and the load tools' requests per
client-CPU-second. Writes results/results.md and results/chart.png.

results.md leads with the headline: the saturating closed-loop client (the
project's load generator, `python3 -m urocket load`) — µs of server CPU per
request and requests per server CPU-second, ratio to epoll, issue 16's
targets — with the `wrk -t1` table beside it (one wrk thread saturates
itself first on a 2-core machine, so its ratios mostly measure wrk). Other
workloads (fixed offered load, pipelined, echo, 10,000 idle connections
with a trickle) are bench/workloads.py's: results/workloads.md.

    /usr/bin/python3 bench/run.py [--build DIR] [--quick] [--servers a,b]
                                  [--conns 16,64] [--rounds N] [--duration S]

Environment: BUILD, BENCH_QUICK=1, BENCH_SERVERS, BENCH_TOOLS, BENCH_CONNS,
BENCH_ROUNDS, BENCH_DURATION, BENCH_IDLE_CONNS, BENCH_BASE_BUILD (an older
build folder: adds its native example as urocket-native-1-base), BENCH_SERVER_CPU (0),
BENCH_CLIENT_CPU (1), BENCH_PORT_BASE (19200), PYTHON (/usr/bin/python3).
Benchmarks only: nothing here asserts on speed.
"""
import argparse
import datetime
import errno
import glob
import json
import os
import platform
import re
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PY = os.environ.get("PYTHON") or "/usr/bin/python3"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
BASELINE = "epoll"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def load_response():
    sys.dont_write_bytecode = True  # keep bench/servers free of __pycache__
    sys.path.insert(0, os.path.join(BENCH, "servers"))
    try:
        from asyncio_server import load_response as parse
    finally:
        sys.path.pop(0)
    return parse(os.path.join(BENCH, "servers", "response.h"))


RESPONSE = load_response()

# --------------------------------------------------------------------------
# Server registry. Each entry: name -> candidate commands, first usable wins.
# "{port}", "{build}", "{bench}", "{py}" are substituted. `needs` is a file
# that must exist, or ("module", subcommand) meaning `python3 -m urocket
# <subcommand> --help` must exit 0. Every server must: bind 127.0.0.1:{port},
# answer each "\r\n\r\n"-terminated request with exactly response.h's bytes,
# and exit on SIGTERM.
# --------------------------------------------------------------------------
SERVERS = [
    ("epoll", [(["{build}/bench/epoll_server", "--port", "{port}", "--threads", "1"],
                "{build}/bench/epoll_server")]),
    ("uring_raw", [(["{build}/bench/uring_raw", "--port", "{port}", "--threads", "1"],
                    "{build}/bench/uring_raw")]),
    ("asyncio-protocol", [(["{py}", "{bench}/servers/asyncio_server.py", "--port", "{port}",
                            "--mode", "protocol", "--loop", "asyncio"], None)]),
    ("asyncio-streams", [(["{py}", "{bench}/servers/asyncio_server.py", "--port", "{port}",
                           "--mode", "streams", "--loop", "asyncio"], None)]),
    ("uvloop-protocol", [(["{py}", "{bench}/servers/asyncio_server.py", "--port", "{port}",
                           "--mode", "protocol", "--loop", "uvloop"], ("import", "uvloop"))]),
    ("uvloop-streams", [(["{py}", "{bench}/servers/asyncio_server.py", "--port", "{port}",
                          "--mode", "streams", "--loop", "uvloop"], ("import", "uvloop"))]),
    ("urocket-native-1", [(["{build}/examples/http_server", "--port", "{port}", "--reactors", "1"],
                           "{build}/examples/http_server")]),
    ("urocket-native-2", [(["{build}/examples/http_server", "--port", "{port}", "--reactors", "2"],
                           "{build}/examples/http_server")]),
    ("urocket-python-pull", [
        (["{py}", "{bench}/servers/urocket_pull.py", "--port", "{port}"],
         "{bench}/servers/urocket_pull.py"),
        (["{py}", "-m", "urocket", "serve", "--mode", "pull", "--port", "{port}"],
         ("module", "serve")),
    ]),
    ("urocket-asyncio", [
        (["{py}", "{bench}/servers/urocket_asyncio.py", "--port", "{port}"],
         "{bench}/servers/urocket_asyncio.py"),
        (["{py}", "-m", "urocket", "serve", "--mode", "asyncio", "--port", "{port}"],
         ("module", "serve")),
    ]),
    # asyncio_server.py's streams handler, unchanged, on urocket.aio.start_server
    # (compare with asyncio-streams / uvloop-streams above).
    ("urocket-streams", [(["{py}", "{bench}/servers/urocket_streams.py", "--port", "{port}",
                           "--loop", "asyncio"], "{bench}/servers/urocket_streams.py")]),
    ("urocket-streams-uvloop", [(["{py}", "{bench}/servers/urocket_streams.py", "--port",
                                  "{port}", "--loop", "uvloop"], ("import", "uvloop"))]),
    # Rust (bindings/rust/bench, `make -C bench rust-servers`): the pull loop,
    # urocket::tokio streams, and tokio's own TcpListener as their baseline.
    ("rust-pull", [(["{build}/bench/rust-target/release/rust_pull", "--port", "{port}"],
                    "{build}/bench/rust-target/release/rust_pull")]),
    ("rust-tokio-urocket", [(["{build}/bench/rust-target/release/rust_tokio", "--port", "{port}"],
                             "{build}/bench/rust-target/release/rust_tokio")]),
    ("rust-tokio-plain", [(["{build}/bench/rust-target/release/rust_tokio_plain", "--port",
                            "{port}"], "{build}/bench/rust-target/release/rust_tokio_plain")]),
]

# A regression check against an older build of the project (another checkout's
# build folder, e.g. the previous release): BENCH_BASE_BUILD=/old/build adds
# its native example as `urocket-native-1-base`, measured beside today's.
if os.environ.get("BENCH_BASE_BUILD"):
    _base = os.path.abspath(os.environ["BENCH_BASE_BUILD"])
    SERVERS.append(("urocket-native-1-base", [(
        [_base + "/examples/http_server", "--port", "{port}", "--reactors", "1"],
        _base + "/examples/http_server")]))

# .NET rows (issues 10 and 11) live in bench/dotnet_servers.py: their specs,
# health checks where Kestrel's Date header rules out the exact-bytes check,
# cold start, allocation per request and the .NET tables.
sys.path.insert(0, BENCH)
import dotnet_servers  # noqa: E402
import headline  # noqa: E402  (results.md's headline section)
sys.path.pop(0)
SERVERS += dotnet_servers.SERVERS

# Expected from `python3 -m urocket load`: these flags, and one JSON object on
# stdout with urk_loadgen_result_t's field names (responses, elapsed_ns,
# lat_p50_ns, lat_p99_ns, err_*, cpu_ns).
LOADGEN_ARGS = ["--host", HOST, "--port", "{port}", "--connections", "{conns}",
                "--threads", "1", "--duration", "{duration}", "--json"]


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- /proc ---
def proc_cpu_seconds(pid):
    """utime+stime of every thread of pid (the thread-group totals)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def listen_backlog(port):
    """Connections waiting in the accept queue(s) of listeners on port, or None."""
    total, found = 0, False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        found = True
                        total += int(parts[4].split(":")[1], 16)
        except OSError:
            pass
    return total if found else None


def settle_cpu(pid, limit=2.0):
    """Server CPU seconds once it stops rising (the tail of closes included)."""
    deadline = time.monotonic() + limit
    last = proc_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = proc_cpu_seconds(pid)
        if now == last:
            return now
        last = now
    return last


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": model}


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for new_hard in (max(hard, want), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_hard, new_hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port(start):
    port = start
    while port < 65000:
        s = socket.socket()
        try:
            s.bind((HOST, port))
            return port
        except OSError:
            port += 1
        finally:
            s.close()
    raise RuntimeError("no free port")


# ------------------------------------------------------------- servers ---
class Server:
    def __init__(self, name, argv, env, cpu, logdir):
        self.name, self.argv, self.env, self.cpu = name, argv, env, cpu
        self.logdir = logdir
        self.proc = None
        self.port = None
        self.log_path = None

    def start(self, port):
        self.port = port
        argv = [a.replace("{port}", str(port)) for a in self.argv]
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu)] + argv  # taskset execs: pid is the server
        self.log_path = os.path.join(self.logdir, "%s-%d.log" % (self.name, port))
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)
        logf.close()
        self.cmdline = " ".join(argv)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=400):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return "exited with status %s: %s" % (self.proc.returncode, self.log_tail())
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                # taskset has exec'd by now; /proc/<pid>/stat is the server's.
                return None
            except OSError:
                time.sleep(0.05)
        return "not accepting on port %d after %.0fs" % (self.port, timeout)

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(3)


def read_for(sock, want, timeout):
    """Bytes received until `want` arrived (then 100 ms more for extras) or timeout."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) >= want:
                sock.settimeout(0.1)
    except socket.timeout:
        pass
    except OSError:
        pass
    return data


def health_check(port):
    """(ok, detail, counting_ok, counting_detail). ok: one raw request gets
    exactly the canned response. counting: a terminator split across writes
    gets one response, two requests in one write get two."""
    try:
        with socket.create_connection((HOST, port), timeout=3) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(REQUEST)
            got = read_for(s, len(RESPONSE), 3.0)
            if got != RESPONSE:
                return False, "expected %r, got %r" % (RESPONSE, got[:120]), False, "-"
            problems = []
            s.sendall(REQUEST[:-3])
            time.sleep(0.03)
            s.sendall(REQUEST[-3:-1])
            time.sleep(0.03)
            s.sendall(REQUEST[-1:])
            got = read_for(s, len(RESPONSE), 2.0)
            if got != RESPONSE:
                problems.append("split terminator: %d bytes back" % len(got))
            s.sendall(REQUEST * 2)
            got = read_for(s, 2 * len(RESPONSE), 2.0)
            if got != RESPONSE * 2:
                problems.append("2 requests in one write: %d bytes back" % len(got))
    except OSError as e:
        return False, "socket error: %s" % e, False, "-"
    if problems:
        return True, "ok", False, "; ".join(problems)
    return True, "ok", True, "ok"


# ---------------------------------------------------------- load tools ---
def _unit_ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(text):
    out = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["elapsed"] = _unit_ms(m.group(2), m.group(3)) / 1e3
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
        if m:
            out[key] = _unit_ms(m.group(1), m.group(2))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    out["errors"] = errors
    return out


def run_client(argv, timeout, env=None):
    """Runs argv, returns (rc, stdout text, client CPU seconds from rusage)."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             env=env)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return p.returncode, text, ru.ru_utime + ru.ru_stime


class Wrk:
    name = "wrk"
    label = "wrk -t1"

    def __init__(self, cpu):
        self.cpu = cpu

    def available(self):
        try:
            subprocess.run(["wrk", "--version"], capture_output=True, timeout=5)
            return None
        except (OSError, subprocess.TimeoutExpired) as e:
            return "wrk not runnable: %s" % e

    def run(self, port, conns, duration):
        argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--latency",
                "--timeout", "5s", "http://%s:%d/" % (HOST, port)]
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu)] + argv
        rc, text, cpu = run_client(argv, duration + 30)
        res = parse_wrk(text)
        if rc != 0 or "requests" not in res:
            return {"failed": "wrk rc %d: %s" % (rc, text.strip()[-200:])}
        res["client_cpu"] = cpu
        res.setdefault("rps", res["requests"] / max(res.get("elapsed", duration), 1e-9))
        return res


class UrkLoad:
    name = "urocket-load"
    label = "python3 -m urocket load"

    def __init__(self, cpu, env):
        self.cpu, self.env = cpu, env

    def available(self):
        return module_command_available("load", self.env)

    def run(self, port, conns, duration, extra=()):
        """One run; `extra` are more `urocket load` flags (--rate, --request,
        --framing fixed --response-len N: bench/workloads.py's workloads)."""
        args = [a.replace("{port}", str(port)).replace("{conns}", str(conns))
                .replace("{duration}", str(duration)) for a in LOADGEN_ARGS]
        argv = [PY, "-m", "urocket", "load"] + args + list(extra)
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu)] + argv
        rc, text, rusage_cpu = run_client(argv, duration + 60, self.env)
        j = None
        for line in reversed(text.strip().splitlines()):
            try:
                j = json.loads(line)
                break
            except ValueError:
                continue
        if j is None:
            try:
                j = json.loads(text)
            except ValueError:
                pass
        if rc != 0 or not isinstance(j, dict):
            return {"failed": "urocket load rc %d: %s" % (rc, text.strip()[-200:])}
        responses = j.get("responses", j.get("requests", 0))
        elapsed = j["elapsed_ns"] / 1e9 if j.get("elapsed_ns") else duration
        res = {"requests": responses, "elapsed": elapsed, "sent": j.get("requests", responses),
               "rps": j.get("rps") or responses / max(elapsed, 1e-9),
               "errors": sum(v for k, v in j.items() if k.startswith("err_") and isinstance(v, int))}
        if j.get("lat_p50_ns") is not None:
            res["p50_ms"] = j["lat_p50_ns"] / 1e6
        if j.get("lat_p99_ns") is not None:
            res["p99_ms"] = j["lat_p99_ns"] / 1e6
        if j.get("lat_p999_ns") is not None:
            res["p999_ms"] = j["lat_p999_ns"] / 1e6
        # The generator's own thread CPU if it reports it; rusage would also
        # count the interpreter's start-up.
        res["client_cpu"] = j["cpu_ns"] / 1e9 if j.get("cpu_ns") else rusage_cpu
        return res


_module_cache = {}


def module_command_available(sub, env):
    if sub not in _module_cache:
        try:
            r = subprocess.run([PY, "-m", "urocket", sub, "--help"], capture_output=True,
                               timeout=20, env=env)
            _module_cache[sub] = None if r.returncode == 0 else (
                "`python3 -m urocket %s` unavailable (rc %d: %s)" % (
                    sub, r.returncode, r.stderr.decode("utf-8", "replace").strip()[-160:]))
        except (OSError, subprocess.TimeoutExpired) as e:
            _module_cache[sub] = "`python3 -m urocket %s` unavailable: %s" % (sub, e)
    return _module_cache[sub]


# ------------------------------------------------------ idle connections ---
def idle_client_main(port, count):
    """Helper process: opens `count` idle connections, prints 'ready N', then
    holds them until stdin closes."""
    socks, ok, pending = [], 0, {}
    poller = select.poll()
    batch = 256
    i = 0
    deadline = time.monotonic() + 120
    while (i < count or pending) and time.monotonic() < deadline:
        while i < count and len(pending) < batch:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, port))
            i += 1
            if rc in (0, errno.EINPROGRESS):
                pending[s.fileno()] = s
                poller.register(s.fileno(), select.POLLOUT)
            else:
                s.close()
        for fd, _ev in poller.poll(1000):
            s = pending.pop(fd)
            poller.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                socks.append(s)
                ok += 1
            else:
                s.close()
    print("ready %d" % ok, flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


def measure_idle(server, count, client_cpu):
    """Server RSS growth per connection for `count` idle connections."""
    pid = server.pid
    time.sleep(0.3)
    settle_cpu(pid)
    rss0 = proc_rss_kib(pid)
    argv = [PY, os.path.abspath(__file__), "--idle-client", str(server.port), str(count)]
    if client_cpu is not None:
        argv = ["taskset", "-c", str(client_cpu)] + argv
    helper = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = helper.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "ready":
            return {"failed": "idle helper failed"}
        opened = int(line[1])
        # Wait until the server has accepted everything and stopped growing.
        deadline = time.monotonic() + 30
        stable, last = 0, None
        while time.monotonic() < deadline and stable < 4:
            time.sleep(0.1)
            if not server.alive():
                return {"failed": "server died: " + server.log_tail()}
            rss = proc_rss_kib(pid)
            backlog = listen_backlog(server.port)
            if rss == last and not backlog:
                stable += 1
            else:
                stable = 0
            last = rss
        rss1 = proc_rss_kib(pid)
        backlog = listen_backlog(server.port)
    finally:
        try:
            helper.stdin.close()
        except OSError:
            pass
        try:
            helper.wait(10)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
    if opened == 0:
        return {"failed": "no connection opened"}
    return {"opened": opened, "rss0_kib": rss0, "rss1_kib": rss1,
            "per_conn": (rss1 - rss0) * 1024.0 / opened,
            "note": "" if not backlog else "%d still in the accept queue" % backlog}


# ---------------------------------------------------------------- main ---
def env_list(name, default, conv=str):
    v = os.environ.get(name)
    if not v:
        return default
    return [conv(x) for x in v.replace(" ", ",").split(",") if x]


def parse_args(argv):
    ap = argparse.ArgumentParser(description="uRocket benchmark harness (issue 6)")
    ap.add_argument("--idle-client", nargs=2, type=int, metavar=("PORT", "N"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--build", default=os.environ.get("BUILD") or os.path.join(ROOT, "build"))
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    ap.add_argument("--servers", default=os.environ.get("BENCH_SERVERS", ""))
    ap.add_argument("--tools", default=os.environ.get("BENCH_TOOLS", "wrk,urocket-load"))
    ap.add_argument("--conns", default=os.environ.get("BENCH_CONNS", ""))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "0")))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", "0")))
    ap.add_argument("--idle-conns", type=int, default=int(os.environ.get("BENCH_IDLE_CONNS", "-1")))
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    return ap.parse_args(argv)


def cpu_arg(name, default):
    v = os.environ.get(name, default)
    return None if v in ("", "none", "-1") else int(v)


def fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.idle_client:
        raise_nofile(args.idle_client[1] + 256)
        idle_client_main(*args.idle_client)
        return 0

    t_start = time.monotonic()
    build = os.path.abspath(args.build)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    logdir = os.path.join(build, "bench", "logs")
    os.makedirs(logdir, exist_ok=True)
    ncpu = os.cpu_count() or 1
    server_cpu = cpu_arg("BENCH_SERVER_CPU", "0") if ncpu > 1 else None
    client_cpu = cpu_arg("BENCH_CLIENT_CPU", "1") if ncpu > 1 else None
    nofile = raise_nofile(65536)

    quick = args.quick
    conns = [int(c) for c in args.conns.replace(" ", ",").split(",") if c] if args.conns else (
        [64, 512] if quick else [16, 64, 512, 2048])
    idle_n = args.idle_conns if args.idle_conns >= 0 else (2000 if quick else 10000)
    notes = []
    too_many = [c for c in conns if c + 64 > nofile]
    if too_many:
        notes.append("connection counts %s skipped: RLIMIT_NOFILE is %d" % (too_many, nofile))
        conns = [c for c in conns if c not in too_many]
    if idle_n + 256 > nofile:
        notes.append("idle connections cut from %d to %d (RLIMIT_NOFILE)" % (idle_n, nofile - 256))
        idle_n = nofile - 256

    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (
        ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    libs = sorted(glob.glob(os.path.join(build, "liburocket.so.*.*.*")))
    if libs:
        env.setdefault("URK_LIBRARY", libs[-1])

    # ---- choose servers ----
    wanted = [s for s in args.servers.split(",") if s] or [n for n, _ in SERVERS]
    unknown = [s for s in wanted if s not in dict(SERVERS)]
    if unknown:
        log("unknown servers %s; known: %s" % (unknown, ", ".join(n for n, _ in SERVERS)))
        return 2
    subst = {"{build}": build, "{bench}": BENCH, "{py}": PY}

    def expand(s):
        for k, v in subst.items():
            s = s.replace(k, v)
        return s

    status = {}  # name -> dict(state, detail, counting, command)
    servers = []
    for name, candidates in SERVERS:
        if name not in wanted:
            continue
        reasons = []
        chosen = None
        for cmd, needs in candidates:
            if isinstance(needs, str):
                path = expand(needs)
                if not os.path.exists(path):
                    reasons.append("%s missing" % os.path.relpath(path, ROOT))
                    continue
            elif callable(needs):  # a check that returns why not, or None
                why = needs(expand)
                if why:
                    reasons.append(why)
                    continue
            elif needs and needs[0] == "module":
                why = module_command_available(needs[1], env)
                if why:
                    reasons.append(why)
                    continue
            elif needs and needs[0] == "import":
                r = subprocess.run([PY, "-c", "import " + needs[1]], capture_output=True)
                if r.returncode != 0:
                    reasons.append("python module %s missing" % needs[1])
                    continue
            chosen = [expand(a) for a in cmd]
            break
        if not chosen:
            status[name] = {"state": "skipped", "detail": "; ".join(reasons), "command": "-"}
            continue
        servers.append(Server(name, chosen, env, server_cpu, logdir))

    tools = []
    for t in [x for x in args.tools.split(",") if x]:
        tool = {"wrk": lambda: Wrk(client_cpu),
                "urocket-load": lambda: UrkLoad(client_cpu, env)}.get(t)
        if not tool:
            log("unknown tool %s (wrk, urocket-load)" % t)
            return 2
        tool = tool()
        why = tool.available()
        if why:
            notes.append("load tool %s skipped: %s" % (tool.label, why))
        else:
            tools.append(tool)

    # ---- time budget: fit rounds/duration/conns into the mode's limit ----
    # Explicit --rounds/--duration/--conns (or BENCH_*) are taken as given.
    budget = 100 if quick else 540
    per_run_overhead = 0.6  # tool start-up, connection setup, CPU settle
    idle_cost = len(servers) * (1.5 + idle_n / 4000.0) if idle_n else 0
    if quick:
        plans = [(2, 1, conns), (2, 1, [c for c in conns if c == 512] or conns[-1:]),
                 (1, 1, [c for c in conns if c == 512] or conns[-1:])]
    else:
        plans = [(3, 2, conns), (2, 2, conns), (2, 1, conns)]
    for rounds, duration, plan_conns in plans:
        rounds, duration = args.rounds or rounds, args.duration or duration
        if args.conns:
            plan_conns = conns
        n_runs = len(servers) * len(plan_conns) * len(tools) * rounds
        est = n_runs * (duration + per_run_overhead) + idle_cost
        if est <= budget:
            break
    if plan_conns != conns:
        notes.append("connections cut to %s to fit the %s-mode time budget" % (
            plan_conns, "quick" if quick else "full"))
        conns = plan_conns
    log("bench: %s mode, %d servers x %d tools x conns %s x %d rounds of %ds; idle %d; "
        "estimated %.0fs" % ("quick" if quick else "full", len(servers), len(tools), conns,
                             rounds, duration, idle_n, est))

    port = int(os.environ.get("BENCH_PORT_BASE", "19200"))
    live = []
    try:
        # ---- start and health-check every server ----
        for srv in servers:
            port = free_port(port)
            srv.start(port)
            port += 1
            why = srv.wait_ready()
            st = {"command": srv.cmdline.replace(ROOT + "/", "")}
            if why:
                st.update(state="failed", detail=why)
                srv.stop()
            else:
                ok, detail, counting_ok, counting = dotnet_servers.HEALTH.get(
                    srv.name, health_check)(srv.port)
                if not ok:
                    st.update(state="failed", detail="health check: " + detail)
                    srv.stop()
                else:
                    st.update(state="measured", detail="ok",
                              counting="ok" if counting_ok else "FAIL: " + counting)
                    live.append(srv)
            status[srv.name] = st
            if st["state"] == "measured":
                dotnet_servers.note_gc(srv, status)
            log("  %-20s %s%s" % (srv.name, st["state"],
                                  "" if st["state"] == "measured" else ": " + st["detail"]))

        # ---- load matrix, rounds interleaved ----
        results = {}  # (tool, conns, server) -> [run dicts]
        for r in range(rounds):
            for c in conns:
                for tool in tools:
                    for srv in live:
                        if not srv.alive():
                            continue
                        cpu0 = proc_cpu_seconds(srv.pid)
                        res = tool.run(srv.port, c, duration)
                        if not srv.alive():
                            status[srv.name].update(state="died", detail=srv.log_tail())
                            log("  %s died" % srv.name)
                            continue
                        res["server_cpu"] = settle_cpu(srv.pid) - cpu0
                        if "failed" not in res and res["server_cpu"] > 0:
                            res["eff"] = res["requests"] / res["server_cpu"]
                        if "failed" not in res and res["requests"]:
                            res["us_per_req"] = res["server_cpu"] * 1e6 / res["requests"]
                        if "failed" not in res and res.get("client_cpu") and res.get("elapsed"):
                            res["client_busy"] = res["client_cpu"] / res["elapsed"]
                        if "failed" not in res and res.get("client_cpu"):
                            res["client_eff"] = res["requests"] / res["client_cpu"]
                        results.setdefault((tool.name, c, srv.name), []).append(res)
                        log("  round %d %-6s c=%-5d %-20s %s" % (
                            r + 1, tool.name[:6], c, srv.name,
                            res["failed"] if "failed" in res else
                            "%9.0f req/s  %8.0f req/cpu-s  p99 %.2fms  err %d" % (
                                res["rps"], res.get("eff") or 0, res.get("p99_ms") or 0,
                                res["errors"])))
        for srv in live:
            srv.stop()

        # ---- idle connections, each server fresh ----
        idle = {}
        if idle_n > 0:
            for srv in live:
                if status[srv.name]["state"] != "measured":
                    continue
                port = free_port(port)
                srv.start(port)
                port += 1
                why = srv.wait_ready()
                if why:
                    idle[srv.name] = {"failed": why}
                else:
                    idle[srv.name] = measure_idle(srv, idle_n, client_cpu)
                srv.stop()
                i = idle[srv.name]
                log("  idle %-20s %s" % (srv.name, i.get("failed") or
                                         "%d conns, %.0f bytes/conn" % (i["opened"], i["per_conn"])))
        dotnet_extra = dotnet_servers.measure(live, status, tools, quick, results, log)
    finally:
        for srv in servers:
            srv.stop()

    elapsed = time.monotonic() - t_start
    info = machine_info()
    command = ("BENCH_QUICK=1 " if quick else "") + " ".join(
        [PY, os.path.relpath(os.path.abspath(__file__), ROOT)] +
        (sys.argv[1:] if argv is None else argv))
    md = report(info, command, quick, conns, rounds, duration, idle_n, server_cpu, client_cpu,
                status, tools, live, results, idle, notes, elapsed)
    md += "\n".join([""] + dotnet_servers.report(results, conns, tools, [s.name for s in live], status,
                                                  dotnet_extra, med, fmt, out_dir)) + "\n"
    md_path = os.path.join(out_dir, "results.md")
    with open(md_path, "w") as f:
        f.write(md)
    chart_path = os.path.join(out_dir, "chart.png")
    chart_note = chart(chart_path, tools, conns, live, results)
    log("")
    log(md)
    log("wrote %s%s" % (os.path.relpath(md_path, os.getcwd()),
                        ", " + os.path.relpath(chart_path, os.getcwd()) if not chart_note
                        else " (no chart: %s)" % chart_note))
    return 0


def report(info, command, quick, conns, rounds, duration, idle_n, server_cpu, client_cpu,
           status, tools, live, results, idle, notes, elapsed):
    L = []
    L.append("# uRocket benchmark results")
    L.append("")
    L.append("- Date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    L.append("- Machine: %s CPUs (nproc), kernel %s, %s" % (info["nproc"], info["kernel"], info["cpu"]))
    L.append("- Command: `%s`%s" % (command, " (run by `make bench`)"
                                    if os.environ.get("MAKELEVEL") else ""))
    L.append("- Mode: %s; %d rounds interleaved (A B A B ...), %d s per run; connections %s; "
             "%d idle connections; total %.0f s" % ("quick" if quick else "full", rounds, duration,
                                                      ", ".join(map(str, conns)), idle_n, elapsed))
    L.append("- Pinning: server on CPU %s, load tool on CPU %s (taskset)" % (
        server_cpu if server_cpu is not None else "any", client_cpu if client_cpu is not None else "any"))
    L.append("- Efficiency = requests / server CPU seconds (utime+stime of all server threads from "
             "/proc/<pid>/stat, from just before the load starts until the server's CPU time stops "
             "rising after it ends, so connection setup and teardown are included). Values are "
             "medians over rounds; errors are summed. Ratios are to `%s` in this same run." % BASELINE)
    for n in notes:
        L.append("- Note: %s" % n)
    L.append("")
    names = [s.name for s in live]
    L += headline.headline(tools, conns, names, results, med, fmt, BASELINE)
    L.append("## Servers")
    L.append("")
    L.append("| server | status | request counting | detail / command |")
    L.append("|---|---|---|---|")
    for name, _ in SERVERS:
        if name not in status:
            continue
        st = status[name]
        detail = st["command"] if st["state"] == "measured" else st.get("detail", "")
        L.append("| %s | %s | %s | %s |" % (name, st["state"], st.get("counting", "-"),
                                           detail.replace("|", "\\|").replace("\n", " ")[:300]))
    L.append("")
    # The saturating client's tables first, then wrk's.
    for tool in sorted(tools, key=lambda t: t.name != "urocket-load"):
        for c in conns:
            base = results.get((tool.name, c, BASELINE), [])
            base_ok = [r for r in base if "failed" not in r]
            b_eff, b_rps = med(base_ok, "eff"), med(base_ok, "rps")
            L.append("## %s, %d connections" % (tool.label, c))
            L.append("")
            L.append("| server | req/s | server CPU s | µs server CPU/req | req per server-CPU-s | "
                     "efficiency vs %s | req/s vs %s | p50 ms | p99 ms | errors | runs |" % (
                         BASELINE, BASELINE))
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for name in names:
                rows = results.get((tool.name, c, name), [])
                ok = [r for r in rows if "failed" not in r]
                if not ok:
                    why = rows[0]["failed"] if rows else "not run"
                    L.append("| %s | failed: %s | | | | | | | | | %d |" % (
                        name, why.replace("|", "/")[:120], len(rows)))
                    continue
                eff, rps = med(ok, "eff"), med(ok, "rps")
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |" % (
                    name, fmt(rps), fmt(med(ok, "server_cpu"), "{:.2f}"),
                    fmt(med(ok, "us_per_req"), "{:.2f}"), fmt(eff),
                    fmt(eff / b_eff if eff and b_eff else None, "{:.2f}x"),
                    fmt(rps / b_rps if rps and b_rps else None, "{:.2f}x"),
                    fmt(med(ok, "p50_ms"), "{:.2f}"), fmt(med(ok, "p99_ms"), "{:.2f}"),
                    sum(r["errors"] for r in ok), len(ok)))
            L.append("")

    L.append("## Idle connections: server memory per connection")
    L.append("")
    if not idle:
        L.append("Not measured.")
    else:
        b = idle.get(BASELINE, {}).get("per_conn")
        L.append("| server | connections | RSS before KiB | RSS after KiB | bytes per connection | vs %s | note |"
                 % BASELINE)
        L.append("|---|---:|---:|---:|---:|---:|---|")
        for name in names:
            i = idle.get(name)
            if not i:
                continue
            if "failed" in i:
                L.append("| %s | failed: %s | | | | | |" % (name, i["failed"][:120]))
                continue
            L.append("| %s | %d | %d | %d | %.0f | %s | %s |" % (
                name, i["opened"], i["rss0_kib"], i["rss1_kib"], i["per_conn"],
                fmt(i["per_conn"] / b if b and b > 0 else None, "{:.2f}x"), i["note"]))
        L.append("")
        L.append("RSS is user-space memory only (VmRSS); kernel socket memory is not included.")
    L.append("")

    L.append("## Load tools: requests per client-CPU-second")
    L.append("")
    L.append("Client CPU: wrk from its rusage (utime+stime); the uRocket generator from its "
             "reported cpu_ns (its own threads), else its rusage.")
    L.append("")
    tnames = [t.name for t in tools]
    hdr = "| server | connections | " + " | ".join("%s req/client-CPU-s" % t.label for t in tools)
    if "wrk" in tnames and "urocket-load" in tnames:
        hdr += " | urocket load vs wrk"
    L.append(hdr + " |")
    L.append("|---|---:|" + "---:|" * (len(tools) + ("wrk" in tnames and "urocket-load" in tnames)))
    for name in names:
        for c in conns:
            vals = {}
            for t in tools:
                ok = [r for r in results.get((t.name, c, name), []) if "failed" not in r]
                vals[t.name] = med(ok, "client_eff")
            row = "| %s | %d | " % (name, c) + " | ".join(fmt(vals[t.name]) for t in tools)
            if "wrk" in tnames and "urocket-load" in tnames:
                w, u = vals.get("wrk"), vals.get("urocket-load")
                row += " | " + fmt(u / w if u and w else None, "{:.2f}x")
            L.append(row + " |")
    if "urocket-load" not in tnames:
        L.append("")
        L.append("The uRocket load generator was not available; only wrk's figures are shown.")
    L.append("")

    L.append("## Targets (from this run)")
    L.append("")
    L.append("Efficiency ratios under each load tool at c=512 (or the largest count run); the "
             "saturating client (`urocket-load`) is the one that compares fast servers. "
             "n/a: a row was not part of this run.")
    L.append("")
    L.append("| target | tool | measured | met |")
    L.append("|---|---|---|---|")

    def eff_at(tool, c, name):
        ok = [r for r in results.get((tool, c, name), []) if "failed" not in r]
        return med(ok, "eff")

    def target(desc, num, den, want, cmp=">=", tool="-"):
        if num is None or den is None or den == 0:
            L.append("| %s | %s | n/a | n/a |" % (desc, tool))
            return
        ratio = num / den
        met = ratio >= want if cmp == ">=" else ratio <= want
        L.append("| %s | %s | %.2fx | %s |" % (desc, tool, ratio, "yes" if met else "NO"))

    tc = 512 if 512 in conns else (conns[-1] if conns else None)
    # (row, reference row, wanted ratio, where the target comes from)
    ratio_targets = [
        ("urocket-native-1", BASELINE, 1.3, "issue 6"),
        ("urocket-native-1", "uring_raw", 0.95, "issue 6"),
        ("urocket-native-1", "urocket-native-1-base", 0.97, "issue 13: no regression"),
        ("urocket-python-pull", "uvloop-protocol", 1.2, "issue 6"),
        ("urocket-asyncio", "uvloop-streams", 1.0, "issue 6"),
        ("urocket-streams", "uvloop-streams", 1.2, "issue 14"),
        ("rust-pull", "urocket-native-1", 0.95, "issue 15"),
        ("rust-tokio-urocket", "rust-tokio-plain", 1.2, "issue 15"),
    ]
    if tc:
        for t0 in [t for t in ("urocket-load", "wrk") if t in tnames]:
            for row, ref, want, why in ratio_targets:
                target("%s c=%d efficiency >= %sx %s (%s)" % (row, tc, want, ref, why),
                       eff_at(t0, tc, row), eff_at(t0, tc, ref), want, tool=t0)
    bi = idle.get(BASELINE, {}).get("per_conn")
    for n in ("urocket-native-1", "urocket-native-2"):
        target("%s idle bytes/conn <= 0.25x epoll (issue 6)" % n, idle.get(n, {}).get("per_conn"),
               bi, 0.25, "<=")
    if "wrk" in tnames and "urocket-load" in tnames and tc:
        def ceff(t):
            ok = [r for r in results.get((t, tc, BASELINE), []) if "failed" not in r]
            return med(ok, "client_eff")
        target("urocket load req/client-CPU-s >= 1.3x wrk (epoll, c=%d; issue 12)" % tc,
               ceff("urocket-load"), ceff("wrk"), 1.3)
    else:
        L.append("| urocket load req/client-CPU-s >= 1.3x wrk (issue 12) | - | n/a | n/a |")
    L.append("")
    return "\n".join(L)


def chart(path, tools, conns, live, results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return "matplotlib missing: %s" % e
    if not tools or not live or not conns:
        return "nothing measured"
    names = [s.name for s in live]
    fig, axes = plt.subplots(len(tools), 1, figsize=(max(8, 1.4 * len(conns) * len(names) / 3), 4.8 * len(tools)),
                             squeeze=False)
    width = 0.8 / len(names)
    for ax, tool in zip(axes[:, 0], tools):
        for i, name in enumerate(names):
            ys = []
            for c in conns:
                ok = [r for r in results.get((tool.name, c, name), []) if "failed" not in r]
                v = med(ok, "eff")
                ys.append(v / 1000 if v else 0)
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(conns))]
            ax.bar(xs, ys, width, label=name)
        ax.set_xticks(range(len(conns)))
        ax.set_xticklabels(["c=%d" % c for c in conns])
        ax.set_ylabel("k requests per server-CPU-second")
        ax.set_title("Server efficiency, load: %s (higher is better)" % tool.label)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=min(5, len(names)), loc="upper center",
                  bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


if __name__ == "__main__":
    sys.exit(main())

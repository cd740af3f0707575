#!/usr/bin/python3
"""uRocket workload benchmarks beyond the canned-response matrix (issue 16).

For the tuned epoll server (bench/servers/epoll_server.c), the raw liburing
server (bench/servers/uring_raw.c) and the native engine (1 reactor:
build/examples/http_server, and build/examples/echo_server for echo), with
the server pinned to BENCH_SERVER_CPU and the project's load generator
(`python3 -m urocket load`, one thread) to BENCH_CLIENT_CPU:

  fixed     open loop at 20k, 60k, 120k requests/s (--rates), c=512: server
            CPU µs per request, the rate achieved (marked when the server
            could not keep up) and p99 latency (counted from each request's
            due time, so queueing shows);
  pipelined 16 GET requests in one write, responses framed as 16 x the
            canned response (closed loop, c=512): CPU per HTTP request;
  echo16k / echo64k
            16 KiB and 64 KiB messages echoed byte for byte (closed loop,
            c=64): CPU per message and per MiB, throughput;
  trickle   10,000 idle connections held open (--idle-conns) while 64 more
            carry an open-loop trickle of 2,000 requests/s: CPU per request,
            p99 and the server's RSS with all of them open.

The canned response at c=64/512/2048 under a saturating client is run.py's
matrix (results.md's headline table); it is not repeated here. Rounds are
interleaved (every workload on every server, then the next round, the server
order rotating), values are medians over rounds and ratios are to epoll in
this same run. Every server's answers are checked byte for byte before any
load (and a server that fails a check, or dies, is reported, not dropped).
Server CPU is utime+stime of all its threads from /proc, from the settled
value before a run to the settled value after it (connection setup and
teardown included). Writes results/workloads.md (and --json FILE).

    /usr/bin/python3 bench/workloads.py [--quick] [--rounds N] [--duration S]
        [--workloads fixed,pipelined,echo16k,echo64k,trickle]
        [--servers epoll,uring_raw,urocket-native-1] [--rates 20000,60000,120000]
        [--conns 512] [--echo-conns 64] [--idle-conns 10000] [--trickle-rate 2000]
        [--build DIR] [--out DIR] [--json FILE]

Defaults: 3 rounds of 3 s (about 5 minutes); --quick: 1 round of 1 s and
2,000 idle connections (under a minute). Run by `make bench` after run.py
and alone by `make bench-workloads`. Environment: BUILD, BENCH_QUICK=1,
BENCH_WL_ROUNDS, BENCH_WL_DURATION, BENCH_BASE_BUILD (an older build folder:
its examples join as urocket-native-1-base), BENCH_SERVER_CPU (0),
BENCH_CLIENT_CPU (1), BENCH_PORT_BASE (19200), PYTHON. Benchmark only: nothing here asserts
on speed; run it on an otherwise idle machine.
"""
import argparse
import datetime
import glob
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.dont_write_bytecode = True
sys.path.insert(0, BENCH)
import run as br  # noqa: E402  (bench/run.py: Server, UrkLoad, /proc helpers)

BASELINE = br.BASELINE
REQUEST, RESPONSE = br.REQUEST, br.RESPONSE
PIPELINE = 16  # requests per write in the pipelined workload
TRICKLE_CONNS = 64  # connections carrying the trickle beside the idle ones

# name -> (HTTP command, echo command). "{build}" and "{port}" are substituted.
SERVERS = [
    ("epoll", ["{build}/bench/epoll_server", "--port", "{port}", "--threads", "1"],
     ["{build}/bench/epoll_server", "--port", "{port}", "--threads", "1", "--echo"]),
    ("uring_raw", ["{build}/bench/uring_raw", "--port", "{port}", "--threads", "1"],
     ["{build}/bench/uring_raw", "--port", "{port}", "--threads", "1", "--echo"]),
    ("urocket-native-1", ["{build}/examples/http_server", "--port", "{port}", "--reactors", "1"],
     ["{build}/examples/echo_server", "--port", "{port}", "--reactors", "1"]),
]
# BENCH_BASE_BUILD=/old/build (as in run.py): the older build's examples too,
# as urocket-native-1-base, for a regression check of every workload.
if os.environ.get("BENCH_BASE_BUILD"):
    _base = os.path.abspath(os.environ["BENCH_BASE_BUILD"])
    SERVERS.append(("urocket-native-1-base",
                    [_base + "/examples/http_server", "--port", "{port}", "--reactors", "1"],
                    [_base + "/examples/echo_server", "--port", "{port}", "--reactors", "1"]))
WORKLOAD_NAMES = ["fixed", "pipelined", "echo16k", "echo64k", "trickle"]


def escaped(data):
    """Bytes as `urocket load --request` takes them (escapes decoded there)."""
    return data.decode("latin-1").encode("unicode_escape").decode("ascii")


def echo_payload(size):
    """A deterministic message whose bytes differ along it, so a reordered or
    shifted echo cannot pass the check."""
    return bytes(33 + (i * 7 + i // 89) % 94 for i in range(size))


def workload(name):
    """The load generator flags of a closed-loop workload (shared with ab.py):
    kind "http" or "echo", extra `urocket load` flags, HTTP requests per
    round trip and bytes per message."""
    if name == "canned":
        return {"kind": "http", "extra": [], "per_trip": 1, "size": 0}
    if name == "pipelined":
        return {"kind": "http", "per_trip": PIPELINE, "size": 0,
                "extra": ["--request", escaped(REQUEST * PIPELINE), "--framing", "fixed",
                          "--response-len", str(PIPELINE * len(RESPONSE))]}
    if name in ("echo16k", "echo64k"):
        size = 16384 if name == "echo16k" else 65536
        return {"kind": "echo", "per_trip": 1, "size": size,
                "extra": ["--request", escaped(echo_payload(size)), "--framing", "fixed",
                          "--response-len", str(size)]}
    raise ValueError("unknown workload %r" % name)


# -------------------------------------------------------- health checks ---
def exchange(port, data, want, timeout=5.0, pieces=1):
    """Sends data (in `pieces` writes) while reading; returns what came back
    once `want` bytes arrived plus 100 ms for any extra, or at the timeout."""
    got = bytearray()
    with socket.create_connection((br.HOST, port), timeout=3) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        step = max(1, -(-len(data) // pieces))
        chunks = [data[i:i + step] for i in range(0, len(data), step)]
        out = memoryview(chunks.pop(0)) if chunks else memoryview(b"")
        deadline = time.monotonic() + timeout
        quiet_until = None
        while True:
            now = time.monotonic()
            if now > deadline or (quiet_until and now > quiet_until):
                break
            wl = [s] if len(out) or chunks else []
            r, w, _ = select.select([s], wl, [], 0.02)
            if w:
                if not len(out):
                    time.sleep(0.02)  # separate writes, so the server sees pieces
                    out = memoryview(chunks.pop(0))
                try:
                    out = out[s.send(out):]
                except BlockingIOError:
                    pass
            if r:
                try:
                    chunk = s.recv(262144)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                got += chunk
                if len(got) >= want and quiet_until is None:
                    quiet_until = time.monotonic() + 0.1
    return bytes(got)


def check_http(port):
    """(ok, detail, pipelined_ok): run.py's checks, then 16 requests in one
    write must get exactly 16 responses."""
    ok, detail, counting_ok, counting = br.health_check(port)
    if not ok:
        return False, detail, False
    if not counting_ok:
        return True, "request counting: " + counting, False
    try:
        got = exchange(port, REQUEST * PIPELINE, PIPELINE * len(RESPONSE))
    except OSError as e:
        return True, "pipelined check: socket error: %s" % e, False
    if got != RESPONSE * PIPELINE:
        return True, "%d requests in one write: %d bytes back, %d expected" % (
            PIPELINE, len(got), PIPELINE * len(RESPONSE)), False
    return True, "ok", True


def check_echo(port):
    """(ok, detail): 1 byte, 16 KiB, 64 KiB (whole and in 7 writes) and two
    messages in one write each come back byte for byte, nothing more."""
    cases = [("1 byte", b"x", 1), ("16 KiB", echo_payload(16384), 1),
             ("64 KiB", echo_payload(65536), 1), ("64 KiB in 7 writes", echo_payload(65536), 7),
             ("2 messages in one write", echo_payload(1000) + echo_payload(16384)[::-1], 1)]
    for what, data, pieces in cases:
        try:
            got = exchange(port, data, len(data), pieces=pieces)
        except OSError as e:
            return False, "%s: socket error: %s" % (what, e)
        if got != data:
            first = next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), None)
            return False, "%s: %d bytes back of %d%s" % (
                what, len(got), len(data),
                "" if first is None else ", first difference at byte %d" % first)
    return True, "ok"


# --------------------------------------------------------------- runs ---
def measure(srv, tool, conns, duration, extra):
    """One load run against a running server: the generator's result plus
    the server's CPU seconds over it."""
    cpu0 = br.settle_cpu(srv.pid)
    res = tool.run(srv.port, conns, duration, extra)
    if not srv.alive():
        return {"failed": "server died: %s" % srv.log_tail()}
    if "failed" in res:
        return res
    res["server_cpu"] = br.settle_cpu(srv.pid) - cpu0
    return res


class Idle:
    """run.py's idle-connection helper process holding `count` connections."""

    def __init__(self, srv, count, client_cpu):
        argv = [br.PY, os.path.join(BENCH, "run.py"), "--idle-client", str(srv.port), str(count)]
        if client_cpu is not None:
            argv = ["taskset", "-c", str(client_cpu)] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().split()
        self.opened = int(line[1]) if len(line) == 2 and line[0] == "ready" else None

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def settle_accepts(srv, limit=30.0):
    """Waits until the server has accepted everything and its RSS is steady."""
    deadline = time.monotonic() + limit
    stable, last = 0, None
    while time.monotonic() < deadline and stable < 4 and srv.alive():
        time.sleep(0.1)
        rss = br.proc_rss_kib(srv.pid)
        stable = stable + 1 if rss == last and not br.listen_backlog(srv.port) else 0
        last = rss
    return br.listen_backlog(srv.port) or 0


def run_trickle(srv, tool, idle_n, rate, duration, client_cpu):
    """Fresh server: RSS, then idle_n idle connections, RSS, then the trickle."""
    time.sleep(0.2)
    br.settle_cpu(srv.pid)
    rss0 = br.proc_rss_kib(srv.pid)
    idle = Idle(srv, idle_n, client_cpu)
    try:
        if not idle.opened:
            return {"failed": "idle helper opened no connection"}
        backlog = settle_accepts(srv)
        if not srv.alive():
            return {"failed": "server died: %s" % srv.log_tail()}
        rss1 = br.proc_rss_kib(srv.pid)
        res = measure(srv, tool, TRICKLE_CONNS, duration, ["--rate", str(rate)])
        if "failed" in res:
            return res
        res.update(opened=idle.opened, rss0_kib=rss0, rss1_kib=rss1,
                   rss_kib=br.proc_rss_kib(srv.pid),
                   per_conn=(rss1 - rss0) * 1024.0 / idle.opened,
                   note="%d still in the accept queue" % backlog if backlog else "")
        return res
    finally:
        idle.close()


# ------------------------------------------------------------- report ---
med, fmt = br.med, br.fmt  # median of a key over runs; "-" for None


def derive(res, per_trip=1, size=0):
    """Per-run figures: HTTP requests (or messages) answered, their rate and
    the server's CPU per one of them."""
    if "failed" in res:
        return res
    n = res["requests"] * per_trip
    res["units"] = n
    res["unit_rate"] = n / max(res["elapsed"], 1e-9)
    res["sent_rate"] = res.get("sent", res["requests"]) * per_trip / max(res["elapsed"], 1e-9)
    res["us_per_unit"] = res["server_cpu"] * 1e6 / n if n else None
    if size:
        mib = res["requests"] * size / 1048576.0
        res["mib_s"] = mib / max(res["elapsed"], 1e-9)
        res["us_per_mib"] = res["server_cpu"] * 1e6 / mib if mib else None
    return res


def spread(ok, key="us_per_unit"):
    """min-max of key over rounds and its range relative to the median."""
    vals = [r[key] for r in ok if r.get(key) is not None]
    if len(vals) < 2:
        return "-", None
    m = statistics.median(vals)
    rel = (max(vals) - min(vals)) / m if m else None
    return "%.2f–%.2f (%s)" % (min(vals), max(vals), fmt(rel * 100 if rel is not None else None,
                                                          "{:.0f}%")), rel


class Report:
    def __init__(self, names, status, results):
        self.names, self.status, self.results = names, status, results
        self.spreads = []

    def rows(self, key):
        """(name, all runs, ok runs, failure text or None) per server."""
        out = []
        for name in self.names:
            rows = self.results.get(key + (name,), [])
            ok = [r for r in rows if "failed" not in r]
            why = None
            if not ok:
                why = rows[0]["failed"] if rows else self.status.get(name, {}).get(
                    "why_" + key[0], "not run")
            out.append((name, rows, ok, why))
        return out

    def ratio(self, key, ok, metric="us_per_unit"):
        base = [r for r in self.results.get(key + (BASELINE,), []) if "failed" not in r]
        b, v = med(base, metric), med(ok, metric)
        return b / v if b and v else None  # CPU per unit: epoll's over ours

    def noise(self, ok):
        text, rel = spread(ok)
        if rel is not None:
            self.spreads.append(rel)
        return text


def failed_row(name, why, ncols, nruns):
    return "| %s | failed: %s |%s %d |" % (name, str(why).replace("|", "/").replace(
        "\n", " ")[:160], " |" * (ncols - 3), nruns)


def report(args, info, cfg, status, results, elapsed, command):
    names = [n for n, _, _ in SERVERS if n in cfg["servers"]]
    R = Report(names, status, results)
    L = ["# uRocket workloads", ""]
    L.append("- Date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    L.append("- Machine: %s CPUs (nproc), kernel %s, %s" % (info["nproc"], info["kernel"],
                                                            info["cpu"]))
    L.append("- Command: `%s`%s" % (command, " (run by `make`)" if os.environ.get("MAKELEVEL")
                                    else ""))
    L.append("- Mode: %s; %d rounds interleaved (every workload on every server, server order "
             "rotating), %d s per run; total %.0f s" % (
                 "quick" if cfg["quick"] else "full", cfg["rounds"], cfg["duration"], elapsed))
    L.append("- Pinning: server on CPU %s, load generator on CPU %s (taskset); load generator: "
             "`python3 -m urocket load`, one thread" % (
                 "any" if cfg["server_cpu"] is None else cfg["server_cpu"],
                 "any" if cfg["client_cpu"] is None else cfg["client_cpu"]))
    L.append("- Server CPU = utime+stime of all server threads (/proc/<pid>/stat) from its "
             "settled value before a run to its settled value after (connection setup and "
             "teardown included). Values are medians over rounds; errors are summed; "
             "\"vs %s\" is %s's server CPU per request (or message) divided by this server's, "
             "in this same run (higher is better)." % (BASELINE, BASELINE))
    L.append("- The canned response at c=64/512/2048 under a saturating client is run.py's "
             "matrix: see [results.md](results.md) (headline table).")
    for n in cfg["notes"]:
        L.append("- Note: %s" % n)
    L += ["", "## Servers", "", "| server | HTTP server | echo server |", "|---|---|---|"]
    for name in names:
        st = status[name]
        L.append("| %s | %s | %s |" % (name, st["http"].replace("|", "\\|"),
                                        st["echo"].replace("|", "\\|")))
    L.append("")
    wl = cfg["workloads"]
    if "fixed" in wl:
        L += ["## Fixed offered load (open loop, %d connections)" % cfg["conns"], "",
              "The generator sends at the target rate whatever the answers do; latency counts "
              "from each request's due time. MISSED: the server answered under 97% of the "
              "target (it could not keep up; its CPU figure is then at saturation).", ""]
        L.append("| target req/s | server | achieved req/s | µs server CPU/req | vs %s | "
                 "p50 ms | p99 ms | errors | spread of µs/req over rounds | runs |" % BASELINE)
        L.append("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for rate in cfg["rates"]:
            for name, rows, ok, why in R.rows(("fixed", rate)):
                if why:
                    L.append("| %s %s" % (fmt(rate), failed_row(name, why, 9, len(rows))))
                    continue
                ach = med(ok, "unit_rate")
                mark = "" if ach >= 0.97 * rate else " MISSED"
                L.append("| %s | %s | %s%s | %s | %s | %s | %s | %d | %s | %d |" % (
                    fmt(rate), name, fmt(ach), mark, fmt(med(ok, "us_per_unit"), "{:.2f}"),
                    fmt(R.ratio(("fixed", rate), ok), "{:.2f}x"), fmt(med(ok, "p50_ms"), "{:.3f}"),
                    fmt(med(ok, "p99_ms"), "{:.3f}"), sum(r["errors"] for r in ok), R.noise(ok),
                    len(ok)))
        L.append("")
    if "pipelined" in wl:
        L += ["## Pipelined: %d requests per write (closed loop, %d connections)" % (
            PIPELINE, cfg["conns"]), "",
            "One write carries %d GET requests; the answer is framed as %d x the canned "
            "response (%d bytes). Counts are HTTP requests (%d per round trip); latency is per "
            "round trip." % (PIPELINE, PIPELINE, PIPELINE * len(RESPONSE), PIPELINE), ""]
        L.append("| server | req/s | µs server CPU/req | req per server-CPU-s | vs %s | p99 ms | "
                 "errors | spread of µs/req over rounds | runs |" % BASELINE)
        L.append("|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for name, rows, ok, why in R.rows(("pipelined",)):
            if why:
                L.append(failed_row(name, why, 9, len(rows)))
                continue
            us = med(ok, "us_per_unit")
            L.append("| %s | %s | %s | %s | %s | %s | %d | %s | %d |" % (
                name, fmt(med(ok, "unit_rate")), fmt(us, "{:.2f}"),
                fmt(1e6 / us if us else None), fmt(R.ratio(("pipelined",), ok), "{:.2f}x"),
                fmt(med(ok, "p99_ms"), "{:.3f}"), sum(r["errors"] for r in ok), R.noise(ok),
                len(ok)))
        L.append("")
    for w in ("echo16k", "echo64k"):
        if w not in wl:
            continue
        size = workload(w)["size"]
        L += ["## Echo of %d KiB messages (closed loop, %d connections)" % (
            size // 1024, cfg["echo_conns"]), "",
            "Each connection sends one %d-byte message and waits for all of it to come back "
            "(checked byte for byte before the runs). MiB/s counts one direction." % size, ""]
        L.append("| server | messages/s | MiB/s | µs server CPU/message | µs server CPU/MiB | "
                 "vs %s | p99 ms | errors | spread of µs/message over rounds | runs |" % BASELINE)
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for name, rows, ok, why in R.rows((w,)):
            if why:
                L.append(failed_row(name, why, 10, len(rows)))
                continue
            L.append("| %s | %s | %s | %s | %s | %s | %s | %d | %s | %d |" % (
                name, fmt(med(ok, "unit_rate")), fmt(med(ok, "mib_s"), "{:,.1f}"),
                fmt(med(ok, "us_per_unit"), "{:.2f}"), fmt(med(ok, "us_per_mib"), "{:,.0f}"),
                fmt(R.ratio((w,), ok), "{:.2f}x"), fmt(med(ok, "p99_ms"), "{:.3f}"),
                sum(r["errors"] for r in ok), R.noise(ok), len(ok)))
        L.append("")
    if "trickle" in wl:
        L += ["## %s idle connections with a trickle" % fmt(cfg["idle_conns"]), "",
              "A fresh server per round: %s connections are opened and left idle, then %d more "
              "carry an open-loop trickle of %s requests/s for %d s. RSS is the server's (VmRSS, "
              "user space only) with all of them open; bytes per idle connection is the RSS "
              "growth from opening the idle ones." % (
                  fmt(cfg["idle_conns"]), TRICKLE_CONNS, fmt(cfg["trickle_rate"]),
                  cfg["duration"]), ""]
        L.append("| server | idle conns | achieved req/s | µs server CPU/req | vs %s | p50 ms | "
                 "p99 ms | errors | RSS MiB | bytes per idle conn | spread of µs/req over rounds "
                 "| runs |" % BASELINE)
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for name, rows, ok, why in R.rows(("trickle",)):
            if why:
                L.append(failed_row(name, why, 12, len(rows)))
                continue
            notes = sorted({r["note"] for r in ok if r.get("note")})
            L.append("| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %d |" % (
                name, fmt(med(ok, "opened")), fmt(med(ok, "unit_rate")),
                fmt(med(ok, "us_per_unit"), "{:.2f}"), fmt(R.ratio(("trickle",), ok), "{:.2f}x"),
                fmt(med(ok, "p50_ms"), "{:.3f}"), fmt(med(ok, "p99_ms"), "{:.3f}"),
                sum(r["errors"] for r in ok), fmt(med(ok, "rss_kib") / 1024, "{:,.1f}"),
                fmt(med(ok, "per_conn")) + (" (%s)" % "; ".join(notes) if notes else ""),
                R.noise(ok), len(ok)))
        L.append("")
    L += ["## Noise", ""]
    if R.spreads:
        L.append("Spread between rounds, as (max − min) / median of the server CPU per request "
                 "(or message) of each row above: median %.0f%%, largest %.0f%% over %d rows "
                 "with 2 or more rounds. A ratio between two servers that differs from 1.00x by "
                 "less than about that spread is not a measured difference." % (
                     100 * statistics.median(R.spreads), 100 * max(R.spreads), len(R.spreads)))
    else:
        L.append("One round per row: no spread between rounds to report (use --rounds 3 or more "
                 "for numbers worth comparing).")
    cpus = [r["server_cpu"] for rows in results.values() for r in rows if r.get("server_cpu")]
    if cpus:
        L.append("")
        L.append("/proc counts CPU time in ticks of 1/%d s: on the smallest server CPU total of "
                 "a run here (%.2f s) one tick is %.1f%%." % (
                     br.CLK_TCK, min(cpus), 100.0 / br.CLK_TCK / min(cpus)))
    L.append("")
    return "\n".join(L)


# --------------------------------------------------------------- main ---
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD") or os.path.join(ROOT, "build"))
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
                    help="1 round of 1 s, 2,000 idle connections (under a minute)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_WL_ROUNDS", "0")),
                    help="interleaved rounds (default 3; --quick 1)")
    ap.add_argument("--duration", type=int,
                    default=int(os.environ.get("BENCH_WL_DURATION", "0")),
                    help="seconds per run (default 3; --quick 1)")
    ap.add_argument("--workloads", default=",".join(WORKLOAD_NAMES),
                    help="comma-separated subset of %s" % ",".join(WORKLOAD_NAMES))
    ap.add_argument("--servers", default=",".join(n for n, _, _ in SERVERS),
                    help="comma-separated subset of %s" % ",".join(n for n, _, _ in SERVERS))
    ap.add_argument("--rates", default="20000,60000,120000",
                    help="open-loop rates of the fixed workload, requests/s")
    ap.add_argument("--conns", type=int, default=512, help="connections: fixed and pipelined")
    ap.add_argument("--echo-conns", type=int, default=64, help="connections: echo")
    ap.add_argument("--idle-conns", type=int, default=-1,
                    help="idle connections of the trickle workload (default 10000; --quick 2000)")
    ap.add_argument("--trickle-rate", type=int, default=2000, help="requests/s of the trickle")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"),
                    help="directory for workloads.md")
    ap.add_argument("--json", default="", help="also write every run's figures here")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    t_start = time.monotonic()
    quick = args.quick
    cfg = {"quick": quick, "rounds": args.rounds or (1 if quick else 3),
           "duration": args.duration or (1 if quick else 3), "conns": args.conns,
           "echo_conns": args.echo_conns, "trickle_rate": args.trickle_rate,
           "idle_conns": args.idle_conns if args.idle_conns >= 0 else (2000 if quick else 10000),
           "rates": [int(x) for x in args.rates.split(",") if x],
           "workloads": [w for w in args.workloads.split(",") if w],
           "servers": [s for s in args.servers.split(",") if s], "notes": []}
    bad = [w for w in cfg["workloads"] if w not in WORKLOAD_NAMES] + \
        [s for s in cfg["servers"] if s not in [n for n, _, _ in SERVERS]]
    if bad or cfg["rounds"] < 1 or cfg["duration"] < 1 or not cfg["rates"]:
        br.log("workloads.py: unknown or bad %s (workloads: %s; servers: %s)" % (
            bad or "rounds/duration/rates", ",".join(WORKLOAD_NAMES),
            ",".join(n for n, _, _ in SERVERS)))
        return 2
    build = os.path.abspath(args.build)
    out_dir = os.path.abspath(args.out)
    logdir = os.path.join(build, "bench", "logs")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(logdir, exist_ok=True)
    ncpu = os.cpu_count() or 1
    server_cpu = br.cpu_arg("BENCH_SERVER_CPU", "0") if ncpu > 1 else None
    client_cpu = br.cpu_arg("BENCH_CLIENT_CPU", "1") if ncpu > 1 else None
    cfg.update(server_cpu=server_cpu, client_cpu=client_cpu)
    nofile = br.raise_nofile(cfg["idle_conns"] + cfg["conns"] + 1024)
    if cfg["idle_conns"] + TRICKLE_CONNS + 256 > nofile:
        cfg["notes"].append("idle connections cut from %d to %d (RLIMIT_NOFILE %d)" % (
            cfg["idle_conns"], nofile - TRICKLE_CONNS - 256, nofile))
        cfg["idle_conns"] = nofile - TRICKLE_CONNS - 256
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (
        ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    libs = sorted(glob.glob(os.path.join(build, "liburocket.so.*.*.*")))
    if libs:
        env.setdefault("URK_LIBRARY", libs[-1])
    tool = br.UrkLoad(client_cpu, env)
    why_tool = tool.available()

    wl = cfg["workloads"]
    http_wl = [w for w in wl if w in ("fixed", "pipelined", "trickle")]
    echo_wl = [w for w in wl if w.startswith("echo")]
    runs_per_round = len(cfg["servers"]) * (
        (len(cfg["rates"]) if "fixed" in wl else 0) + ("pipelined" in wl) + len(echo_wl))
    est = cfg["rounds"] * (runs_per_round * (cfg["duration"] + 0.8) + (
        len(cfg["servers"]) * (cfg["duration"] + 2 + cfg["idle_conns"] / 4000.0)
        if "trickle" in wl else 0)) + 4
    br.log("workloads: %s mode, %s on %s, %d rounds of %d s; estimated %.0f s" % (
        "quick" if quick else "full", ",".join(wl), ",".join(cfg["servers"]), cfg["rounds"],
        cfg["duration"], est))

    port = br.free_port(int(os.environ.get("BENCH_PORT_BASE", "19200")) + 400)
    status, results, live = {}, {}, {}  # live: (name, kind) -> Server

    def expand(cmd):
        return [a.replace("{build}", build) for a in cmd]

    def start(name, kind, cmd):
        nonlocal port
        missing = [a for a in cmd[:1] if not os.path.exists(a)]
        if missing:
            return None, "%s missing (make lib examples; make -C bench servers)" % (
                missing[0].replace(ROOT + "/", ""))
        srv = br.Server("%s-%s" % (name, kind), cmd, env, server_cpu, logdir)
        port = br.free_port(port + 1)
        srv.start(port)
        why = srv.wait_ready()
        if why:
            srv.stop()
            return None, why
        return srv, None

    try:
        for name, http_cmd, echo_cmd in SERVERS:
            if name not in cfg["servers"]:
                continue
            st = status[name] = {"http": "not needed", "echo": "not needed"}
            for kind, cmd, wants in (("http", http_cmd, http_wl), ("echo", echo_cmd, echo_wl)):
                if not wants:
                    continue
                if why_tool:
                    st[kind] = "not run: " + why_tool
                    for w in wants:
                        st["why_" + w] = "load generator unavailable"
                    continue
                srv, why = start(name, kind, expand(cmd))
                if srv is None:
                    st[kind] = "failed to start: " + why
                    for w in wants:
                        st["why_" + w] = "server failed to start (see Servers)"
                    continue
                st[kind] = srv.cmdline.replace(ROOT + "/", "")
                if kind == "http":
                    ok, detail, pipe_ok = check_http(srv.port)
                    if not ok:
                        st[kind] += " — FAILED its check: " + detail
                        for w in wants:
                            st["why_" + w] = "health check: " + detail
                        srv.stop()
                        continue
                    if not pipe_ok:
                        st[kind] += " — pipelining check FAILED: " + detail
                        st["why_pipelined"] = "pipelining check: " + detail
                    live[(name, kind)] = srv
                else:
                    ok, detail = check_echo(srv.port)
                    if not ok:
                        st[kind] += " — FAILED its check: " + detail
                        for w in wants:
                            st["why_" + w] = "echo check: " + detail
                        srv.stop()
                        continue
                    live[(name, kind)] = srv
                st[kind] += " — checked"
            br.log("  %-18s http: %s\n  %-18s echo: %s" % (name, st["http"], "", st["echo"]))

        names = [n for n, _, _ in SERVERS if n in cfg["servers"]]

        def one(key, name, kind, conns, extra, per_trip=1, size=0):
            srv = live.get((name, kind))
            if srv is None or status[name].get("why_" + key[0]):
                return
            if not srv.alive():
                res = {"failed": "server died earlier: %s" % srv.log_tail(200)}
            else:
                res = derive(measure(srv, tool, conns, cfg["duration"], extra), per_trip, size)
                if not srv.alive():
                    status[name][kind] += " — DIED during the runs"
            results.setdefault(key + (name,), []).append(res)
            br.log("  %-22s %-18s %s" % (" ".join(map(str, key)), name, res.get("failed") or (
                "%(unit_rate)10.0f /s  %(us_per_unit)7.2f us CPU each  p99 %(p99_ms).3f ms  "
                "err %(errors)d" % res)))

        for rnd in range(cfg["rounds"]):
            k = rnd % max(1, len(names))
            order = names[k:] + names[:k]
            br.log("round %d of %d" % (rnd + 1, cfg["rounds"]))
            if "fixed" in wl:
                for rate in cfg["rates"]:
                    for name in order:
                        one(("fixed", rate), name, "http", cfg["conns"], ["--rate", str(rate)])
            if "pipelined" in wl:
                spec = workload("pipelined")
                for name in order:
                    one(("pipelined",), name, "http", cfg["conns"], spec["extra"],
                        spec["per_trip"])
            for w in echo_wl:
                spec = workload(w)
                for name in order:
                    one((w,), name, "echo", cfg["echo_conns"], spec["extra"], 1, spec["size"])
            if "trickle" in wl:
                for name in order:
                    if (name, "http") not in live or status[name].get("why_trickle"):
                        continue
                    cmd = next(c for n, c, _ in SERVERS if n == name)
                    srv, why = start(name, "http", expand(cmd))
                    if srv is None:
                        res = {"failed": "fresh server did not start: " + why}
                    else:
                        try:
                            res = derive(run_trickle(srv, tool, cfg["idle_conns"],
                                                     cfg["trickle_rate"], cfg["duration"],
                                                     client_cpu))
                        finally:
                            srv.stop()
                    results.setdefault(("trickle", name), []).append(res)
                    br.log("  %-22s %-18s %s" % ("trickle", name, res.get("failed") or (
                        "%(opened)d idle, %(unit_rate).0f /s, %(us_per_unit).2f us CPU each, "
                        "p99 %(p99_ms).3f ms, RSS %(rss_kib)d KiB" % res)))
    finally:
        for srv in live.values():
            srv.stop()

    if why_tool:
        cfg["notes"].append("nothing measured: " + why_tool)
    given = sys.argv[1:] if argv is None else list(argv)
    command = ("BENCH_QUICK=1 " if quick and "--quick" not in given else "") + " ".join(
        [br.PY, os.path.relpath(os.path.abspath(__file__), ROOT)] + given)
    md = report(args, br.machine_info(), cfg, status, results, time.monotonic() - t_start,
                command)
    path = os.path.join(out_dir, "workloads.md")
    with open(path, "w") as f:
        f.write(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg, "status": status,
                       "runs": {" ".join(map(str, k)): v for k, v in results.items()}}, f,
                      indent=1, default=str)
    br.log("")
    br.log(md)
    br.log("wrote %s" % os.path.relpath(path, os.getcwd()))
    return 1 if why_tool else 0


if __name__ == "__main__":
    sys.exit(main())

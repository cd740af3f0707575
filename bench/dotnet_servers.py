"""The .NET rows of the benchmark (issues 10 and 11), loaded by bench/run.py.

Rows, numbered as in the issues:
  (1) dotnet-sockets        bench/dotnet/SocketsServer: System.Net.Sockets, one
                            task per connection, native AOT, Server GC, TieredPGO
  (2) dotnet-urocket-*      build/dotnet/http_server (the C# binding's AOT
                            example): 1 and 2 reactors, SQPOLL, without the
                            reactor context, the Pipelines path
  (3) aspnet-sockets        bench/dotnet/AspNetPlaintext on Kestrel's Sockets
                            transport
  (4) aspnet-urocket        the same binary on UseUrocket()
  (5) urocket-native-1/2 and epoll: rows of run.py itself

run.py takes SERVERS (extra rows), HEALTH (a health check per row where the
exact-bytes check cannot apply), measure() (cold start and allocation per
request, after the load matrix) and report() (the .NET tables, also written
to results/dotnet.md for the README). A row whose binary or flag is missing
is skipped with its reason; nothing here fails the whole run.
"""
import os
import re
import socket
import statistics
import subprocess
import time

HOST = "127.0.0.1"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b"Hello, World!"

SOCKETS = "dotnet-sockets"        # (1)
ASPNET = "aspnet-sockets"         # (3)
ASPNET_URK = "aspnet-urocket"     # (4)
URK1 = "dotnet-urocket-1"         # (2), the headline variant
NATIVE1 = "urocket-native-1"      # (5), a run.py row

# ---- (2): variants of the C# server on uRocket ---------------------------------
# name -> (reactors, extra flags). Each runs build/dotnet/http_server (the C#
# binding's example) when its --help lists every flag of the variant, else
# build/dotnet-bench/urocket_variants (bench/dotnet/UrocketVariants: the same
# server on the binding's UrkServer, with --sqpoll, --no-context and
# --pipelines), else it is skipped with both reasons.
URK_VARIANTS = [
    ("dotnet-urocket-1", 1, []),
    ("dotnet-urocket-2", 2, []),
    ("dotnet-urocket-1-sqpoll", 1, ["--sqpoll"]),
    ("dotnet-urocket-2-sqpoll", 2, ["--sqpoll"]),
    ("dotnet-urocket-1-noctx", 1, ["--no-context"]),
    ("dotnet-urocket-2-noctx", 2, ["--no-context"]),
    ("dotnet-urocket-1-pipelines", 1, ["--pipelines"]),
    ("dotnet-urocket-2-pipelines", 2, ["--pipelines"]),
]
URK_BIN = "{build}/dotnet/http_server"
VARIANTS_BIN = "{build}/dotnet-bench/urocket_variants"
SOCKETS_BIN = "{build}/dotnet-bench/sockets_server"
ASPNET_BIN = "{build}/dotnet-bench/aspnet_plaintext"

_help_cache = {}


def _help_text(path):
    if path not in _help_cache:
        try:
            r = subprocess.run([path, "--help"], capture_output=True, timeout=20)
            _help_cache[path] = (r.stdout + r.stderr).decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            _help_cache[path] = "<--help failed: %s>" % e
    return _help_cache[path]


def needs_flags(binary, flags):
    """A run.py `needs` callable: the binary exists and its --help lists flags."""
    def check(expand):
        path = expand(binary)
        if not os.path.exists(path):
            return "%s missing (%s)" % (_short(path), "make dotnet-examples" if binary == URK_BIN
                                        else "make dotnet-bench")
        text = _help_text(path)
        absent = [f for f in flags if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), text)]
        if absent:
            return "%s --help lists no %s" % (_short(path), ", ".join(absent))
        return None
    return check


def needs_urocket_transport(expand):
    path = expand(ASPNET_BIN)
    if not os.path.exists(path):
        return "%s missing (make dotnet-bench)" % _short(path)
    if "uRocket transport: compiled in" not in _help_text(path):
        return ("%s was built without Urocket.AspNetCore (UseUrocket); "
                "rebuild with make dotnet-bench once bindings/csharp has it" % _short(path))
    return None


def _short(path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.relpath(path, root) if path.startswith(root + "/") else path


SERVERS = [(SOCKETS, [([SOCKETS_BIN, "--port", "{port}"], needs_flags(SOCKETS_BIN, []))])]
SERVERS += [(name, [([b, "--port", "{port}", "--reactors", str(n)] + flags,
                      needs_flags(b, ["--reactors"] + flags))
                     for b in ([URK_BIN, VARIANTS_BIN] if flags else [URK_BIN])])
            for name, n, flags in URK_VARIANTS]
# urocket_variants with no switch: the same settings as dotnet-urocket-1, so
# the variants it serves compare with their own binary's base line too.
SERVERS += [("dotnet-urocket-1-vbase", [([VARIANTS_BIN, "--port", "{port}", "--reactors", "1"],
                                         needs_flags(VARIANTS_BIN, ["--reactors"]))])]
SERVERS += [
    (ASPNET, [([ASPNET_BIN, "--port", "{port}", "--transport", "sockets"],
               needs_flags(ASPNET_BIN, []))]),
    (ASPNET_URK, [([ASPNET_BIN, "--port", "{port}", "--transport", "urocket"],
                   needs_urocket_transport)]),
]
DOTNET_NAMES = [n for n, _ in SERVERS]


# ---- health check for Kestrel: HTTP-level, Date tolerated -------------------
def _read_responses(sock, want, timeout):
    """Parses up to `want` HTTP responses (Content-Length framing) off sock.
    Returns (list of (status line, [headers], body), error or None)."""
    sock.settimeout(timeout)
    buf, out = b"", []
    deadline = time.monotonic() + timeout
    while len(out) < want:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            length = None
            for h in head[1:]:
                k, _, v = h.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if length is None:
                return out, "response without Content-Length: %r" % head
            if len(buf) >= end + 4 + length:
                out.append((head[0], head[1:], buf[end + 4:end + 4 + length]))
                buf = buf[end + 4 + length:]
                continue
        if time.monotonic() > deadline:
            return out, "timed out after %d of %d responses" % (len(out), want)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError) as e:
            return out, "after %d of %d responses: %s" % (len(out), want, e)
        if not chunk:
            return out, "connection closed after %d of %d responses" % (len(out), want)
        buf += chunk
    if buf:
        return out, "%d unexpected extra bytes" % len(buf)
    return out, None


def _check_response(resp):
    status, headers, body = resp
    if status != "HTTP/1.1 200 OK":
        return "status %r" % status
    if body != BODY:
        return "body %r" % body[:60]
    others = sorted(h for h in headers if not h.lower().startswith("date:"))
    if others != ["Content-Length: 13"]:
        return "headers %r (want Content-Length: 13 and Date only)" % others
    return None


def http_health_check(port):
    """run.py's health_check contract for servers that add a Date header
    (Kestrel): same three probes, compared as HTTP responses."""
    try:
        with socket.create_connection((HOST, port), timeout=3) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(REQUEST)
            got, err = _read_responses(s, 1, 5.0)
            bad = err or _check_response(got[0])
            if bad:
                return False, "one request: " + bad, False, "-"
            problems = []
            s.sendall(REQUEST[:-3])
            time.sleep(0.03)
            s.sendall(REQUEST[-3:-1])
            time.sleep(0.03)
            s.sendall(REQUEST[-1:])
            got, err = _read_responses(s, 1, 2.0)
            if err or _check_response(got[0]):
                problems.append("split terminator: %s" % (err or _check_response(got[0])))
            s.sendall(REQUEST * 2)
            got, err = _read_responses(s, 2, 2.0)
            if err or any(_check_response(r) for r in got):
                problems.append("2 requests in one write: %s" % (err or "bad response"))
    except OSError as e:
        return False, "socket error: %s" % e, False, "-"
    if problems:
        return True, "ok (Date header added by Kestrel)", False, "; ".join(problems)
    return True, "ok (Date header added by Kestrel)", True, "ok"


HEALTH = {ASPNET: http_health_check, ASPNET_URK: http_health_check}


# ---- GC mode, from the runtime's thread names --------------------------------
def gc_mode(pid):
    """'server' / 'workstation' for a .NET process (CoreCLR and native AOT name
    their GC threads), None when it cannot be told."""
    names = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    names.append(f.read().strip())
            except OSError:
                pass
    except OSError:
        return None
    if any(n.startswith(".NET Server GC") or n.startswith(".NET SVR") for n in names):
        return "server"
    if any(n.startswith(".NET") for n in names):
        return "workstation"
    return None


# ---- cold start ----------------------------------------------------------------
COLD_START = [SOCKETS] + [n for n, _, _ in URK_VARIANTS] + [ASPNET, ASPNET_URK, NATIVE1, "epoll"]


def _first_response_time(srv, port, timeout=30.0):
    """Seconds from just before the process is spawned until one complete
    response to a request is back. Connection attempts every millisecond."""
    t0 = time.monotonic()
    srv.start(port)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if not srv.alive():
            return None, "exited: %s" % srv.log_tail(200)
        try:
            s = socket.create_connection((HOST, port), timeout=timeout)
        except OSError:
            time.sleep(0.001)
            continue
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(REQUEST)
            got, err = _read_responses(s, 1, max(0.1, deadline - time.monotonic()))
            if err:
                return None, err
            return time.monotonic() - t0, None
        except OSError as e:
            return None, str(e)
        finally:
            s.close()
    return None, "no response within %.0fs" % timeout


def _free_port():
    s = socket.socket()
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def spawn_floor(cpu, runs):
    """What starting any process costs the harness: spawn `taskset /bin/true`
    and reap it. Reported beside the cold starts (on a loaded machine it is
    tens of ms)."""
    argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + ["/bin/true"]
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, start_new_session=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        times.append(time.monotonic() - t0)
    return {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3,
            "max_ms": max(times) * 1e3, "runs": runs, "note": ""}


def measure_cold_start(servers, status, runs, log):
    out = {}
    if servers:
        floor = spawn_floor(servers[0].cpu, runs)
        if floor is not None:
            out["(spawn floor: taskset /bin/true)"] = floor
    by_name = {s.name: s for s in servers}
    for name in COLD_START:
        srv = by_name.get(name)
        if srv is None or status.get(name, {}).get("state") != "measured":
            continue
        times, why = [], None
        for _ in range(runs):
            try:
                t, why = _first_response_time(srv, _free_port())
            finally:
                srv.stop()
            if t is None:
                break
            times.append(t)
        if why and not times:
            out[name] = {"failed": why}
        else:
            out[name] = {"median_ms": statistics.median(times) * 1e3,
                         "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3,
                         "runs": len(times), "note": why or ""}
        r = out[name]
        log("  cold start %-28s %s" % (name, r.get("failed") or "%.1f ms (median of %d)" % (
            r["median_ms"], r["runs"])))
    return out


# ---- allocation per request ----------------------------------------------------
# Each row: (name, flags that turn the server's report on, how it measures).
# Both servers print "alloc-report:" lines naming "<R> requests" and "<B>
# bytes" (allocated after a warm-up); lines are summed (the C# example prints
# one per reactor, at exit). sockets_server prints its line itself once
# ALLOC_WINDOW requests past its warm-up were answered; for the others the
# harness drives wrk until that many requests were sent, then stops the
# server. A binary without the flag is reported as such.
ALLOC_WINDOW = 100000
ALLOC_ROWS = [SOCKETS, URK1, "dotnet-urocket-1-noctx", "dotnet-urocket-1-pipelines"]
# binary name -> (flags, how it counts)
ALLOC_FLAGS = {
    "sockets_server": (["--alloc-report", str(ALLOC_WINDOW)],
                       "GC.GetTotalAllocatedBytes(precise), all threads"),
    "urocket_variants": (["--alloc-report", str(ALLOC_WINDOW)],
                         "GC.GetTotalAllocatedBytes(precise), all threads"),
    "http_server": (["--alloc-report"],
                    "GC.GetAllocatedBytesForCurrentThread on each reactor thread (handler code)"),
}
_REQ_RE = re.compile(r"(\d+)\s+requests")
_BYTES_RE = re.compile(r"(\d+)\s+bytes(?!\s*/)")


def parse_alloc_report(text):
    """(bytes, requests) summed over the 'alloc-report:' lines, or None."""
    total_b = total_r = 0
    found = False
    for line in text.splitlines():
        if "alloc-report:" not in line:
            continue
        r, b = _REQ_RE.search(line), _BYTES_RE.search(line)
        if r and b:
            total_r += int(r.group(1))
            total_b += int(b.group(1))
            found = True
    return (total_b, total_r) if found else None


def measure_alloc(servers, status, wrk_run, rps_of, log, limit=60):
    """Runs each ALLOC_ROWS server with its reporting flag under one wrk -c64
    run long enough for ALLOC_WINDOW requests plus warm-up at the rate the
    load matrix saw (rps_of(name)), at most `limit` s; then stops it. One
    run, so connection set-up stays in the warm-up: restarting wrk would
    count 64 new connections' allocations against the requests."""
    out = {}
    by_name = {s.name: s for s in servers}
    for name in ALLOC_ROWS:
        srv = by_name.get(name)
        if srv is None or status.get(name, {}).get("state") != "measured":
            continue
        path = srv.argv[0]
        flags, method = ALLOC_FLAGS.get(os.path.basename(path), (["--alloc-report"], "?"))
        if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(flags[0]), _help_text(path)):
            why = "%s --help lists no %s" % (_short(path), flags[0])
            out[name] = {"failed": why}
            log("  alloc %-28s %s" % (name, why))
            continue
        orig = srv.argv
        srv.argv = list(orig) + flags
        port = _free_port()
        found, why = None, None
        try:
            srv.start(port)
            why = srv.wait_ready()
            rps = rps_of(name) or 5000.0
            duration = int(min(limit, max(3, 1 + ALLOC_WINDOW * 2.0 / rps)))
            if not why:
                res = wrk_run(port, 64, duration)
                why = res.get("failed")
                if not why and not parse_alloc_report(_read_log(srv)) and \
                        res.get("requests", 0) < ALLOC_WINDOW * 1.2:
                    # Too slow for one run: top up (new connections' set-up
                    # then falls inside the window; noted in the log).
                    log("  alloc %-28s %d requests in %ds; running wrk once more" % (
                        name, res.get("requests", 0), duration))
                    got = res.get("requests", 0)
                    rate = max(got / duration, 1000.0)
                    res = wrk_run(port, 64, int(min(limit, max(3, 2 + (ALLOC_WINDOW * 1.3 - got) / rate))))
                    why = res.get("failed")
        finally:
            srv.stop()   # SIGTERM: reporters that print at exit do so now
            srv.argv = orig
        if not why:
            found = parse_alloc_report(_read_log(srv))
        if found and found[1] > 0:
            if "alloc-report: process (all threads" in _read_log(srv):
                method = "GC.GetTotalAllocatedBytes, all threads (includes shutdown)"
            out[name] = {"bytes": found[0], "requests": found[1],
                         "per_request": found[0] / found[1], "method": method}
        else:
            out[name] = {"failed": why or "no alloc-report line (log %s)" % _short(srv.log_path)}
        r = out[name]
        log("  alloc %-28s %s" % (name, r.get("failed") or "%.3f bytes/request over %d requests" % (
            r["per_request"], r["requests"])))
    return out


def _read_log(srv):
    try:
        with open(srv.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def measure(servers, status, tools, quick, results, log):
    """After the load matrix: cold start, then allocation. A failure here is
    logged and leaves that table out; it never fails the benchmark."""
    extra = {"cold": {}, "alloc": {}}
    try:
        extra["cold"] = measure_cold_start(servers, status, 3 if quick else 10, log)
    except Exception as e:  # noqa: BLE001 - the load tables must still be written
        log("  cold start not measured: %r" % e)
    wrk = next((t for t in tools if t.name == "wrk"), None)

    def rps_of(name):
        meds = [statistics.median([r["rps"] for r in runs if "rps" in r])
                for (tool, _c, n), runs in results.items()
                if tool == "wrk" and n == name and any("rps" in r for r in runs)]
        return max(meds) if meds else None
    try:
        extra["alloc"] = measure_alloc(servers, status, wrk.run, rps_of, log) if wrk else {}
    except Exception as e:  # noqa: BLE001
        log("  allocation not measured: %r" % e)
    return extra


def runtime_kind(pid):
    """'native AOT' or 'JIT (CoreCLR)': a JIT process maps libcoreclr.so."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "JIT (CoreCLR)" if "libcoreclr.so" in f.read() else "native AOT"
    except OSError:
        return None


def note_gc(srv, status):
    """Called right after a server passed its health check: records the GC
    mode and the code generation the running process really uses."""
    if srv.name in DOTNET_NAMES:
        status[srv.name]["gc"] = gc_mode(srv.pid)
        status[srv.name]["runtime"] = runtime_kind(srv.pid)


# ---- report --------------------------------------------------------------------
def report(results, conns, tools, names, status, extra, med, fmt, out_dir):
    """The .NET section: markdown lines; also written to out_dir/dotnet.md."""
    L = ["## .NET: uRocket vs System.Net.Sockets, and ASP.NET Core on both transports", ""]
    L.append("Rows: (1) `%s` System.Net.Sockets, one task per connection; (2) `dotnet-urocket-*` "
             "the C# server on uRocket: the binding's AOT `http_server`, or for a switch it lacks "
             "`urocket_variants` (bench/dotnet/UrocketVariants, the same server; `vbase` is it with "
             "no switch) - see each row's command in the Servers table (reactors, SQPOLL, `noctx` = "
             "handlers without the reactor context, `pipelines` = the IDuplexPipe path); (3) `%s` ASP.NET Core minimal "
             "API on Kestrel's Sockets transport; (4) `%s` the same app on `UseUrocket()`; "
             "(5) `%s` (C) and `epoll` for reference. Ratios are taken against (1) and (3) in "
             "this same run. Kestrel adds a `Date` header the other servers do not send."
             % (SOCKETS, ASPNET, ASPNET_URK, NATIVE1))
    L.append("")
    L.append("GC and code generation are read from each running process (its thread names and "
             "whether it maps libcoreclr.so). Built with ServerGarbageCollection, a .NET process "
             "still runs Workstation GC when it may use only one CPU, as the pinned server here "
             "can.")
    L.append("")
    L.append("| row | state | GC | code | detail |")
    L.append("|---|---|---|---|---|")
    for name in DOTNET_NAMES:
        st = status.get(name)
        if not st:
            continue
        build = st.get("runtime") or "-"
        detail = st.get("detail", "") if st["state"] != "measured" else st.get("counting", "")
        L.append("| %s | %s | %s | %s | %s |" % (name, st["state"], st.get("gc") or "-", build,
                                                detail.replace("|", "/")[:200]))
    L.append("")
    rows = [n for n in DOTNET_NAMES + [NATIVE1, "urocket-native-2", "epoll"] if n in names]
    for tool in tools:
        for c in conns:
            def m(name, key):
                ok = [r for r in results.get((tool.name, c, name), []) if "failed" not in r]
                return med(ok, key)
            e1, e3 = m(SOCKETS, "eff"), m(ASPNET, "eff")
            r1, r3 = m(SOCKETS, "rps"), m(ASPNET, "rps")
            L.append("### %s, %d connections" % (tool.label, c))
            L.append("")
            L.append("| server | req/s | server CPU s | req per server-CPU-s | p99 ms | errors | "
                     "eff vs (1) | req/s vs (1) | eff vs (3) | req/s vs (3) |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for name in rows:
                runs = results.get((tool.name, c, name), [])
                ok = [r for r in runs if "failed" not in r]
                if not ok:
                    L.append("| %s | failed: %s | | | | | | | | |" % (
                        name, (runs[0]["failed"] if runs else "not run").replace("|", "/")[:100]))
                    continue
                eff, rps = m(name, "eff"), m(name, "rps")
                ratio = lambda a, b: fmt(a / b if a and b else None, "{:.2f}x")
                L.append("| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s |" % (
                    name, fmt(rps), fmt(m(name, "server_cpu"), "{:.2f}"), fmt(eff),
                    fmt(m(name, "p99_ms"), "{:.2f}"), sum(r["errors"] for r in ok),
                    ratio(eff, e1), ratio(rps, r1), ratio(eff, e3), ratio(rps, r3)))
            L.append("")

    cold = extra.get("cold", {})
    L.append("### Cold start: process start to first response served")
    L.append("")
    if not cold:
        L.append("Not measured.")
    else:
        b1 = cold.get(SOCKETS, {}).get("median_ms")
        L.append("| server | median ms | min ms | max ms | runs | vs (1) |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for name, r in cold.items():
            if "failed" in r:
                L.append("| %s | failed: %s | | | | |" % (name, r["failed"].replace("|", "/")[:100]))
                continue
            L.append("| %s | %.1f | %.1f | %.1f | %d | %s |" % (
                name, r["median_ms"], r["min_ms"], r["max_ms"], r["runs"],
                fmt(r["median_ms"] / b1 if b1 else None, "{:.2f}x")))
        L.append("")
        L.append("From just before the process is spawned (via taskset, on the server CPU) until a "
                 "complete response to one request is read; connection attempts every 1 ms. The "
                 "spawn floor is what starting and reaping `/bin/true` the same way costs.")
    L.append("")

    alloc = extra.get("alloc", {})
    L.append("### Allocation per request (steady state)")
    L.append("")
    if not alloc:
        L.append("Not measured (no wrk, or the rows were not run).")
    else:
        L.append("| server | bytes allocated | requests | bytes per request | counted by |")
        L.append("|---|---:|---:|---:|---|")
        for name, r in alloc.items():
            if "failed" in r:
                L.append("| %s | not measured: %s | | | |" % (name, r["failed"].replace("|", "/")[:160]))
            else:
                L.append("| %s | %d | %d | %.3f | %s |" % (name, r["bytes"], r["requests"],
                                                          r["per_request"], r["method"]))
        L.append("")
        L.append("Managed bytes allocated after a warm-up over about %d requests under one "
                 "wrk -c64 run (connections opened before the window), as each server counts "
                 "them (last column)." % ALLOC_WINDOW)
    L.append("")

    L.append("### Targets (issues 10 and 11, from this run)")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    t0 = next((t for t in tools if t.name == "wrk"), tools[0] if tools else None)
    tc = 512 if 512 in conns else (conns[-1] if conns else None)

    def eff(name):
        if not t0 or tc is None:
            return None
        ok = [r for r in results.get((t0.name, tc, name), []) if "failed" not in r]
        return med(ok, "eff")

    def target(desc, num, den, want, le=False):
        if not num or not den:
            L.append("| %s | n/a | n/a |" % desc)
            return
        ratio = num / den
        L.append("| %s | %.2fx | %s |" % (desc, ratio,
                                          "yes" if (ratio <= want if le else ratio >= want) else "NO"))

    target("(2) %s c=%s req/CPU-s >= 1.5x (1)" % (URK1, tc), eff(URK1), eff(SOCKETS), 1.5)
    target("(4) %s c=%s req/CPU-s >= 1.15x (3)" % (ASPNET_URK, tc), eff(ASPNET_URK), eff(ASPNET), 1.15)
    target("(2) %s cold start <= (1)" % URK1, cold.get(URK1, {}).get("median_ms"),
           cold.get(SOCKETS, {}).get("median_ms"), 1.0, le=True)
    target("%s c=%s req/CPU-s >= 0.85x %s" % (URK1, tc, NATIVE1), eff(URK1), eff(NATIVE1), 0.85)
    a = alloc.get(URK1, {})
    L.append("| %s 0 bytes/request on the steady path | %s | %s |" % (
        URK1, "%.3f" % a["per_request"] if "per_request" in a else "n/a",
        ("yes" if a["per_request"] < 0.5 else "NO") if "per_request" in a else "n/a"))
    L.append("")
    try:
        with open(os.path.join(out_dir, "dotnet.md"), "w") as f:
            f.write("\n".join(["# .NET benchmark results (from bench/run.py)", ""] + L))
    except OSError:
        pass
    return L

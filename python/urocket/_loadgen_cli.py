"""`python3 -m urocket load` and `python3 -m urocket merge` (wrk-like flags,
thresholds, JSON/CSV output, several generator processes)."""
from __future__ import annotations

import argparse
import codecs
import csv
import json
import operator
import os
import re
import socket
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

from ._loadgen_result import LoadResult, fmt_seconds, merge_results

# Exit statuses of `load` and `merge`.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_THRESHOLD = 0, 1, 2, 3

LOAD_EPILOG = """\
targets:
  a URL, http://HOST[:PORT][/PATH][?QUERY] (HOST may be a name: it is
  resolved, IPv4 or IPv6, before the run; the Host header comes from the
  URL), or --host/--port.

thresholds (--fail-if, repeatable; the exit status is 3 when one holds):
  METRIC OP VALUE, OP one of > >= < <= == !=
  latency: min mean p50 p75 p90 p99 p999 p9999 max, VALUE with a unit
           ns us ms s (default ms): 'p99>5ms'
  counts:  errors non2xx reconnects responses requests err_connect
           err_read err_write err_timeout err_framing; VALUE a number or a
           percentage (of responses + errors): 'errors>0.1%', 'non2xx>0'
  rate:    rps (responses per second): 'rps<1000'

exit status: 0 ok; 1 the run failed or got no response; 2 bad arguments,
a name that does not resolve, or a target refusing connections; 3 a
--fail-if threshold was violated.

results from several processes or machines merge exactly:
  python3 -m urocket load URL --json > a.json   (on each machine)
  python3 -m urocket merge a.json b.json
"""


class UsageError(Exception):
    """A bad flag or combination: exit status 2 with the message."""


# ------------------------------------------------------------ arguments ---

def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a port number (1..65535)" % text) from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError("%d is not in 1..65535" % v)
    return v


def _count(name: str, lo: int = 1) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a whole number (%s >= %d)" % (
                text, name, lo)) from None
        if v < lo:
            raise argparse.ArgumentTypeError("%s must be >= %d, got %d" % (name, lo, v))
        return v
    parse.__name__ = name
    return parse


_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(default_unit: str) -> Callable[[str], float]:
    """'10', '10s', '500ms', '2m' -> seconds (> 0)."""
    def parse(text: str) -> float:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*", text)
        if not m or (m.group(2) and m.group(2) not in _UNITS):
            raise argparse.ArgumentTypeError(
                "%r is not a time (a number > 0 with an optional unit: ns us ms s m h)" % text)
        v = float(m.group(1)) * _UNITS[m.group(2) or default_unit]
        if not v > 0:
            raise argparse.ArgumentTypeError("must be > 0, got %r" % text)
        return v
    parse.__name__ = "time"
    return parse


def _rate(text: str) -> float:
    try:
        v = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a rate (requests per second > 0)"
                                         % text) from None
    if not v > 0:
        raise argparse.ArgumentTypeError("must be > 0 requests per second, got %r" % text)
    return v


def _escaped_bytes(text: str) -> bytes:
    """'GET / HTTP/1.1\\r\\n...' as typed in a shell -> bytes, escapes decoded."""
    # typeshed says str; escape_decode returns bytes
    return cast(bytes, codecs.escape_decode(text.encode())[0])


# ----------------------------------------------------------- thresholds ---

_LATENCY = {"min": 0, "mean": None, "p50": 500000, "p75": 750000, "p90": 900000,
            "p99": 990000, "p999": 999000, "p9999": 999900, "max": 1000000}
_COUNTS = ("errors", "non2xx", "reconnects", "responses", "requests", "err_connect",
           "err_read", "err_write", "err_timeout", "err_framing")
_OPS: Dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt}


class Threshold:
    """One --fail-if expression."""

    def __init__(self, text: str) -> None:
        m = re.fullmatch(r"\s*([a-z_0-9]+)\s*(>=|<=|==|!=|>|<)\s*([0-9]*\.?[0-9]+)\s*"
                         r"(ns|us|ms|s|%)?\s*", text)
        if not m:
            raise UsageError("--fail-if %r: expected METRIC OP VALUE, e.g. 'p99>5ms', "
                             "'errors>0.1%%', 'non2xx>0'" % text)
        self.text = text.strip()
        self.metric, self.op, value, unit = m.group(1), m.group(2), float(m.group(3)), m.group(4)
        if self.metric in _LATENCY:
            if unit == "%":
                raise UsageError("--fail-if %r: a latency takes a time unit (ns us ms s)" % text)
            self.value = value * _UNITS[unit or "ms"]
            self.kind = "latency"
        elif self.metric in _COUNTS:
            if unit not in (None, "%"):
                raise UsageError("--fail-if %r: %s is a count: a number or a percentage"
                                 % (text, self.metric))
            self.value = value
            self.kind = "percent" if unit == "%" else "count"
        elif self.metric == "rps":
            if unit:
                raise UsageError("--fail-if %r: rps is a plain number" % text)
            self.value = value
            self.kind = "rps"
        else:
            raise UsageError("--fail-if %r: unknown metric %r (latency: %s; counts: %s; rps)"
                             % (text, self.metric, " ".join(_LATENCY), " ".join(_COUNTS)))

    def measure(self, r: LoadResult) -> Tuple[float, str]:
        """(the value compared, how to print it)."""
        if self.kind == "latency":
            q = _LATENCY[self.metric]
            v = r.mean if q is None else r.percentile(q / 1e6) if r.histogram else \
                getattr(r, self.metric, 0.0)
            return v, fmt_seconds(v)
        if self.kind == "rps":
            return r.rps, "%.1f" % r.rps
        n = float(r.error_count if self.metric == "errors" else r.raw[self.metric])
        if self.kind == "percent":
            base = r.responses + r.error_count
            pct = 100.0 * n / base if base else 0.0
            return pct, "%.4g%% (%d of %d)" % (pct, n, base)
        return n, "%d" % n

    def violated(self, r: LoadResult) -> Tuple[bool, str]:
        v, shown = self.measure(r)
        return _OPS[self.op](v, self.value), shown


def check_thresholds(result: LoadResult, thresholds: Sequence[Threshold]) -> int:
    bad = 0
    for t in thresholds:
        hit, shown = t.violated(result)
        sys.stderr.write("threshold %-22s %s (%s = %s)\n" % (
            t.text, "FAILED" if hit else "ok", t.metric, shown))
        bad += hit
    return EXIT_THRESHOLD if bad else EXIT_OK


# --------------------------------------------------------------- output ---

def _progress_printer(stream: Any) -> Callable[[Any], None]:
    def show(p: Any) -> None:
        # rps, p50 and p99 of one and the same (complete) second
        stream.write("[%4ds] %12s req/s   p50 %-9s p99 %-9s errors %d\n" % (
            p.second + 1, "{:,}".format(int(p.rps)), fmt_seconds(p.p50), fmt_seconds(p.p99),
            p.errors))
        stream.flush()
    return show


def write_csv(result: LoadResult, path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["second", "responses", "errors", "p50_ms", "p99_ms"])
        for s in result.timeline:
            w.writerow([s.second, s.responses, s.errors, "%.6f" % (s.p50 * 1e3),
                        "%.6f" % (s.p99 * 1e3)])


def _report(result: LoadResult, args: Any) -> int:
    print(result.table(latency_distribution=getattr(args, "latency", False)), flush=True)
    rate = result.config.get("rate")
    if rate and result.elapsed > 0.5:
        sent = result.requests / result.elapsed
        if sent < 0.95 * rate:
            sys.stderr.write(
                "urocket load: warning: the target rate was missed: asked for %s req/s, "
                "sent %s req/s (the server or the generator could not keep up; latency "
                "counts from each request's due time)\n" % (
                    "{:,}".format(int(rate)), "{:,}".format(int(sent))))
    if getattr(args, "csv", None):
        write_csv(result, args.csv)
        print("timeline written to %s" % args.csv, flush=True)
    if getattr(args, "plot", None):
        result.plot(args.plot)
        print("plot written to %s" % args.plot, flush=True)
    if args.json:
        print(json.dumps(result.to_json()), flush=True)
    rc = check_thresholds(result, args.thresholds)
    if result.responses == 0:
        errs = ", ".join("%s errors: %d" % (k, v) for k, v in result.errors.items() if v)
        sys.stderr.write("urocket load: no response received (%s)\n" % (errs or "no errors"))
        return EXIT_FAILED
    return rc


# ----------------------------------------------------------------- load ---

def _preflight(address: str, port: int, timeout: float) -> None:
    """One plain connect before the run, so a target that is down fails in
    well under 2 s instead of retrying for the whole run."""
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(min(timeout, 1.5))
        try:
            s.connect((address, port))
        except ConnectionRefusedError:
            raise UsageError("connection refused: %s port %d (is the server running?)"
                             % (address, port)) from None
        except socket.timeout:
            raise UsageError("connect to %s port %d timed out after %.1f s"
                             % (address, port, min(timeout, 1.5))) from None
        except OSError as exc:
            raise UsageError("cannot connect to %s port %d: %s"
                             % (address, port, exc.strerror or exc)) from None


def _build(args: Any) -> Tuple[str, Optional[int], Dict[str, Any]]:
    """Validates the flags; returns (target, port, LoadGenerator kwargs)."""
    from .loadgen import _check_cpu
    if args.target and args.host_flag:
        raise UsageError("give the target once: a URL or --host, not both")
    target = args.target or args.host_flag or "127.0.0.1"
    port = args.port
    if "://" not in target and port is None:
        raise UsageError("no target: give a URL (http://HOST:PORT/PATH) or --port")
    if args.threads > args.connections:
        raise UsageError("-t must be <= -c (got -t %d, -c %d): each thread needs a connection"
                         % (args.threads, args.connections))
    if args.processes > args.connections:
        raise UsageError("--processes must be <= -c (got --processes %d, -c %d)"
                         % (args.processes, args.connections))
    if args.cpu != -1:
        try:
            _check_cpu(args.cpu, args.threads)
        except ValueError as exc:
            raise UsageError("--" + str(exc)) from None
    if args.body is not None and args.body_file is not None:
        raise UsageError("--body and --body-file: give one")
    body = args.body.encode() if args.body is not None else None
    if args.body_file is not None:
        try:
            with open(args.body_file, "rb") as f:
                body = f.read()
        except OSError as exc:
            raise UsageError("--body-file %s: %s" % (args.body_file, exc.strerror)) from None
    if args.request is not None and (args.headers or body is not None or args.method != "GET"):
        raise UsageError("--request gives the raw bytes: no -H, -m, --body with it")
    from .loadgen import Request
    try:
        Request(args.method, "/", args.headers or None, body)  # -m and -H checked now
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    duration = args.duration
    if duration is None and args.requests is None:
        duration = 5.0
    if args.framing == "fixed" and not args.response_len:
        raise UsageError("--framing fixed needs --response-len")
    if args.framing == "delim" and not args.delim:
        raise UsageError("--framing delim needs --delim")
    kw = dict(connections=args.connections, threads=args.threads, duration=duration,
              requests=args.requests, rate=args.rate, request=args.request,
              method=args.method, headers=args.headers or None, body=body,
              framing=args.framing, response_len=args.response_len, delim=args.delim,
              timeout=args.timeout, cpu=args.cpu, ramp=args.ramp)
    return target, port, kw


def _child_argv(args: Any, url: str, share: Dict[str, Any], address: str) -> List[str]:
    argv = [sys.executable, "-m", "urocket", "load", url, "--json", "--quiet",
            "--no-preflight", "-c", str(share["connections"]), "-t", str(share["threads"]),
            "--timeout", "%gs" % args.timeout, "--framing", args.framing]
    if share["duration"] is not None:
        argv += ["-d", "%gs" % share["duration"]]
    if share["requests"] is not None:
        argv += ["-n", str(share["requests"])]
    if args.ramp:
        argv += ["--ramp", "%gs" % args.ramp]
    if share["rate"] is not None:
        argv += ["-R", repr(share["rate"])]
    if args.request is not None:
        argv += ["--request", args.request.decode("latin-1").encode("unicode_escape")
                 .decode("ascii")]
    argv += ["-m", args.method]
    for h in args.headers:
        argv += ["-H", h]
    if args.body is not None:
        argv += ["--body", args.body]
    if args.body_file is not None:
        argv += ["--body-file", args.body_file]
    if args.response_len:
        argv += ["--response-len", str(args.response_len)]
    if args.delim:
        argv += ["--delim", args.delim.decode("latin-1").encode("unicode_escape").decode()]
    return argv


def _split(total: int, n: int, i: int) -> int:
    return total // n + (1 if i < total % n else 0)


def _run_processes(args: Any, target: str, port: Optional[int], kw: Dict[str, Any]) -> LoadResult:
    from .loadgen import parse_target
    t = parse_target(target, port)
    host = "[%s]" % t.address if ":" in t.address else t.address
    # The children connect to the resolved address but keep the Host header.
    url = "http://%s:%d%s" % (host, t.port, t.path)
    n = args.processes
    procs = []
    for i in range(n):
        c = _split(kw["connections"], n, i)
        share = {"connections": c, "threads": min(kw["threads"], c),
                 "duration": kw["duration"],
                 "requests": _split(kw["requests"], n, i) if kw["requests"] else None,
                 "rate": kw["rate"] / n if kw["rate"] else None}
        if share["requests"] == 0:
            continue
        argv = _child_argv(args, url, share, t.address)
        if not any(h.lower().startswith("host:") for h in args.headers) and args.request is None:
            argv += ["-H", "Host: " + t.host_header]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for p in procs:
        out, err = p.communicate()
        lines = out.decode().strip().splitlines()
        try:
            results.append(LoadResult.from_json(json.loads(lines[-1])))
        except (IndexError, ValueError) as exc:
            raise RuntimeError("a generator process failed (exit %s): %s" % (
                p.returncode, err.decode().strip() or exc)) from None
    merged = merge_results(results)
    merged.config.update({"url": t.url if "://" in target else None, "host": t.host,
                          "port": t.port, "rate": kw["rate"]})
    return merged


def cmd_load(args: Any) -> int:
    import urocket
    try:
        args.thresholds = [Threshold(x) for x in args.fail_if]
        if args.plot:
            from ._plot import MISSING, have_matplotlib
            if not have_matplotlib():
                raise UsageError("--plot: %s" % MISSING)
        target, port, kw = _build(args)
        from .loadgen import parse_target
        t = parse_target(target, port)
        if not args.no_preflight:
            _preflight(t.address, t.port, args.timeout)
    except UsageError as exc:
        sys.stderr.write("urocket load: %s\n" % exc)
        return EXIT_USAGE
    except ValueError as exc:
        sys.stderr.write("urocket load: %s\n" % exc)
        return EXIT_USAGE
    if not args.quiet:
        mode = ("open loop at %s req/s" % "{:,}".format(int(kw["rate"]))) if kw["rate"] \
            else "closed loop"
        what = ("%g s" % kw["duration"]) if kw["duration"] else ""
        if kw["requests"]:
            what += (" or " if what else "") + "%d responses" % kw["requests"]
        procs = ", %d processes" % args.processes if args.processes > 1 else ""
        sys.stderr.write("load test of %s (%s port %d): %d connections, %d thread(s)%s, %s, "
                         "%s\n" % (t.url, t.address, t.port, kw["connections"], kw["threads"],
                                   procs, mode, what))
        sys.stderr.flush()
    if args.processes > 1:
        try:
            result = _run_processes(args, target, port, kw)
        except (RuntimeError, ValueError) as exc:
            sys.stderr.write("urocket load: %s\n" % exc)
            return EXIT_FAILED
        return _report(result, args)
    try:
        lg = urocket.LoadGenerator(target, port, **kw)
    except ValueError as exc:
        sys.stderr.write("urocket load: %s\n" % exc)
        return EXIT_USAGE
    except urocket.UrkError as exc:
        sys.stderr.write("urocket load: bad options: %s\n" % exc)
        return EXIT_USAGE
    with lg:
        progress = None if args.quiet else _progress_printer(sys.stderr)
        try:
            result = lg.run(progress=progress)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted: results so far\n")
            result = lg.result()
        except urocket.UrkError as exc:
            sys.stderr.write("urocket load: %s\n" % exc)
            return EXIT_FAILED
    return _report(result, args)


def add_load_parser(sub: Any) -> None:
    ld = sub.add_parser(
        "load", help="load-test a server with the C load generator",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=LOAD_EPILOG,
        description="Load-test a URL (or --host/--port). Progress every second on stderr, "
        "a table on stdout (non-2xx responses and errors spelled out); --json adds one "
        "JSON object as the last line.")
    ld.add_argument("target", nargs="?", default=None,
                    help="http://HOST[:PORT][/PATH] (or a host with --port)")
    ld.add_argument("--host", dest="host_flag", default=None, metavar="HOST",
                    help="host name or address (default 127.0.0.1; a URL is the other way)")
    ld.add_argument("--port", "-p", type=_port, default=None)
    ld.add_argument("--connections", "-c", type=_count("-c"), default=64,
                    metavar="N", help="connections in total (default 64)")
    ld.add_argument("--threads", "-t", type=_count("-t"), default=1,
                    metavar="N", help="generator threads, <= -c (default 1)")
    ld.add_argument("--duration", "-d", type=_seconds("s"), default=None, metavar="TIME",
                    help="run time: 10, 10s, 500ms, 2m (default 5 s, unless -n is given)")
    ld.add_argument("--requests", "-n", type=_count("-n"), default=None, metavar="N",
                    help="stop after exactly this many responses")
    ld.add_argument("--rate", "-R", "-r", type=_rate, default=None, metavar="REQ/S",
                    help="open loop: requests per second in total (default: closed loop)")
    ld.add_argument("--method", "-m", default="GET", help="HTTP method (default GET)")
    ld.add_argument("--header", "-H", dest="headers", action="append", default=[],
                    metavar="'NAME: VALUE'", help="add a request header (repeatable)")
    ld.add_argument("--body", default=None, help="request body (Content-Length is added)")
    ld.add_argument("--body-file", default=None, metavar="FILE", help="request body from FILE")
    ld.add_argument("--timeout", type=_seconds("s"), default=5.0, metavar="TIME",
                    help="per request and per connect: 5, 5s, 500ms (default 5 s)")
    ld.add_argument("--ramp", type=_seconds("s"), default=0.0, metavar="TIME",
                    help="start the connections spread over this time (load ramps up)")
    ld.add_argument("--latency", action="store_true",
                    help="print the latency distribution (p50 .. p99.99)")
    ld.add_argument("--request", type=_escaped_bytes, default=None,
                    help=r"raw request bytes, escapes allowed (instead of -m/-H/--body)")
    ld.add_argument("--framing", choices=("http", "fixed", "delim"), default="http")
    ld.add_argument("--response-len", type=_count("--response-len"), default=None,
                    help="response bytes with --framing fixed")
    ld.add_argument("--delim", type=_escaped_bytes, default=None,
                    help="response terminator with --framing delim")
    ld.add_argument("--cpu", type=_count("--cpu", lo=-1), default=-1,
                    help="pin thread i to CPU cpu+i")
    ld.add_argument("--processes", type=_count("--processes"), default=1, metavar="N",
                    help="run N generator processes on this machine (connections, rate and "
                    "-n split between them) and merge their results exactly")
    ld.add_argument("--fail-if", action="append", default=[], metavar="EXPR",
                    help="exit 3 when EXPR holds, e.g. 'p99>5ms', 'errors>0.1%%', "
                    "'non2xx>0' (repeatable; see below)")
    ld.add_argument("--json", action="store_true",
                    help="print the result as one JSON object on the last stdout line")
    ld.add_argument("--csv", metavar="FILE", default=None,
                    help="write the per-second timeline as CSV")
    ld.add_argument("--plot", metavar="FILE.png", default=None,
                    help="draw throughput over time and the latency distribution")
    ld.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    ld.add_argument("--no-preflight", action="store_true", help=argparse.SUPPRESS)
    ld.set_defaults(func=cmd_load)


# ---------------------------------------------------------------- merge ---

def _read_result(path: str) -> LoadResult:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise UsageError("%s: %s" % (path, exc.strerror)) from None
    candidates = [text] + [ln for ln in reversed(text.strip().splitlines()) if ln.strip()]
    for c in candidates:
        try:
            return LoadResult.from_json(json.loads(c))
        except (ValueError, TypeError, KeyError):
            continue
    raise UsageError("%s: no urocket load JSON result in it (write one with `load --json`)"
                     % path)


def cmd_merge(args: Any) -> int:
    try:
        args.thresholds = [Threshold(x) for x in args.fail_if]
        results = [_read_result(p) for p in args.files]
    except UsageError as exc:
        sys.stderr.write("urocket merge: %s\n" % exc)
        return EXIT_USAGE
    merged = merge_results(results)
    return _report(merged, args)


def add_merge_parser(sub: Any) -> None:
    mg = sub.add_parser(
        "merge", help="merge JSON results of several load runs (exact percentiles)",
        description="Combine `load --json` results taken at the same time on several "
        "processes or machines: counts add, latency histograms add bucket by bucket (so "
        "the percentiles are exact), the duration is the longest run's. Each FILE holds "
        "a result as its whole content or its last JSON line.")
    mg.add_argument("files", nargs="+", metavar="FILE")
    mg.add_argument("--json", action="store_true",
                    help="print the merged result as one JSON object on the last line")
    mg.add_argument("--latency", action="store_true", help="print the latency distribution")
    mg.add_argument("--csv", metavar="FILE", default=None, help="merged timeline as CSV")
    mg.add_argument("--fail-if", action="append", default=[], metavar="EXPR",
                    help="as for load: exit 3 when EXPR holds")
    mg.set_defaults(func=cmd_merge)

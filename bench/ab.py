#!/usr/bin/python3
"""A/B runs of engine features on the native example servers (issue 16).

Starts the workload's example server (build/examples/http_server; for the
echo workloads build/examples/echo_server, given the same --no-* flags) once
per run with each configuration in CONFIGS (every feature on, then each one
switched off by its --no-* flag),
rounds interleaved (the order rotates each round, so drift and warm-up hit
every configuration alike), server pinned to one CPU and the project's load
generator (`python3 -m urocket load`, closed loop, one thread) to another.
--workload picks what the generator sends (bench/workloads.py defines them):
  canned     one GET, the canned response back (default)
  pipelined  16 GETs in one write, 16 responses back; counted as 16 requests
  echo16k    a 16 KiB message echoed by echo_server; a "request" is a message
  echo64k    the same with 64 KiB
Each configuration's server is first checked (canned: the exact response,
split and doubled requests; pipelined: also 16 in one write; echo: byte-exact
1 B..64 KiB echoes); one that fails, or refuses a flag, is reported and not
measured. Per run: requests answered and the server's CPU seconds
(utime+stime of all its threads); per configuration and connection count the
medians of
  us/req    server CPU microseconds per request
  req/cpu-s requests per server CPU-second
and the ratio to the all-on configuration of the same run. Then, once per
configuration at the first connection count, a separate short run with
`strace -c -f` attached counts io_uring_enter calls per request (strace slows
the server: that run is not used for the CPU figures).

    /usr/bin/python3 bench/ab.py [--build DIR] [--workload canned|pipelined|echo16k|echo64k]
                                 [--conns 512,2048] [--rounds 5] [--duration 5]
                                 [--configs all-on,no-send-pool]
                                 [--no-strace] [--out FILE.md] [--json FILE]

Environment: BENCH_SERVER_CPU (0), BENCH_CLIENT_CPU (1), PYTHON.
Benchmark only: nothing here asserts on speed; run it on an idle machine.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.dont_write_bytecode = True
sys.path.insert(0, BENCH)
import run as br  # noqa: E402  (bench/run.py: Server, UrkLoad, /proc helpers)
import workloads as wl  # noqa: E402  (bench/workloads.py: the workloads and their checks)

WORKLOADS = ["canned", "pipelined", "echo16k", "echo64k"]

# name -> extra http_server arguments. The first is the reference.
CONFIGS = [
    ("all-on", []),
    ("no-send-pool", ["--no-send-pool"]),
    ("no-recv-bundle", ["--no-recv-bundle"]),
]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.environ.get("BUILD") or os.path.join(ROOT, "build"))
    p.add_argument("--workload", choices=WORKLOADS, default="canned",
                   help="what the load generator sends (default canned)")
    p.add_argument("--conns", default="512,2048")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="seconds per run")
    p.add_argument("--configs", default="", help="comma-separated subset of %s" % ", ".join(
        n for n, _ in CONFIGS))
    p.add_argument("--strace-duration", type=int, default=3)
    p.add_argument("--no-strace", action="store_true")
    p.add_argument("--out", default=None,
                   help="report file (default results/ab.md; results/ab-WORKLOAD.md for the "
                   "other workloads)")
    p.add_argument("--json", default="")
    return p.parse_args(argv)


def example(workload):
    return "echo_server" if wl.workload(workload)["kind"] == "echo" else "http_server"


def server_cmd(build, extra, workload="canned"):
    return [os.path.join(build, "examples", example(workload)), "--port", "{port}",
            "--reactors", "1"] + extra


def check(name, extra, workload, build, env, logdir, server_cpu, port):
    """None if the configuration's server answers the workload correctly,
    else why not."""
    srv = br.Server(name, server_cmd(build, extra, workload), env, server_cpu, logdir)
    srv.start(port)
    try:
        why = srv.wait_ready()
        if why:
            return "did not start: " + why
        if wl.workload(workload)["kind"] == "echo":
            ok, detail = wl.check_echo(port)
            return None if ok else "echo check: " + detail
        ok, detail, pipe_ok = wl.check_http(port)
        if not ok or (workload == "pipelined" and not pipe_ok):
            return "check: " + detail
        return None
    finally:
        srv.stop()


def one_run(name, extra, conns, duration, build, env, logdir, server_cpu, tool, port,
            workload="canned"):
    """One server start, one load run. Returns a result dict."""
    spec = wl.workload(workload)
    srv = br.Server(name, server_cmd(build, extra, workload), env, server_cpu, logdir)
    srv.start(port)
    try:
        why = srv.wait_ready()
        if why:
            return {"failed": why}
        cpu0 = br.settle_cpu(srv.pid)
        res = tool.run(port, conns, duration, spec["extra"])
        if "failed" in res:
            return res
        cpu = br.settle_cpu(srv.pid) - cpu0
        if not srv.alive():
            return {"failed": "server died: %s" % srv.log_tail()}
        n = res["requests"] * spec["per_trip"]
        res["requests"] = n
        res["rps"] = res["rps"] * spec["per_trip"]
        res["server_cpu"] = cpu
        res["us_per_req"] = cpu * 1e6 / n if n else None
        res["req_per_cpu_s"] = n / cpu if cpu > 0 else None
        return res
    finally:
        srv.stop()


def strace_enters(name, extra, conns, duration, build, env, logdir, server_cpu, tool, port,
                  workload="canned"):
    """io_uring_enter (and all syscalls) per request, from strace -c -f."""
    spec = wl.workload(workload)
    srv = br.Server(name, server_cmd(build, extra, workload), env, server_cpu, logdir)
    srv.start(port)
    out_path = os.path.join(logdir, "strace-%s-%d.txt" % (name, port))
    st = None
    try:
        why = srv.wait_ready()
        if why:
            return {"failed": why}
        st = subprocess.Popen(["strace", "-c", "-f", "-o", out_path, "-p", str(srv.pid)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        time.sleep(0.5)  # attached to every thread before the load starts
        if st.poll() is not None:
            return {"failed": "strace: %s" % st.stderr.read().decode("utf-8", "replace")[-200:]}
        res = tool.run(port, conns, duration, spec["extra"])
        if "failed" in res:
            return res
        st.send_signal(signal.SIGINT)
        st.wait(10)
        st = None
        calls = parse_strace_c(open(out_path).read())
        n = res["requests"] * spec["per_trip"] or 1
        return {"requests": n,
                "enter_per_req": calls.get("io_uring_enter", 0) / n,
                "syscalls_per_req": sum(calls.values()) / n}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"failed": "strace: %s" % e}
    finally:
        if st is not None:
            st.kill()
            st.wait()
        srv.stop()


WORKLOAD_TEXT = {
    "canned": "one GET per round trip, the canned response back",
    "pipelined": "%d GETs in one write, %d canned responses back (framed as one fixed-length "
                 "answer); every figure counts HTTP requests, %d per round trip" % (
                     wl.PIPELINE, wl.PIPELINE, wl.PIPELINE),
    "echo16k": "a 16 KiB message echoed back byte for byte by echo_server; a request is a "
               "message",
    "echo64k": "a 64 KiB message echoed back byte for byte by echo_server; a request is a "
               "message",
}


def parse_strace_c(text):
    """syscall -> calls from strace -c's table."""
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        # % time  seconds  usecs/call  calls  [errors]  syscall
        if len(parts) >= 5 and re.match(r"^[\d.]+$", parts[0]) and parts[-1] != "total":
            try:
                calls[parts[-1]] = int(parts[3])
            except ValueError:
                continue
    return calls


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "-" if v is None else spec.format(v)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.out is None:
        args.out = os.path.join(BENCH, "results", "ab.md" if args.workload == "canned"
                                else "ab-%s.md" % args.workload)
    build = os.path.abspath(args.build)
    exe = os.path.join(build, "examples", example(args.workload))
    if not os.path.exists(exe):
        print("missing %s: run `make lib examples`" % exe)
        return 2
    wanted = [c for c in args.configs.split(",") if c] or [n for n, _ in CONFIGS]
    unknown = [c for c in wanted if c not in dict(CONFIGS)]
    if unknown:
        print("unknown configs %s; known: %s" % (unknown, ", ".join(n for n, _ in CONFIGS)))
        return 2
    configs = [(n, a) for n, a in CONFIGS if n in wanted]
    conns_list = [int(c) for c in args.conns.split(",") if c]
    ncpu = os.cpu_count() or 1
    server_cpu = br.cpu_arg("BENCH_SERVER_CPU", "0") if ncpu > 1 else None
    client_cpu = br.cpu_arg("BENCH_CLIENT_CPU", "1") if ncpu > 1 else None
    br.raise_nofile(max(conns_list) + 1024)
    logdir = os.path.join(build, "bench", "logs")
    os.makedirs(logdir, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + (
        ":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    libs = sorted(f for f in os.listdir(build) if re.match(r"liburocket\.so\.\d+\.\d+\.\d+$", f))
    if libs:
        env.setdefault("URK_LIBRARY", os.path.join(build, libs[-1]))
    tool = br.UrkLoad(client_cpu, env)
    why = tool.available()
    if why:
        print("load generator unavailable: %s" % why)
        return 2

    port = br.free_port(19400)
    t0 = time.monotonic()
    refused = {}  # config -> why its server was not measured
    for name, extra in configs:
        port = br.free_port(port + 1)
        why = check(name, extra, args.workload, build, env, logdir, server_cpu, port)
        br.log("check %-20s %s" % (name, why or "ok"))
        if why:
            refused[name] = why
    measured = [(n, a) for n, a in configs if n not in refused]
    results = {}  # (config, conns) -> [run results]
    for conns in conns_list:
        for rnd in range(args.rounds if measured else 0):
            k = rnd % len(measured)
            for name, extra in measured[k:] + measured[:k]:
                port = br.free_port(port + 1)
                res = one_run(name, extra, conns, args.duration, build, env, logdir,
                              server_cpu, tool, port, args.workload)
                results.setdefault((name, conns), []).append(res)
                br.log("c=%d round %d %-20s %s" % (
                    conns, rnd + 1, name, res.get("failed") or "%d req, %.3f s CPU, %s us/req" % (
                        res["requests"], res["server_cpu"], fmt(res["us_per_req"], "{:.2f}"))))
    enters = {}
    if not args.no_strace:
        for name, extra in measured:
            port = br.free_port(port + 1)
            enters[name] = strace_enters(name, extra, conns_list[0], args.strace_duration, build,
                                         env, logdir, server_cpu, tool, port, args.workload)
            br.log("strace c=%d %-20s %s" % (conns_list[0], name, enters[name].get("failed") or
                                             "%.3f io_uring_enter/req" % enters[name]["enter_per_req"]))

    unit = "message" if wl.workload(args.workload)["kind"] == "echo" else "request"
    lines = ["# Engine feature A/B: workload `%s` (native %s, 1 reactor)" % (
                 args.workload, example(args.workload)), "",
             "Workload: %s." % WORKLOAD_TEXT[args.workload], "",
             "%s; server CPU %s, client CPU %s; load: `python3 -m urocket load` closed loop, "
             "1 thread; %d interleaved rounds of %d s; medians. Command: `%s`." % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), server_cpu, client_cpu,
                 args.rounds, args.duration, " ".join(
                     [br.PY, os.path.relpath(os.path.abspath(__file__), ROOT)] +
                     (sys.argv[1:] if argv is None else list(argv)))), ""]
    for name, why in refused.items():
        lines += ["- **%s not measured**: %s" % (name, why.replace("\n", " ")[:300])]
    if refused:
        lines.append("")
    lines += ["| config | conns | %ss/s | us server CPU/%s | %ss per server CPU-s | vs all-on | "
              "failed runs |" % (unit, unit, unit), "|---|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    for conns in conns_list:
        ref = med([r for r in results.get((configs[0][0], conns), []) if "failed" not in r],
                  "req_per_cpu_s")
        for name, _ in measured:
            rows = results.get((name, conns), [])
            ok = [r for r in rows if "failed" not in r]
            eff = med(ok, "req_per_cpu_s")
            s = {"rps": med(ok, "rps"), "us_per_req": med(ok, "us_per_req"),
                 "req_per_cpu_s": eff, "ratio": eff / ref if eff and ref else None,
                 "failed": len(rows) - len(ok)}
            summary["%s@%d" % (name, conns)] = s
            lines.append("| %s | %d | %s | %s | %s | %s | %d |" % (
                name, conns, fmt(s["rps"], "{:,.0f}"), fmt(s["us_per_req"], "{:.2f}"),
                fmt(eff, "{:,.0f}"), fmt(s["ratio"], "{:.3f}x"), s["failed"]))
    if enters:
        lines += ["", "io_uring_enter per %s at c=%d (separate run under `strace -c -f`):"
                  % (unit, conns_list[0]), "",
                  "| config | io_uring_enter/%s | syscalls/%s |" % (unit, unit), "|---|---:|---:|"]
        for name, _ in measured:
            e = enters[name]
            lines.append("| %s | %s | %s |" % (
                name, e.get("failed") or fmt(e.get("enter_per_req"), "{:.3f}"),
                fmt(e.get("syscalls_per_req"), "{:.3f}")))
    lines += ["", "Total %.0f s." % (time.monotonic() - t0)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "enters": enters,
                       "runs": {"%s@%d" % k: v for k, v in results.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

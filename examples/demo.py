#!/usr/bin/python3
"""uRocket demo (`make demo`): the canned-response HTTP server on the native
engine, load-tested for 5 seconds by uRocket's load generator scripted from
Python. Prints live progress and a summary table, and draws a plot.

Run with the library and examples built (`make demo` builds them first):
    URK_LIBRARY=build/liburocket.so.0.2.0 PYTHONPATH=python python3 examples/demo.py
Options: --duration SECONDS (default 5), --connections N (default 64),
--plot PATH (default build/demo.png).
"""
import argparse
import os
import select
import signal
import subprocess
import sys
import time

import urocket

RULE = "-" * 72


def show(path):
    """path relative to the current directory when it is under it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def find_server():
    """build/examples/http_server, next to the library that was loaded."""
    lib_dir = os.path.dirname(os.path.abspath(urocket.library_path))
    path = os.path.join(lib_dir, "examples", "http_server")
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path, lib_dir
    sys.exit("demo: %s not found: build it first with `make` (or run `make demo`)" % path)


def pick_cpus():
    """(server CPU, load generator CPU), or (None, None) with a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        return cpus[0], cpus[1]
    return None, None


def start_server(path, cpu):
    """Start the server on a free port; returns (process, port)."""
    argv = [path, "--host", "127.0.0.1", "--port", "0", "--reactors", "1"]
    pre = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=pre)
    deadline = time.monotonic() + 10
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    text = line.decode(errors="replace").strip()
    if not text.startswith("listening on "):
        proc.kill()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.wait()
        sys.exit("demo: the server did not start: %s %s" % (text, err))
    port = int(text.split()[2].rsplit(":", 1)[1])
    return proc, port, text


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()

    path, build_dir = find_server()
    plot_path = args.plot or os.path.join(build_dir, "demo.png")
    server_cpu, client_cpu = pick_cpus()

    print(RULE)
    print("uRocket %s demo: an io_uring HTTP server under load" % urocket.version_string())
    print(RULE)
    print("library       %s" % urocket.library_path)
    print("server        %s (native engine, 1 reactor)" % show(path))
    if server_cpu is not None:
        print("pinning       server on CPU %d, load generator on CPU %d"
              % (server_cpu, client_cpu))
    else:
        print("pinning       none (one CPU available)")

    proc, port, banner = start_server(path, server_cpu)
    try:
        print("server says   %s" % banner)
        print()
        print("Load test: %d keep-alive connections, closed loop, %g seconds"
              % (args.connections, args.duration))
        print("  urocket.loadtest('127.0.0.1', %d, connections=%d, duration=%g%s)"
              % (port, args.connections, args.duration,
                 ", cpu=%d" % client_cpu if client_cpu is not None else ""))
        print()

        def progress(p):
            print("  [%4.1fs] %10s responses/s   p50 %-9s  p99 %-9s  errors %d" % (
                p.elapsed, "{:,}".format(int(p.rps)), urocket.loadgen.fmt_seconds(p.p50),
                urocket.loadgen.fmt_seconds(p.p99), p.errors), flush=True)

        result = urocket.loadtest("127.0.0.1", port, connections=args.connections,
                                  duration=args.duration,
                                  cpu=client_cpu if client_cpu is not None else -1,
                                  progress=progress)
    finally:
        rc = stop_server(proc)

    print()
    print(RULE)
    print("Result")
    print(RULE)
    print(result.table())
    print(RULE)
    try:
        result.plot(plot_path, title="uRocket demo: native HTTP server, %d connections"
                    % args.connections)
        print("plot          %s (throughput over time, latency distribution)"
              % show(plot_path))
    except RuntimeError as exc:
        print("plot          skipped: %s" % exc)
    print("server        stopped (exit code %d)" % rc)
    print()
    print("Next: `python3 -m urocket serve --help` and `python3 -m urocket load --help`;")
    print("examples/loadtest_example.py load-tests any HTTP/1.1 server in ten lines.")
    if result.responses == 0 or result.error_count:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

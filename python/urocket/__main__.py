"""Command line: `python3 -m urocket serve ...` and `python3 -m urocket load ...`.

    python3 -m urocket serve --mode native|pull|asyncio --app http|echo --port 8080
    python3 -m urocket load --port 8080 --connections 64 --duration 5 [--json] [--plot out.png]
"""
import argparse
import codecs
import json
import os
import signal
import sys
import threading

import urocket
from urocket.loadgen import fmt_seconds


def _port(text):
    v = int(text)
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError("port must be in 0..65535")
    return v


def _positive_int(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def _positive_float(text):
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return v


def _escaped_bytes(text):
    """'GET / HTTP/1.1\\r\\n...' as typed in a shell -> bytes with the escapes decoded."""
    return codecs.escape_decode(text.encode())[0]


# ------------------------------------------------------------------ serve ---

def _example_binary(app):
    """(path of examples/<app>_server next to the loaded library (the build
    folder), places looked at); path is None when it is not there."""
    name = {"http": "http_server", "echo": "echo_server"}[app]
    places = []
    lib_path = urocket.library_path
    if os.sep in lib_path:
        for d in (os.path.dirname(os.path.realpath(lib_path)), os.path.dirname(lib_path)):
            places.append(os.path.join(d, "examples", name))
    seen = []
    for p in places:
        if p in seen:
            continue
        seen.append(p)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p, seen
    return None, seen


def _serve_native(args):
    path, looked = _example_binary(args.app)
    if path is None:
        where = ("looked for " + ", ".join(looked)) if looked else (
            "the library was loaded by name (%s): set URK_LIBRARY to the build "
            "folder's copy" % urocket.library_path)
        sys.stderr.write("urocket serve --mode native: the native %s server is not built; "
                         "run `make examples` (%s)\n" % (args.app, where))
        return 2
    argv = [path, "--host", args.host, "--port", str(args.port), "--reactors", str(args.reactors)]
    if args.app == "http":
        if args.sqpoll:
            argv.append("--sqpoll")
        if args.pin:
            argv.append("--pin")
    elif args.sqpoll or args.pin:
        sys.stderr.write("urocket serve: the native echo server has no --sqpoll/--pin\n")
        return 2
    sys.stdout.flush()
    os.execv(path, argv)   # the server itself then gets SIGTERM/SIGINT


def _engine_kwargs(args):
    kw = {"sqpoll": args.sqpoll}
    if args.pin:
        ncpu = os.cpu_count() or 1
        kw["reactor_cpus"] = [i % ncpu for i in range(args.reactors)]
    return kw


def _announce(host, port, reactors):
    print("listening on %s:%d with %d reactor(s)" % (host, port, reactors), flush=True)


def _serve_pull(args):
    from urocket.apps import serve_pull
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    engine = urocket.Engine(args.host, args.port, args.reactors, **_engine_kwargs(args))
    try:
        engine.start()
        _announce(args.host, engine.port, args.reactors)
        serve_pull(engine, args.app, stop, pin=args.pin)
        engine.stop(500)
    finally:
        engine.close()
    return 0


def _serve_asyncio(args):
    import asyncio

    import urocket.aio
    from urocket.apps import echo_handler, http_handler
    handler = http_handler if args.app == "http" else echo_handler
    if args.pin:
        os.sched_setaffinity(0, {0})

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await urocket.aio.start_server(handler, args.host, args.port, args.reactors,
                                                **_engine_kwargs(args))
        async with server:
            _announce(args.host, server.port, args.reactors)
            await stop.wait()

    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            sys.stderr.write("urocket serve: --loop uvloop needs uvloop "
                             "(Debian: apt-get install python3-uvloop)\n")
            return 2
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())
    return 0


def cmd_serve(args):
    if args.mode == "native":
        return _serve_native(args)
    if args.mode == "pull":
        return _serve_pull(args)
    return _serve_asyncio(args)


# ------------------------------------------------------------------- load ---

def _progress_printer(stream):
    def show(p):
        stream.write("[%5.1fs] %12s req/s   p50 %-9s p99 %-9s errors %d\n" % (
            p.elapsed, "{:,}".format(int(p.rps)), fmt_seconds(p.p50), fmt_seconds(p.p99),
            p.errors))
        stream.flush()
    return show


def cmd_load(args):
    if args.plot:
        from urocket._plot import MISSING, have_matplotlib
        if not have_matplotlib():
            sys.stderr.write("urocket load --plot: %s\n" % MISSING)
            return 2
    request = args.request if args.request is not None else (
        b"GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (args.host.encode(), args.port))
    duration = args.duration
    if duration is None and args.requests is None:
        duration = 5.0
    try:
        lg = urocket.LoadGenerator(
            args.host, args.port, connections=args.connections, threads=args.threads,
            duration=duration, requests=args.requests, rate=args.rate, request=request,
            framing=args.framing, response_len=args.response_len, delim=args.delim,
            timeout=args.timeout, cpu=args.cpu)
    except (ValueError, urocket.UrkError) as exc:
        sys.stderr.write("urocket load: bad options: %s\n" % exc)
        return 2
    with lg:
        if not args.quiet:
            mode = ("open loop at %s req/s" % "{:,}".format(int(args.rate))) if args.rate \
                else "closed loop"
            what = ("%g s" % duration) if duration else ""
            if args.requests:
                what += (" or " if what else "") + "%d responses" % args.requests
            sys.stderr.write("load test of %s:%d: %d connections, %d thread(s), %s, %s\n" % (
                args.host, args.port, args.connections, args.threads, mode, what))
            sys.stderr.flush()
        progress = None if args.quiet else _progress_printer(sys.stderr)
        try:
            result = lg.run(progress=progress)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted: results so far\n")
            result = lg.result()
        except urocket.UrkError as exc:
            sys.stderr.write("urocket load: %s\n" % exc)
            return 1
    print(result.table(), flush=True)
    if args.plot:
        result.plot(args.plot)
        print("plot written to %s" % args.plot, flush=True)
    if args.json:
        print(json.dumps(result.to_json()), flush=True)
    if result.responses == 0:
        errs = ", ".join("%s errors: %d" % (k, v) for k, v in result.errors.items() if v)
        sys.stderr.write("urocket load: no response received (%s)\n" % (errs or "no errors"))
        return 1
    return 0


# ------------------------------------------------------------------- main ---

def build_parser():
    p = argparse.ArgumentParser(prog="python3 -m urocket",
                                description="uRocket: io_uring networking engine")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the canned-response HTTP server or an echo server",
                       description="Serve the benchmark's canned HTTP response (one per "
                       "request) or echo, on the uRocket engine. Prints 'listening on "
                       "HOST:PORT'; stops cleanly on SIGINT/SIGTERM.")
    s.add_argument("--mode", choices=("native", "pull", "asyncio"), default="pull",
                   help="native: the C example server (build/examples); pull: a Python "
                   "pull loop over the engine; asyncio: urocket.aio (default: pull)")
    s.add_argument("--app", choices=("http", "echo"), default="http")
    s.add_argument("--host", default="127.0.0.1", help="numeric address (default 127.0.0.1)")
    s.add_argument("--port", type=_port, default=8080, help="0 picks a free port (default 8080)")
    s.add_argument("--reactors", type=_positive_int, default=1)
    s.add_argument("--sqpoll", action="store_true", help="kernel SQ polling threads")
    s.add_argument("--pin", action="store_true", help="pin reactor i to CPU i")
    s.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="event loop of --mode asyncio")
    s.set_defaults(func=cmd_serve)

    ld = sub.add_parser("load", help="load-test a server with the C load generator",
                        description="Load-test HOST:PORT. Progress every second on stderr, "
                        "a table on stdout; --json adds one JSON object as the last line.")
    ld.add_argument("--host", default="127.0.0.1", help="numeric address (default 127.0.0.1)")
    ld.add_argument("--port", type=_port, required=True)
    ld.add_argument("--connections", "-c", type=_positive_int, default=64)
    ld.add_argument("--threads", "-t", type=_positive_int, default=1)
    ld.add_argument("--duration", "-d", type=_positive_float, default=None,
                    help="seconds (default 5, unless --requests is given)")
    ld.add_argument("--requests", "-n", type=_positive_int, default=None,
                    help="stop after exactly this many responses")
    ld.add_argument("--rate", "-r", type=_positive_float, default=None,
                    help="open loop: requests per second in total (default: closed loop)")
    ld.add_argument("--timeout", type=_positive_float, default=5.0,
                    help="seconds per request and connect (default 5)")
    ld.add_argument("--request", type=_escaped_bytes, default=None,
                    help=r"request bytes, escapes allowed (default 'GET / HTTP/1.1\r\n"
                    r"Host: HOST:PORT\r\n\r\n')")
    ld.add_argument("--framing", choices=("http", "fixed", "delim"), default="http")
    ld.add_argument("--response-len", type=_positive_int, default=None,
                    help="response bytes with --framing fixed")
    ld.add_argument("--delim", type=_escaped_bytes, default=None,
                    help="response terminator with --framing delim")
    ld.add_argument("--cpu", type=int, default=-1, help="pin thread i to CPU cpu+i")
    ld.add_argument("--json", action="store_true",
                    help="print the result as one JSON object on the last stdout line")
    ld.add_argument("--plot", metavar="FILE.png", default=None,
                    help="draw throughput over time and the latency distribution")
    ld.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    ld.set_defaults(func=cmd_load)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except urocket.UrkError as exc:
        sys.stderr.write("urocket %s: %s\n" % (args.command, exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python3 -m urocket serve ...`, `load ...` and `merge ...`.

    python3 -m urocket serve --mode native|pull|asyncio --app http|echo --port 8080
    python3 -m urocket load http://localhost:8080/ -c 64 -d 5s [--json] [--fail-if 'p99>5ms']
    python3 -m urocket merge a.json b.json
"""
import argparse
import os
import signal
import sys
import threading

import urocket
from urocket._loadgen_cli import add_load_parser, add_merge_parser


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


# ------------------------------------------------------------ load, merge ---
# `load` and `merge` live in urocket/_loadgen_cli.py.

# ------------------------------------------------------------------- main ---

def build_parser():
    # The installed console script is `urocket`; in a checkout it is `python3 -m urocket`.
    prog = "urocket" if os.path.basename(sys.argv[0]) == "urocket" else "python3 -m urocket"
    p = argparse.ArgumentParser(prog=prog,
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

    add_load_parser(sub)
    add_merge_parser(sub)
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

#!/usr/bin/python3
"""The asyncio-streams benchmark server (asyncio_server.py --mode streams:
the same handle_stream coroutine, reader/writer and all) served by
urocket.aio.start_server instead of asyncio.start_server: the streams
adapter on the uRocket engine, on asyncio's loop or on uvloop.

    urocket_streams.py --port P [--host 127.0.0.1] [--loop asyncio|uvloop]
                       [--reactors 1] [--cpu C]
"""
import argparse
import asyncio
import os
import sys

sys.dont_write_bytecode = True   # keep bench/servers free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from asyncio_server import handle_stream  # noqa: E402

from urocket.aio import start_server  # noqa: E402  (was: from asyncio import start_server)


async def serve(args):
    server = await start_server(handle_stream, args.host, args.port, args.reactors,
                                reuse_port=True, backlog=4096)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--reactors", type=int, default=1)
    ap.add_argument("--cpu", type=int, default=-1)
    args = ap.parse_args()
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            sys.exit("uvloop is not installed (Debian: python3-uvloop)")
        uvloop.install()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

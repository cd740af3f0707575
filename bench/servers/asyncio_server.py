#!/usr/bin/python3
"""asyncio / uvloop benchmark server (issue 6): same protocol as epoll_server.c.

One BENCH_RESPONSE (parsed from response.h, so every server sends the same
bytes) per complete request, counted by "\\r\\n\\r\\n" terminators, including a
terminator split across reads.

    asyncio_server.py --port P [--host 127.0.0.1] [--mode protocol|streams]
                      [--loop asyncio|uvloop] [--threads 1] [--cpu C]
"""
import argparse
import asyncio
import os
import re
import sys

TERM = b"\r\n\r\n"
HERE = os.path.dirname(os.path.abspath(__file__))


def load_response(path=os.path.join(HERE, "response.h")):
    """The BENCH_RESPONSE string literal(s) from response.h, C escapes decoded."""
    with open(path, encoding="ascii") as f:
        text = f.read()
    m = re.search(r'^#define BENCH_RESPONSE((?:\s*"(?:[^"\\]|\\.)*")+)', text, re.M)
    if not m:
        raise SystemExit("BENCH_RESPONSE not found in " + path)
    body = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    return body.encode("ascii").decode("unicode_escape").encode("latin-1")


RESPONSE = load_response()


def count_requests(data):
    """(complete requests in data, bytes to carry into the next read).

    The carry is at most the last 3 bytes after the last terminator: enough to
    complete a terminator split across reads, never enough to recount one."""
    n = data.count(TERM)
    if data.endswith(TERM):
        return n, b""
    last = data.rfind(TERM)
    rest = data[last + 4:] if last >= 0 else data
    return n, rest[-3:]


class CannedProtocol(asyncio.Protocol):
    __slots__ = ("transport", "carry")

    def connection_made(self, transport):
        self.transport = transport
        self.carry = b""

    def data_received(self, data):
        if self.carry:
            data = self.carry + data
        n, self.carry = count_requests(data)
        if n == 1:
            self.transport.write(RESPONSE)
        elif n:
            self.transport.write(RESPONSE * n)

    def connection_lost(self, exc):
        self.transport = None


async def handle_stream(reader, writer):
    carry = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if carry:
                data = carry + data
            n, carry = count_requests(data)
            if n:
                writer.write(RESPONSE if n == 1 else RESPONSE * n)
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(args):
    loop = asyncio.get_running_loop()
    if args.mode == "protocol":
        server = await loop.create_server(CannedProtocol, args.host, args.port,
                                          reuse_port=True, backlog=4096)
    else:
        server = await asyncio.start_server(handle_stream, args.host, args.port,
                                            reuse_port=True, backlog=4096)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mode", choices=("protocol", "streams"), default="protocol")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--threads", type=int, default=1,
                    help="only 1: an event loop is single-threaded")
    ap.add_argument("--cpu", type=int, default=-1)
    args = ap.parse_args()
    if args.threads != 1:
        ap.error("--threads must be 1 (one event loop, one thread)")
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

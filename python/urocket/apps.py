"""The two demo applications of `python3 -m urocket serve`, in pull mode and
on asyncio: the canned-response HTTP server of the benchmark (one fixed
"HTTP/1.1 200 OK ... Hello, World!" per request, a request being anything
ending with a blank line; no other parsing) and an echo server.

    engine = urocket.Engine(port=8080)
    with engine:
        stop = threading.Event()
        pull_loop(engine.reactors[0], "http", stop)   # until stop is set + wake()
"""
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from urocket._ffi import ffi
from urocket.engine import EV_CLOSED, EV_DATA, EV_WRITABLE
from urocket.errors import UrkError

if TYPE_CHECKING:
    from urocket._aioconn import Connection
    from urocket.engine import Engine, Reactor

__all__ = ["RESPONSE", "count_requests", "pull_loop", "http_handler", "echo_handler", "APPS"]

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
TERM = b"\r\n\r\n"
APPS = ("http", "echo")
_RESPONSES = [b""] + [RESPONSE * k for k in range(1, 65)]
_EAGAIN = 11


def _responses(n: int) -> bytes:
    return _RESPONSES[n] if n < len(_RESPONSES) else RESPONSE * n


def count_requests(data: bytes) -> Tuple[int, bytes]:
    """(complete requests in data, bytes to carry into the next read). The
    carry is at most the tail that could start a terminator split across
    reads, never enough to count one twice."""
    n = data.count(TERM)
    if data.endswith(TERM):
        return n, b""
    last = data.rfind(TERM)
    rest = data[last + 4:] if last >= 0 else data
    return n, rest[-3:]


def pull_loop(reactor: "Reactor", app: str, stop: threading.Event,
              pin_cpu: Optional[int] = None) -> None:
    """Serve `app` ("http" or "echo") on one reactor from this thread until
    `stop` (a threading.Event) is set and the reactor woken. Per batch:
    one poll, one send_batch, one release."""
    if app not in APPS:
        raise ValueError("app must be one of %s" % (APPS,))
    if pin_cpu is not None:
        os.sched_setaffinity(0, {pin_cpu})   # this thread only
    poll = reactor.poll
    send_batch = reactor.send_batch
    release = reactor.release
    http = app == "http"
    carry: Dict[int, bytes] = {}   # http: conn -> partial terminator
    paused: Set[int] = set()       # echo: conns paused until WRITABLE
    while not stop.is_set():
        batch = poll(256, -1)
        n = len(batch)
        if not n:
            continue
        arr = batch.raw
        sends: List[Tuple[int, bytes]] = []
        nbufs = 0
        for i, (conn, typ, _res, _p, ln, _buf, _u) in enumerate(batch.tuples()):
            if typ == EV_DATA:
                nbufs += 1
                data = ffi.buffer(arr[i].data, ln)[:]
                if http:
                    if carry:
                        prev = carry.pop(conn, None)
                        if prev:
                            data = prev + data
                    k = data.count(TERM)
                    if not data.endswith(TERM):
                        k, tail = count_requests(data)
                        if tail:
                            carry[conn] = tail
                    if k:
                        sends.append((conn, _responses(k)))
                else:
                    sends.append((conn, data))
            elif typ == EV_CLOSED:
                carry.pop(conn, None)
                paused.discard(conn)
            elif typ == EV_WRITABLE and conn in paused:
                paused.discard(conn)
                _quietly(reactor.resume_recv, conn)
        if sends and send_batch(sends) < len(sends):
            _over_limit(reactor, sends, http, paused)
        if nbufs:
            release(batch)


def _over_limit(reactor: "Reactor", sends: List[Tuple[int, bytes]], http: bool,
                paused: Set[int]) -> None:
    for i, exc in reactor.failures():
        conn = sends[i][0]
        if exc.errno != _EAGAIN:
            continue   # stale or closing: its CLOSED event follows
        if http:
            # A client that never reads its responses: like the native example.
            _quietly(reactor.close, conn, True)
        else:
            # Echo: the bytes were received, they must not be lost. Queue them
            # over the limit and stop reading until the peer drains.
            _quietly(reactor.send, conn, sends[i][1], 4)   # URK_SEND_FORCE
            if conn not in paused:
                paused.add(conn)
                _quietly(reactor.pause_recv, conn)


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except UrkError:
        pass


async def http_handler(conn: "Connection") -> None:
    """asyncio handler of the canned-response server."""
    carry = b""
    while True:
        data = await conn.recv()
        if not data:
            return
        if carry:
            data = carry + data
        n, carry = count_requests(data)
        if n:
            conn.write(_responses(n))
            await conn.drain()


async def echo_handler(conn: "Connection") -> None:
    """asyncio echo handler."""
    while True:
        data = await conn.recv()
        if not data:
            return
        conn.write(data)
        await conn.drain()


def serve_pull(engine: "Engine", app: str, stop: threading.Event, pin: bool = False) -> None:
    """Run pull_loop on every reactor of a started engine, one thread each,
    until stop is set; returns once every thread has ended."""
    cpus = os.sched_getaffinity(0)
    ncpu = os.cpu_count() or 1
    threads = []
    for r in engine.reactors:
        cpu = (r.index % ncpu) if pin else None
        if cpu is not None and cpu not in cpus:
            cpu = None
        t = threading.Thread(target=pull_loop, args=(r, app, stop, cpu),
                             name="urocket-pull-%d" % r.index, daemon=True)
        t.start()
        threads.append(t)
    try:
        stop.wait()
    finally:
        stop.set()
        for r in engine.reactors:
            r.wake()
        for t in threads:
            t.join()

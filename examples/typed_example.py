"""A typed uRocket program, checked with `mypy --strict` by
tests/python/test_package.py: an asyncio-streams HTTP server on the engine
(urocket.aio), a client for it, the pull-mode urocket.Engine, and a load test
of the server (urocket.loadtest). Run: typed_example.py [REQUESTS]"""
import asyncio
import socket
import sys
import threading
from typing import List, Tuple

import urocket
import urocket.aio
from urocket.aio import StreamReader, StreamWriter

BODY = b"hello from uRocket\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(BODY), BODY))


async def http(reader: StreamReader, writer: StreamWriter) -> None:
    """Answers every request of a keep-alive connection with RESPONSE."""
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


async def get(host: str, port: int) -> Tuple[bytes, bytes]:
    """(status line, body) of GET / on host:port."""
    reader, writer = await urocket.aio.open_connection(host, port)
    writer.write(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()
    return status.rstrip(), body


def pull_echo(message: bytes) -> bytes:
    """One echo through the pull-mode engine: poll, send back, release."""
    with urocket.Engine("127.0.0.1", 0, reactors=1) as engine:
        reactor = engine.reactors[0]
        client = socket.create_connection(("127.0.0.1", engine.port))
        with client:
            client.sendall(message)
            echoed = 0
            while echoed < len(message):
                batch = reactor.poll(64, timeout_ms=1000)
                replies: List[Tuple[int, bytes]] = [
                    (batch.conn(i), batch.bytes(i)) for i in range(len(batch))
                    if batch.type(i) == urocket.EV_DATA]
                reactor.send_batch(replies)
                reactor.release(batch)
                echoed += sum(len(data) for _, data in replies)
            reactor.flush()
            return client.recv(len(message), socket.MSG_WAITALL)


def load(port: int, requests: int) -> Tuple[int, float, int]:
    """(responses, responses per second, errors) of a load test of port."""
    result = urocket.loadtest("127.0.0.1", port, connections=4, requests=requests)
    return result.responses, result.rps, result.error_count


async def main(requests: int) -> int:
    server = await urocket.aio.start_server(http, "localhost", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        status, body = await get("localhost", port)
        print(status.decode(), body.decode().strip())

        # The load generator blocks: run it on a thread while the loop serves.
        responses, rps, errors = await asyncio.to_thread(load, port, requests)
        print(f"{responses} responses, {rps:,.0f}/s, errors: {errors}")
    print(pull_echo(b"ping through the pull-mode engine").decode())
    return 0 if status.endswith(b"200 OK") and body == BODY and errors == 0 else 1


if __name__ == "__main__":
    assert threading.current_thread() is threading.main_thread()
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))

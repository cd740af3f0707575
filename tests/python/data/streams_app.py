"""A plain asyncio-streams program: an echo server, a line server, a tiny
HTTP/1.1 server and an HTTP/1.1 client, written against the standard
library only. tests/python/test_aio_streams.py runs it as it is and with
the one import line below changed to `from urocket.aio import ...`."""
import asyncio
from asyncio import open_connection, start_server


async def handle_echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def handle_lines(reader, writer):
    async for line in reader:
        writer.write(line.upper())
        await writer.drain()
    writer.close()


async def handle_sum(reader, writer):
    """Reads everything up to the client's EOF, then answers (half-close)."""
    data = await reader.read()
    writer.write(b"%d bytes, sum %d\n" % (len(data), sum(data)))
    await writer.drain()
    writer.close()


async def handle_http(reader, writer):
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            break
        request_line = head.split(b"\r\n", 1)[0]
        method, path, _version = request_line.split(b" ", 2)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        reply = b"%s %s %d" % (method, path, len(body))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))
        await writer.drain()
    writer.close()


async def serve(handler, host="127.0.0.1", port=0):
    server = await start_server(handler, host, port)
    return server, server.sockets[0].getsockname()[1]


async def echo_roundtrip(host, port, payload, chunk=16384):
    reader, writer = await open_connection(host, port)

    async def send():
        for off in range(0, len(payload), chunk):
            writer.write(payload[off:off + chunk])
            await writer.drain()

    sender = asyncio.ensure_future(send())
    got = await reader.readexactly(len(payload))
    await sender
    writer.close()
    await writer.wait_closed()
    return got


async def lines_roundtrip(host, port, lines):
    reader, writer = await open_connection(host, port)
    writer.writelines(lines)
    got = [await reader.readline() for _ in lines]
    writer.close()
    await writer.wait_closed()
    return got


async def sum_roundtrip(host, port, payload):
    reader, writer = await open_connection(host, port)
    writer.write(payload)
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def http_get(host, port, paths, body=b""):
    """One keep-alive connection, one request per path; (status, headers,
    body) for each."""
    reader, writer = await open_connection(host, port)
    results = []
    for path in paths:
        method = b"POST" if body else b"GET"
        writer.write(b"%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (
            method, path.encode(), host.encode(), port))
        if body:
            writer.write(b"Content-Length: %d\r\n" % len(body))
        writer.write(b"\r\n" + body)
        await writer.drain()
        status = await reader.readline()
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        results.append((status.split(b" ", 2)[1], headers, await reader.readexactly(length)))
    writer.close()
    await writer.wait_closed()
    return results

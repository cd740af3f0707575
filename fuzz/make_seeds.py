#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ for the libFuzzer targets.

Deterministic; rerun after changing an input format in fuzz/*.c. The option
seeds take their struct bytes from the library's own *_opts_init defaults
(through the Python binding), so they start from valid options.

    URK_LIBRARY=build/liburocket.so.0.2.0 PYTHONPATH=python \
        /usr/bin/python3 fuzz/make_seeds.py
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame_seeds():
    FIXED, DELIM, HTTP = 1, 2, 3
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
    http = [
        ok, ok * 3,
        b"HTTP/1.1 204 No Content\r\n\r\n" + ok,
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok,
        b"HTTP/1.0 304 Not Modified\nETag: x\n\n",
        b"HTTP/1.1 200 OK\r\ncontent-length:  0 \r\nX-A: b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100 + b"\r\nContent-Length: 1\r\n\r\nz",
        b"garbage",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n" + ok,
        b"HTTP/1.1 404 NF\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n"
        b"A \r\n0123456789\n0\n\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.0 503 Busy\r\n\r\nclose-delimited body",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil the close",
        b"HTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 304 NM\r\nContent-Length: 9\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    ]
    for i, body in enumerate(http):
        write("frame", bytes([HTTP, i & 1, i, 7]) + body)
    write("frame", bytes([HTTP, 1, 0, 3]) + b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" * 2)
    write("frame", bytes([FIXED, 13, 1, 2]) + b"x" * 40)
    write("frame", bytes([FIXED, 1, 9, 9]) + b"abc")
    write("frame", bytes([DELIM, 3, 5, 5]) + b"aab" + b"aaabaabxaab")
    write("frame", bytes([DELIM, 2, 6, 1]) + b"\r\n" + b"line\r\nline\r\n\r")
    write("frame", bytes([0, 0, 0, 0]) + b"x")


def addr_seeds():
    for host in [b"127.0.0.1", b"::1", b"[::1]", b"[127.0.0.1]", b"::ffff:1.2.3.4",
                 b"fe80::1%lo", b"1.2.3", b"0x7f.1", b"255.255.255.255", b"[", b"[]",
                 b"2001:db8::1:0:0:1", b"::", b"0.0.0.0", b" 1.2.3.4", b"1.2.3.4 ",
                 b"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"]:
        write("addr", struct.pack(">H", 8080) + host)
    raw4 = struct.pack("<H", 2) + struct.pack(">H", 80) + bytes([127, 0, 0, 1])
    write("addr", b"\x00\x50" + (raw4 + bytes(128 - len(raw4)) + struct.pack("<II", 16, 0)))
    raw6 = struct.pack("<H", 10) + struct.pack(">H", 443) + bytes(4) + bytes(15) + b"\x01"
    write("addr", b"\x01\xbb" + (raw6 + bytes(128 - len(raw6)) + struct.pack("<II", 28, 0)))


def opts_seeds():
    from urocket import ffi, lib
    seeds = []
    ro = ffi.new("urk_ring_opts_t *")
    lib.urk_ring_opts_init(ro)
    ring = bytes(ffi.buffer(ro))
    # [selector] struct, then: flag mask byte, size selector (3), tail choice
    seeds.append(bytes([0]) + ring + bytes([1, 0, 0, 0]))
    ro.flags = 2  # NO_DEFER_TASKRUN
    seeds.append(bytes([0]) + bytes(ffi.buffer(ro)) + bytes([1, 0, 0, 0]))
    ro.flags = 1  # SQPOLL
    ro.sqpoll_idle_ms = 1
    seeds.append(bytes([0]) + bytes(ffi.buffer(ro)) + bytes([1, 0, 0, 0]))
    seeds.append(bytes([0]) + ring + bytes([1, 200, 0, 40, 0]))   # smaller struct
    seeds.append(bytes([0]) + ring + bytes([1, 200, 0, 100, 0]))  # larger, zero tail

    bo = ffi.new("urk_bufring_opts_t *")
    lib.urk_bufring_opts_init(bo)
    bo.count = 8
    bo.group_id = 7
    seeds.append(bytes([1]) + bytes(ffi.buffer(bo)) + bytes([1, 0, 0, 0]))
    bo.flags = 1  # INC
    seeds.append(bytes([1]) + bytes(ffi.buffer(bo)) + bytes([1, 0, 0, 0]))

    eo = ffi.new("urk_engine_opts_t *")
    lib.urk_engine_opts_init(eo)
    eo.buf_count = 16
    eo.max_conns = 4
    eng = bytes(ffi.buffer(eo))
    # host selector 35 -> "127.0.0.1"; cpus 0; flag mask 1; size 0,0,0; start
    seeds.append(bytes([2]) + eng + bytes([35, 0, 1, 0, 0, 0, 1]))
    seeds.append(bytes([2]) + eng + bytes([36, 0, 1, 0, 0, 0, 0]))  # "::1"
    eo.flags = 1 << 1 | 1 << 6  # REUSEPORT, NO_DEFER_TASKRUN
    eo.reactors = 2
    seeds.append(bytes([2]) + bytes(ffi.buffer(eo)) + bytes([35, 1] + [0xff] * 64 +
                                                         [1, 0, 0, 0, 1]))
    eo.flags = 1 << 2  # NO_LISTEN
    seeds.append(bytes([2]) + bytes(ffi.buffer(eo)) + bytes([0, 0, 1, 0, 0, 0, 1]))

    lo = ffi.new("urk_loadgen_opts_t *")
    lib.urk_loadgen_opts_init(lo)
    lo.port = 8080
    lo.connections = 4
    lo.request_len = 4
    lo.max_requests = 10
    lg = bytes(ffi.buffer(lo))
    # host 35; flag mask 1; framing byte 0 (kept); request: choose, 4 bytes;
    # delim: skip (255); size 0,0,0
    seeds.append(bytes([3]) + lg + bytes([35, 1, 0, 0]) + b"GET " + bytes([255, 0, 0, 0]))
    lo.framing = 2  # DELIM
    lo.delim_len = 2
    seeds.append(bytes([3]) + bytes(ffi.buffer(lo)) + bytes([35, 1, 0, 0]) + b"PING" +
                 bytes([0]) + b"\r\n" + bytes([0, 0, 0]))
    for s in seeds:
        write("opts", s)


if __name__ == "__main__":
    frame_seeds()
    addr_seeds()
    opts_seeds()

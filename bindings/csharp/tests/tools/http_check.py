#!/usr/bin/python3
"""Checks the AOT http_server: its response is byte-identical to
bench/servers/response.h's BENCH_RESPONSE, pipelined requests sent in one
write are all answered (in order, nothing else), `wrk -c512 -d3s` sees no
errors, --alloc-report prints a line per reactor, SIGTERM exits 0.

  http_check.py HTTP_SERVER RESPONSE_H
"""
import ast, os, re, signal, socket, subprocess, sys, threading, time

def bench_response(path):
    m = re.search(r'#define BENCH_RESPONSE (".*")\s*$', open(path).read(), re.M)
    return ast.literal_eval(m.group(1)).encode("ascii")

def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, found = [], {}
    def reader():
        for line in p.stdout:
            lines.append(line)
            m = re.search(r"listening on (\S+):(\d+)", line)
            if m and "port" not in found:
                found["port"] = int(m.group(2))
    threading.Thread(target=reader, daemon=True).start()
    deadline = time.time() + 60
    while "port" not in found and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if "port" not in found:
        p.kill()
        sys.exit("http_check: FAIL: no 'listening on' line: " + "".join(lines))
    return p, found["port"], lines

def fail(p, lines, why):
    p.kill()
    sys.stdout.write("".join(lines[-20:]))
    sys.exit("http_check: FAIL: " + why)

def main():
    server, response_h = sys.argv[1], sys.argv[2]
    expected = bench_response(response_h)
    # --help exits 0 and lists every switch (bench/dotnet_servers.py picks this
    # binary for a variant only when its --help lists the variant's flag).
    h = subprocess.run([server, "--help"], capture_output=True, timeout=30)
    for flag in ("--sqpoll", "--pipelines", "--no-context", "--alloc-report"):
        if h.returncode != 0 or flag.encode() not in h.stdout:
            sys.exit("http_check: FAIL: --help (exit %d) does not list %s: %r" % (h.returncode, flag, h.stdout + h.stderr))
    for mode in ([], ["--pipelines"], ["--no-context"], ["--pipelines", "--no-context"], ["--sqpoll"]):
        check(server, expected, mode)

def check(server, expected, mode):
    p, port, lines = start([server, "--port", "0", "--reactors", "2", "--alloc-report"] + mode)
    # Pipelining: 5 requests in one write, split oddly across two more.
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(req * 5)
        s.sendall(req[:10])
        time.sleep(0.05)
        s.sendall(req[10:] + req)
        want = expected * 7
        got = b""
        while len(got) < len(want):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.settimeout(0.3)
        try:
            extra = s.recv(65536)
        except socket.timeout:
            extra = b""
        if got != want or extra:
            fail(p, lines, f"pipelined responses differ from 7 x BENCH_RESPONSE ({len(got)} bytes, {len(extra)} extra)")
    w = subprocess.run(["wrk", "-t2", "-c512", "-d3s", f"http://127.0.0.1:{port}/"],
                       capture_output=True, text=True, timeout=120)
    out = w.stdout + w.stderr
    m = re.search(r"(\d+) requests in", out)
    if w.returncode != 0 or not m or int(m.group(1)) == 0 or "Socket errors" in out or "Non-2xx" in out:
        fail(p, lines, "wrk -c512 reported errors or no requests:\n" + out)
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail(p, lines, "no exit within 60 s of SIGTERM")
    time.sleep(0.1)
    reports = [l for l in lines if l.startswith("alloc-report:")]
    if rc != 0:
        fail(p, lines, f"exit status {rc} after SIGTERM")
    if len(reports) != (1 if "--no-context" in mode else 2):
        fail(p, lines, "--alloc-report printed no report")
    print(f"http_check {' '.join(mode) or '(default)'}: ok: byte-identical pipelined responses, "
          f"wrk -c512: {m.group(1)} requests, no errors, exit 0")
    for r in reports:
        print("http_check: " + r.strip())

if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Checks an ASP.NET Core app on UseUrocket() from the outside: it prints
"listening on http://127.0.0.1:PORT", answers GET / and GET /json, echoes a
random 1 MiB POST /echo byte-exact, serves `wrk -c512 -d3s` with no socket
error and no non-2xx response, and exits 0 on SIGINT. Kestrel's own
"Now listening on: http://127.0.0.1:PORT" line counts too.

  aspnet_check.py [--no-json] -- COMMAND [ARGS...]   (the command binds port 0)
"""
import os, random, re, signal, subprocess, sys, threading, time, urllib.request

def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, found = [], {}
    def reader():
        for line in p.stdout:
            lines.append(line)
            m = re.search(r"listening on:? http://127\.0\.0\.1:(\d+)", line, re.I)
            if m and "port" not in found:
                found["port"] = int(m.group(1))
    threading.Thread(target=reader, daemon=True).start()
    deadline = time.time() + 300  # `dotnet run` restores and builds first
    while "port" not in found and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if "port" not in found:
        p.kill()
        sys.exit("aspnet_check: FAIL: no 'listening on' line:\n" + "".join(lines[-40:]))
    return p, found["port"], lines

def fail(p, lines, why):
    p.kill()
    sys.stdout.write("".join(lines[-30:]))
    sys.exit("aspnet_check: FAIL: " + why)

def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    cmd = sys.argv[sys.argv.index("--") + 1:]
    json = "--no-json" not in sys.argv[:sys.argv.index("--")]
    p, port, lines = start(cmd)
    base = f"http://127.0.0.1:{port}"
    try:
        body = urllib.request.urlopen(base + "/", timeout=30).read()
        if body != b"Hello, World!":
            fail(p, lines, f"GET / answered {body!r}")
        if json:
            body = urllib.request.urlopen(base + "/json", timeout=30).read()
            if body != b'{"message":"Hello, World!"}':
                fail(p, lines, f"GET /json answered {body!r}")
        data = random.Random(7).randbytes(1 << 20)
        req = urllib.request.Request(base + "/echo", data=data, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
        back = urllib.request.urlopen(req, timeout=60).read()
        if back != data:
            fail(p, lines, f"POST /echo of 1 MiB came back different ({len(back)} bytes)")
    except OSError as e:
        fail(p, lines, f"request failed: {e}")
    w = subprocess.run(["wrk", "-t2", "-c512", "-d3s", base + "/"], capture_output=True, text=True, timeout=120)
    out = w.stdout + w.stderr
    m = re.search(r"(\d+) requests in", out)
    if w.returncode != 0 or not m or int(m.group(1)) == 0 or "Socket errors" in out or "Non-2xx" in out:
        fail(p, lines, "wrk -c512 reported errors or no requests:\n" + out)
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail(p, lines, "no exit within 60 s of SIGINT")
    if rc != 0:
        fail(p, lines, f"exit status {rc} after SIGINT")
    print(f"aspnet_check: ok: GET /{', GET /json' if json else ''}, 1 MiB echo byte-exact, wrk -c512: {m.group(1)} requests, no errors, exit 0")

main()

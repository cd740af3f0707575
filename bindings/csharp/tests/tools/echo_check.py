#!/usr/bin/python3
"""Starts an echo server command, waits for its "listening on HOST:PORT" line,
echoes random payloads through it on many connections at once (byte-exact),
then stops it with a signal and requires exit status 0.

  echo_check.py [--conns N] [--rounds R] [--max-size B] [--signal INT|TERM] -- cmd args...
"""
import argparse, os, random, re, signal, socket, subprocess, sys, threading, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-size", type=int, default=1 << 20)
    ap.add_argument("--signal", choices=["INT", "TERM"], default="TERM")
    ap.add_argument("--start-timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    # Own process group: the signal reaches `dotnet run` and the app it starts.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    out_lines = []
    found = {}
    def reader():
        for line in p.stdout:
            out_lines.append(line)
            m = re.search(r"listening on (\S+):(\d+)", line)
            if m and "port" not in found:
                found["host"], found["port"] = m.group(1).strip("[]"), int(m.group(2))
    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    deadline = time.time() + a.start_timeout
    while "port" not in found and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if "port" not in found:
        p.kill()
        sys.stdout.write("".join(out_lines))
        print("echo_check: FAIL: no 'listening on HOST:PORT' line", file=sys.stderr)
        return 1
    host, port = found["host"], found["port"]
    errors = []
    total = [0]
    lock = threading.Lock()

    def client(i):
        rng = random.Random(a.seed * 100003 + i)
        try:
            with socket.create_connection((host, port), timeout=120) as s:
                for r in range(a.rounds):
                    n = a.max_size if (i == 0 and r == 0) else rng.randint(1, a.max_size)
                    payload = rng.randbytes(n)
                    send_err = []
                    def sender():
                        try:
                            s.sendall(payload)
                        except Exception as e:  # reported below
                            send_err.append(e)
                    st = threading.Thread(target=sender)
                    st.start()
                    back = bytearray()
                    while len(back) < n:
                        chunk = s.recv(min(1 << 20, n - len(back)))
                        if not chunk:
                            raise AssertionError(f"conn {i}: closed after {len(back)} of {n} bytes")
                        back += chunk
                    st.join()
                    if send_err:
                        raise send_err[0]
                    if bytes(back) != payload:
                        first = next(k for k in range(n) if back[k] != payload[k])
                        raise AssertionError(f"conn {i} round {r}: echo differs at byte {first} of {n}")
                    with lock:
                        total[0] += n
        except Exception as e:
            with lock:
                errors.append(f"conn {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sig = signal.SIGINT if a.signal == "INT" else signal.SIGTERM
    os.killpg(p.pid, sig)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "timeout"
    rt.join(timeout=5)
    if errors or rc != 0:
        sys.stdout.write("".join(out_lines[-40:]))
        for e in errors[:10]:
            print("echo_check: " + e, file=sys.stderr)
        print(f"echo_check: FAIL: {len(errors)} connection errors, exit status {rc} after SIG{a.signal}",
              file=sys.stderr)
        return 1
    print(f"echo_check: ok: {a.conns} connections, {total[0]} bytes echoed byte-exact, "
          f"exit 0 after SIG{a.signal}")
    return 0

if __name__ == "__main__":
    sys.exit(main())

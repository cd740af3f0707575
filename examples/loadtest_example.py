"""Load-test any HTTP/1.1 keep-alive server: loadtest_example.py HOST PORT [SECONDS]"""
import sys

import urocket

host, port = sys.argv[1], int(sys.argv[2])        # a numeric address: no DNS
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
request = b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode()
r = urocket.loadtest(host, port, connections=64, duration=seconds, request=request)
print(f"{r.rps:,.0f} responses/s over {r.elapsed:.1f} s, errors: {r.errors}")
for name in ("p50", "p90", "p99", "p999", "max"):
    print(f"{name:>5} {getattr(r, name) * 1e3:8.3f} ms")   # latencies are in seconds

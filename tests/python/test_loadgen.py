"""urocket.loadtest / LoadGenerator against Python servers on loopback:
exact counts, latency against a known delay, open-loop rate and queueing,
every framing with split responses, connection errors, progress, results."""
import errno
import json
import os
import threading
import time

import pytest

import urocket
from urocket.loadgen import RESULT_FIELDS
from urk_net import ScriptedServer, free_port

REQ = b"R" * 16
RESP = b"A" * 32
HTTP_RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"


def test_counts_agree_exactly_with_what_the_server_received():
    with ScriptedServer(RESP, request_len=len(REQ)) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=8, requests=3000, request=REQ,
                             framing="fixed", response_len=len(RESP))
    assert r.responses == 3000
    assert r.requests == 3000 == srv.requests
    assert r.bytes_out == 3000 * len(REQ) == srv.bytes_in
    assert r.bytes_in == 3000 * len(RESP) == srv.bytes_out
    assert r.error_count == 0 and r.errors == dict.fromkeys(
        ("connect", "read", "write", "timeout", "framing"), 0)
    assert 0 < r.min <= r.p50 <= r.p90 <= r.p99 <= r.p999 <= r.max
    assert r.min <= r.mean <= r.max
    assert r.rps == pytest.approx(r.responses / r.elapsed)


def test_two_threads_count_exactly_too():
    with ScriptedServer(RESP, request_len=len(REQ)) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=6, threads=2, requests=1001,
                             request=REQ, framing="fixed", response_len=len(RESP))
    assert (r.responses, r.requests, srv.requests) == (1001, 1001, 1001)
    assert srv.connections == 6


def test_latency_percentiles_against_a_known_delay():
    delay = 0.020
    with ScriptedServer(HTTP_RESP, request_end=b"\r\n\r\n", delay=delay) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=4, requests=120)
    assert r.responses == 120 and r.error_count == 0
    # Each response takes at least the delay; the histogram's relative error
    # is a few percent at most.
    assert r.min >= delay * 0.97
    assert r.p50 >= delay * 0.97
    # Liveness bound, not a speed check: nothing near a second.
    assert r.p50 < delay + 0.5
    assert r.latency_ms()["p50"] == pytest.approx(r.p50 * 1e3)


def test_open_loop_rate_is_kept():
    with ScriptedServer(RESP, request_len=len(REQ)) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=8, duration=2.0, rate=250,
                             request=REQ, framing="fixed", response_len=len(RESP))
    assert r.error_count == 0
    assert r.requests == pytest.approx(500, rel=0.05)
    assert r.responses == pytest.approx(500, rel=0.05)
    assert srv.requests == r.requests


def test_open_loop_latency_includes_queueing_behind_a_slow_server():
    # One connection served every 50 ms cannot keep 100 requests/s: requests
    # queue, and their latency runs from when they were due, not from when a
    # connection was free to send them (no coordinated omission).
    with ScriptedServer(RESP, request_len=len(REQ), delay=0.05) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=1, duration=1.0, rate=100,
                             request=REQ, framing="fixed", response_len=len(RESP))
    assert r.responses >= 5
    assert r.max >= 0.3
    assert r.p99 > 0.2
    assert r.min >= 0.05 * 0.97


@pytest.mark.parametrize("framing", ["http", "fixed", "delim"])
def test_each_framing_with_responses_split_across_segments(framing):
    if framing == "http":
        resp, kw = HTTP_RESP, {}
    elif framing == "fixed":
        resp, kw = RESP, {"response_len": len(RESP)}
    else:
        resp, kw = b"some text then the end marker <<END>>", {"delim": b"<<END>>"}
    with ScriptedServer(resp, request_len=len(REQ), pieces=4) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=4, requests=80, request=REQ,
                             framing=framing, **kw)
    assert r.responses == 80 and r.error_count == 0
    assert r.bytes_in == 80 * len(resp) == srv.bytes_out


def test_http_responses_of_varying_length_and_headers():
    def response(k):
        body = b"x" * (k % 50)
        return (b"HTTP/1.1 200 OK\r\nServer: test\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body))
    with ScriptedServer(response, request_end=b"\r\n\r\n", pieces=2) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=3, requests=100)
    assert r.responses == 100 and r.error_count == 0
    assert r.bytes_in == srv.bytes_out


def test_a_framing_error_is_counted_not_hidden():
    with ScriptedServer(b"this is not HTTP\r\n\r\n", request_end=b"\r\n\r\n") as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=2, duration=0.5)
    assert r.errors["framing"] > 0
    assert r.responses == 0


def test_connection_refused_is_reported():
    r = urocket.loadtest("127.0.0.1", free_port(), connections=4, duration=0.5)
    assert r.responses == 0
    assert r.errors["connect"] > 0
    assert r.error_count == r.errors["connect"]


def test_connection_refused_with_a_request_count_gives_up():
    r = urocket.loadtest("127.0.0.1", free_port(), connections=2, requests=10, timeout=1.0)
    assert r.responses == 0 and r.errors["connect"] > 0


def test_progress_is_reported_every_second_from_the_calling_thread():
    calls = []
    me = threading.get_ident()
    with ScriptedServer(RESP, request_len=len(REQ)) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=2, duration=2.5, request=REQ,
                             framing="fixed", response_len=len(RESP),
                             progress=lambda p: calls.append((threading.get_ident(), p)))
    assert len(calls) >= 2
    assert all(t == me for t, _ in calls)
    samples = [p for _, p in calls]
    assert [p.responses for p in samples] == sorted(p.responses for p in samples)
    assert samples[-1].responses <= r.responses
    assert all(p.errors == 0 and p.rps >= 0 for p in samples)
    assert len(r.timeline) >= 2
    assert sum(s.responses for s in r.timeline) <= r.responses


def test_result_json_table_and_distribution():
    with ScriptedServer(HTTP_RESP, request_end=b"\r\n\r\n") as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=2, duration=1.2)
    j = json.loads(json.dumps(r.to_json()))
    assert set(RESULT_FIELDS) <= set(j)
    assert set(RESULT_FIELDS) == {
        "requests", "responses", "bytes_out", "bytes_in", "elapsed_ns", "err_connect",
        "err_read", "err_write", "err_timeout", "err_framing", "lat_min_ns", "lat_mean_ns",
        "lat_max_ns", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "cpu_ns",
        "reconnects", "non2xx", "lat_sum_ns"}
    assert j["responses"] == r.responses and j["rps"] == pytest.approx(r.rps, rel=1e-3)
    assert j["lat_p99_ns"] == r.raw["lat_p99_ns"]
    assert isinstance(j["timeline"], list) and j["timeline"]
    assert set(j["timeline"][0]) == {"second", "responses", "errors", "lat_p50_ns", "lat_p99_ns"}
    table = r.table()
    for word in ("responses/s", "p50", "p99", "errors"):
        assert word in table
    qs = [q for q, _ in r.distribution]
    lat = [v for _, v in r.distribution]
    assert qs == sorted(qs) and lat == sorted(lat)
    assert qs[0] == 0 and qs[-1] == 1
    assert r.cpu > 0 and r.elapsed == pytest.approx(1.2, rel=0.2)


@pytest.fixture(scope="module")
def warm_matplotlib(tmp_path_factory):
    """matplotlib keeps its font file open once it drew text: draw once
    before the per-test fd accounting starts (module scope runs first)."""
    pytest.importorskip("matplotlib")
    res = urocket.LoadResult(dict.fromkeys(RESULT_FIELDS, 0))
    res.plot(str(tmp_path_factory.mktemp("warm") / "warm.png"))


def test_plot_writes_a_png(tmp_path, warm_matplotlib):
    with ScriptedServer(HTTP_RESP, request_end=b"\r\n\r\n") as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=2, duration=1.1)
    out = tmp_path / "load.png"
    assert r.plot(str(out)) == str(out)
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_stop_ends_a_run_early_and_keeps_the_results():
    with ScriptedServer(RESP, request_len=len(REQ)) as srv:
        with urocket.LoadGenerator("127.0.0.1", srv.port, connections=2, duration=60,
                                   request=REQ, framing="fixed",
                                   response_len=len(RESP)) as lg:
            lg.start()
            deadline = time.monotonic() + 30
            while lg.snapshot()["responses"] < 10:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            lg.stop()
            assert lg.wait(30)
            res = lg.result()
            with pytest.raises(RuntimeError):
                lg.start()
    assert res.responses >= 10 and res.elapsed < 60
    assert lg.closed


def test_pinned_run_and_bad_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    with ScriptedServer(RESP, request_len=len(REQ)) as srv:
        r = urocket.loadtest("127.0.0.1", srv.port, connections=1, requests=50, request=REQ,
                             framing="fixed", response_len=len(RESP), cpu=cpus[-1])
        assert r.responses == 50
        assert os.sched_getaffinity(0) == set(cpus)   # the caller is not left pinned
        with pytest.raises(ValueError, match=r"cpu 4095: this machine has CPUs "):
            urocket.loadtest("127.0.0.1", srv.port, connections=1, requests=5, request=REQ,
                             framing="fixed", response_len=len(RESP), cpu=4095)


@pytest.mark.parametrize("kwargs, exc", [
    (dict(framing="spdy"), ValueError),
    (dict(framing="fixed"), ValueError),
    (dict(framing="delim"), ValueError),
    (dict(duration=0), ValueError),
    (dict(requests=0), ValueError),
    (dict(rate=-1), ValueError),
    (dict(timeout=0), ValueError),
    (dict(port=0), ValueError),
    (dict(host="no-such-host.invalid"), ValueError),
    (dict(host="https://127.0.0.1/"), ValueError),
    (dict(connections=2, threads=3), ValueError),
    (dict(connections=0), ValueError),
    (dict(request=b""), ValueError),
    (dict(cpu=99999), ValueError),
    (dict(headers=["no colon"]), ValueError),
    (dict(method="GE T"), ValueError),
])
def test_bad_options(kwargs, exc):
    args = dict(host="127.0.0.1", port=9)
    args.update(kwargs)
    with pytest.raises(exc):
        urocket.LoadGenerator(args.pop("host"), args.pop("port"), **args)

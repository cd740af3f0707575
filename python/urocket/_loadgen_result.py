"""LoadResult: what a load test measured, its table and JSON forms, and exact
merging of several runs (urocket.merge_results, `urocket merge`).

The latency histogram is the library's own (urk_loadgen_histogram): 4864
log-linear buckets (every value below 128 ns has its bucket; every power of
two above is split into 128). Histograms add bucket by bucket, and
percentiles are computed here with the library's rule, so a merged result
reports exactly what one generator that saw every sample would have.
"""
from __future__ import annotations

import collections
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

__all__ = ["LoadResult", "Latency", "Second", "merge_results", "fmt_seconds",
           "RESULT_FIELDS", "ERROR_KINDS", "HIST_BUCKETS", "hist_percentile",
           "hist_bucket_high"]

RESULT_FIELDS: Tuple[str, ...] = (
    "requests", "responses", "bytes_out", "bytes_in", "elapsed_ns", "err_connect",
    "err_read", "err_write", "err_timeout", "err_framing", "lat_min_ns", "lat_mean_ns",
    "lat_max_ns", "lat_p50_ns", "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "cpu_ns",
    "reconnects", "non2xx", "lat_sum_ns")
ERROR_KINDS: Tuple[str, ...] = ("connect", "read", "write", "timeout", "framing")
HIST_SUB_BITS = 7
HIST_SUB = 1 << HIST_SUB_BITS
HIST_BUCKETS = HIST_SUB + (44 - HIST_SUB_BITS) * HIST_SUB
HIST_LAYOUT = "urocket-log-linear-128x44"
_NS = 1e-9
# Percentiles reported in JSON (name -> parts per million).
PERCENTILES: Dict[str, int] = {"p50": 500000, "p75": 750000, "p90": 900000, "p99": 990000,
                               "p999": 999000, "p9999": 999900}


class Latency(NamedTuple):
    """Latency summary in seconds."""
    min: float
    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float


class Second(NamedTuple):
    """One second of the run: responses and errors counted in it, latency
    p50/p99 in seconds."""
    second: int
    responses: int
    errors: int
    p50: float
    p99: float


def hist_bucket_high(index: int) -> int:
    """Highest value (ns) of histogram bucket `index`."""
    if index < HIST_SUB:
        return index
    index = min(index, HIST_BUCKETS - 1)
    j = index - HIST_SUB
    shift = j // HIST_SUB
    low = (HIST_SUB + j % HIST_SUB) << shift
    return low + (1 << shift) - 1


def hist_percentile(buckets: Mapping[int, int], q_ppm: int, lo: int, hi: int) -> int:
    """The library's percentile rule over sparse buckets {index: count}:
    the high end of the bucket holding rank ceil(q * total), clamped to
    [lo, hi] (the recorded min and max). 0 when empty."""
    total = sum(buckets.values())
    if total == 0:
        return 0
    if q_ppm <= 0:
        return lo
    if q_ppm >= 1000000:
        return hi
    rank = max(1, (total * q_ppm + 999999) // 1000000)
    seen = 0
    for i in sorted(buckets):
        seen += buckets[i]
        if seen >= rank:
            return min(max(hist_bucket_high(i), lo), hi)
    return hi


def fmt_seconds(s: float) -> str:
    """0.000123 -> "123 us", 0.0123 -> "12.3 ms"."""
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.3g ms" % (s * 1e3)
    return "%.3g us" % (s * 1e6)


def _fmt_int(n: float) -> str:
    return "{:,}".format(int(n))


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return "%d B" % n


class LoadResult:
    """What a load test measured.

    requests (written in full), responses, bytes_out, bytes_in: totals.
    elapsed: seconds of the measured run (connection set-up excluded).
    rps: responses per second.
    status: dict status code (int) -> responses; non2xx: responses with a
        status outside 200..299; reconnects: connections the server ended
        cleanly (Connection: close, HTTP/1.0, ...) and that were replaced.
    errors: dict kind -> count, kinds "connect", "read", "write",
        "timeout", "framing"; error_count: their sum.
    min, mean, p50, p90, p99, p999, max: latency in SECONDS (also
        .latency, a Latency tuple; .latency_ms() for milliseconds;
        .percentile(q) for any quantile).
    cpu: CPU seconds used by the generator's threads.
    timeline: list of Second (per-second responses, errors, p50, p99).
    histogram: dict bucket index -> count (the mergeable latency histogram).
    by_request: for a scenario of several urocket.Request, a LoadResult per
        request name; empty otherwise.
    raw: dict of every urk_loadgen_result_t field (nanoseconds), as C names it.
    """

    __slots__ = ("raw", "timeline", "distribution", "config", "status", "histogram",
                 "by_request", "processes")

    def __init__(self, raw: Mapping[str, int], timeline: Iterable[Second] = (),
                 distribution: Iterable[Tuple[float, float]] = (),
                 config: Optional[Mapping[str, Any]] = None,
                 status: Optional[Mapping[int, int]] = None,
                 histogram: Optional[Mapping[int, int]] = None,
                 by_request: Optional[Mapping[str, "LoadResult"]] = None,
                 processes: int = 1) -> None:
        self.raw: Dict[str, int] = {k: int(raw.get(k, 0)) for k in RESULT_FIELDS}
        self.timeline: List[Second] = list(timeline)
        self.distribution: List[Tuple[float, float]] = list(distribution)
        self.config: Dict[str, Any] = dict(config or {})
        self.status: Dict[int, int] = {int(k): int(v) for k, v in (status or {}).items()}
        self.histogram: Dict[int, int] = {int(k): int(v) for k, v in
                                          (histogram or {}).items() if v}
        self.by_request: Dict[str, LoadResult] = dict(by_request or {})
        self.processes = processes
        if not self.distribution and self.histogram:
            self.distribution = [(ppm / 1e6, self.percentile_ns(ppm) * _NS)
                                 for ppm in _CDF_PPM]

    # ---- counts ----
    @property
    def requests(self) -> int:
        return self.raw["requests"]

    @property
    def responses(self) -> int:
        return self.raw["responses"]

    @property
    def bytes_out(self) -> int:
        return self.raw["bytes_out"]

    @property
    def bytes_in(self) -> int:
        return self.raw["bytes_in"]

    @property
    def reconnects(self) -> int:
        return self.raw["reconnects"]

    @property
    def non2xx(self) -> int:
        return self.raw["non2xx"]

    @property
    def elapsed(self) -> float:
        return self.raw["elapsed_ns"] * _NS

    @property
    def rps(self) -> float:
        el = self.raw["elapsed_ns"]
        return self.raw["responses"] * 1e9 / el if el else 0.0

    @property
    def cpu(self) -> float:
        return self.raw["cpu_ns"] * _NS

    @property
    def errors(self) -> Dict[str, int]:
        return {k: self.raw["err_" + k] for k in ERROR_KINDS}

    @property
    def error_count(self) -> int:
        return sum(self.raw["err_" + k] for k in ERROR_KINDS)

    # ---- latency (seconds) ----
    @property
    def latency(self) -> Latency:
        r = self.raw
        return Latency(*(r["lat_%s_ns" % k] * _NS
                         for k in ("min", "mean", "p50", "p90", "p99", "p999", "max")))

    def latency_ms(self) -> Dict[str, float]:
        """Latency summary as a dict of milliseconds."""
        return {k: v * 1e3 for k, v in self.latency._asdict().items()}

    @property
    def min(self) -> float:
        return self.raw["lat_min_ns"] * _NS

    @property
    def mean(self) -> float:
        return self.raw["lat_mean_ns"] * _NS

    @property
    def p50(self) -> float:
        return self.raw["lat_p50_ns"] * _NS

    @property
    def p90(self) -> float:
        return self.raw["lat_p90_ns"] * _NS

    @property
    def p99(self) -> float:
        return self.raw["lat_p99_ns"] * _NS

    @property
    def p999(self) -> float:
        return self.raw["lat_p999_ns"] * _NS

    @property
    def max(self) -> float:
        return self.raw["lat_max_ns"] * _NS

    def percentile_ns(self, q_ppm: int) -> int:
        """Latency (ns) at quantile q_ppm (parts per million), from the
        histogram, exactly as the library computes it."""
        return hist_percentile(self.histogram, q_ppm, self.raw["lat_min_ns"],
                               self.raw["lat_max_ns"])

    def percentile(self, q: float) -> float:
        """Latency in seconds at quantile q (0..1)."""
        if not 0 <= q <= 1:
            raise ValueError("q must be in 0..1, got %r" % (q,))
        return self.percentile_ns(int(round(q * 1e6))) * _NS

    # ---- forms ----
    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict: every urk_loadgen_result_t field under its C
        name (integers, nanoseconds), rps, status {"200": n, ...},
        percentiles {"p50": ns, ...}, timeline (one dict per second:
        second, responses, errors, lat_p50_ns, lat_p99_ns), the histogram
        (sparse [[bucket, count], ...], mergeable exactly), and for
        scenarios by_request {name: the same form}."""
        d: Dict[str, Any] = {k: self.raw[k] for k in RESULT_FIELDS}
        d["rps"] = round(self.rps, 3)
        d["errors"] = self.error_count
        d["status"] = {str(k): v for k, v in sorted(self.status.items())}
        d["percentiles"] = {k: self.percentile_ns(v) if self.histogram else
                            self.raw.get("lat_%s_ns" % k, 0) for k, v in PERCENTILES.items()}
        d["timeline"] = [{"second": s.second, "responses": s.responses, "errors": s.errors,
                          "lat_p50_ns": int(round(s.p50 * 1e9)),
                          "lat_p99_ns": int(round(s.p99 * 1e9))} for s in self.timeline]
        d["histogram"] = {"layout": HIST_LAYOUT,
                          "buckets": [[i, n] for i, n in sorted(self.histogram.items())]}
        if self.processes != 1:
            d["processes"] = self.processes
        if self.by_request:
            d["by_request"] = {k: v.to_json() for k, v in self.by_request.items()}
        if self.config:
            d["config"] = {k: v for k, v in self.config.items()
                           if isinstance(v, (str, int, float, bool, type(None)))}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "LoadResult":
        """The inverse of to_json (e.g. a `--json` line of another run)."""
        if not isinstance(d, Mapping) or "responses" not in d:
            raise ValueError("not a urocket load result (no 'responses' field)")
        hist = d.get("histogram") or {}
        if hist and hist.get("layout") != HIST_LAYOUT:
            raise ValueError("histogram layout %r is not %r" % (hist.get("layout"),
                                                                HIST_LAYOUT))
        buckets = {int(i): int(n) for i, n in hist.get("buckets", [])}
        tl = [Second(int(s["second"]), int(s["responses"]), int(s["errors"]),
                     s["lat_p50_ns"] * _NS, s["lat_p99_ns"] * _NS)
              for s in d.get("timeline", [])]
        by = {k: cls.from_json(v) for k, v in (d.get("by_request") or {}).items()}
        return cls({k: int(d.get(k, 0)) for k in RESULT_FIELDS}, tl, (), d.get("config"),
                   {int(k): int(v) for k, v in (d.get("status") or {}).items()}, buckets, by,
                   int(d.get("processes", 1)))

    def table(self, latency_distribution: bool = False) -> str:
        """The result as a small human-readable table (wrk-like: non-2xx
        responses and errors are spelled out). latency_distribution adds
        the p50..p99.99 lines (`--latency`)."""
        lines = []
        cfg = self.config
        if cfg:
            mode = "open loop at %s req/s" % _fmt_int(cfg["rate"]) if cfg.get("rate") \
                else "closed loop"
            where = cfg.get("url") or "%s:%s" % (cfg.get("host"), cfg.get("port"))
            procs = ", %d processes" % self.processes if self.processes > 1 else ""
            lines.append("target      %s  (%d connections, %d thread%s%s, %s)" % (
                where, cfg.get("connections", 0), cfg.get("threads", 1),
                "" if cfg.get("threads", 1) == 1 else "s", procs, mode))
        lines.append("duration    %.2f s" % self.elapsed)
        lines.append("requests    %s sent, %s responses" % (
            _fmt_int(self.requests), _fmt_int(self.responses)))
        lines.append("throughput  %s responses/s, %s in, %s out" % (
            _fmt_int(round(self.rps)), _fmt_bytes(self.raw["bytes_in"]),
            _fmt_bytes(self.raw["bytes_out"])))
        if self.responses:
            lines.append("latency     min %s  mean %s  max %s" % (
                fmt_seconds(self.min), fmt_seconds(self.mean), fmt_seconds(self.max)))
            lines.append("            p50 %s  p90 %s  p99 %s  p99.9 %s" % (
                fmt_seconds(self.p50), fmt_seconds(self.p90), fmt_seconds(self.p99),
                fmt_seconds(self.p999)))
            if latency_distribution:
                for name, ppm in (("50%", 500000), ("75%", 750000), ("90%", 900000),
                                  ("99%", 990000), ("99.9%", 999000), ("99.99%", 999900)):
                    v = self.percentile_ns(ppm) * _NS if self.histogram else \
                        self.raw.get("lat_p%s_ns" % name.rstrip("%").replace(".", ""), 0) * _NS
                    lines.append("            %7s  %s" % (name, fmt_seconds(v)))
        if self.status:
            lines.append("status      " + "  ".join(
                "%d: %s" % (k, _fmt_int(v)) for k, v in sorted(self.status.items())))
        if self.non2xx:
            lines.append("non-2xx     %s responses" % _fmt_int(self.non2xx))
        if self.reconnects:
            lines.append("reconnects  %s (the server closed the connection)" %
                         _fmt_int(self.reconnects))
        errs = self.errors
        if any(errs.values()):
            lines.append("errors      " + ", ".join("%s %s" % (k, _fmt_int(v))
                                                    for k, v in errs.items() if v))
        else:
            lines.append("errors      none")
        cpu = self.cpu
        if cpu and self.responses:
            lines.append("client CPU  %.2f s (%s responses per CPU-second)" % (
                cpu, _fmt_int(round(self.responses / cpu))))
        for name, sub in self.by_request.items():
            lines.append("request %-12s %s responses, p50 %s, p99 %s, non-2xx %s, errors %s" % (
                name, _fmt_int(sub.responses), fmt_seconds(sub.p50), fmt_seconds(sub.p99),
                _fmt_int(sub.non2xx), _fmt_int(sub.error_count)))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return "<LoadResult %d responses, %.0f rps, p50 %s, p99 %s, %d errors>" % (
            self.responses, self.rps, fmt_seconds(self.p50), fmt_seconds(self.p99),
            self.error_count)

    def plot(self, path: str, title: Optional[str] = None) -> str:
        """Draw throughput over time and the latency distribution into `path`
        (PNG) with matplotlib (Agg). RuntimeError if matplotlib is missing."""
        from ._plot import plot_result
        plot_result(self, path, title)
        return path


# Quantiles (parts per million) sampled for LoadResult.distribution: dense
# near the tail, where latency plots are read.
_CDF_PPM = sorted(set(
    [q * 10000 for q in range(0, 100)] +
    [990000 + q * 1000 for q in range(10)] +
    [999000 + q * 100 for q in range(10)] +
    [999900 + q * 10 for q in range(10)] + [1000000]))


def merge_results(results: Sequence[LoadResult]) -> LoadResult:
    """Combine runs made at the same time (several processes or machines)
    into one result: counts add, histograms add bucket by bucket so the
    percentiles are exact, elapsed is the longest run, the timeline adds
    per second (per-second p50/p99 are the worst of the runs: per-second
    histograms are not kept). Requests per name merge the same way."""
    results = list(results)
    if not results:
        raise ValueError("merge_results needs at least one result")
    raw: Dict[str, int] = {}
    for k in RESULT_FIELDS:
        vals = [r.raw.get(k, 0) for r in results]
        raw[k] = max(vals) if k == "elapsed_ns" else sum(vals)
    have = [r for r in results if r.raw["responses"] or r.histogram]
    raw["lat_min_ns"] = min((r.raw["lat_min_ns"] for r in have), default=0)
    raw["lat_max_ns"] = max((r.raw["lat_max_ns"] for r in have), default=0)
    hist: Dict[int, int] = collections.Counter()
    for r in results:
        if r.responses and not r.histogram:
            raise ValueError("a result without its histogram cannot be merged exactly")
        hist.update(r.histogram)
    count = sum(hist.values())
    raw["lat_mean_ns"] = raw["lat_sum_ns"] // count if count else 0
    for name, ppm in (("p50", 500000), ("p90", 900000), ("p99", 990000), ("p999", 999000)):
        raw["lat_%s_ns" % name] = hist_percentile(hist, ppm, raw["lat_min_ns"],
                                                  raw["lat_max_ns"])
    status: Dict[int, int] = collections.Counter()
    for r in results:
        status.update(r.status)
    secs: Dict[int, List[Any]] = {}
    for r in results:
        for s in r.timeline:
            e = secs.setdefault(s.second, [0, 0, 0.0, 0.0])
            e[0] += s.responses
            e[1] += s.errors
            e[2] = max(e[2], s.p50)
            e[3] = max(e[3], s.p99)
    tl = [Second(k, v[0], v[1], v[2], v[3]) for k, v in sorted(secs.items())]
    names: List[str] = []
    for r in results:
        names += [n for n in r.by_request if n not in names]
    by = {n: merge_results([r.by_request[n] for r in results if n in r.by_request])
          for n in names}
    cfg = dict(results[0].config)
    if cfg:
        cfg["connections"] = sum(r.config.get("connections", 0) for r in results)
        cfg["threads"] = sum(r.config.get("threads", 1) for r in results)
        if any(r.config.get("rate") for r in results):
            cfg["rate"] = sum(r.config.get("rate") or 0 for r in results)
    return LoadResult(raw, tl, (), cfg, status, hist, by,
                      sum(r.processes for r in results))


"""Plots of a LoadResult with matplotlib (Agg backend: no display needed).
matplotlib is optional (Debian: python3-matplotlib); without it plot_result
raises RuntimeError with a message saying how to get it."""
import math
from typing import Any, Optional

MISSING = ("matplotlib is not installed: install it (Debian: apt-get install "
           "python3-matplotlib) to draw plots")


def have_matplotlib() -> bool:
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def plot_result(result: Any, path: str, title: Optional[str] = None) -> str:
    """Two panels: responses/s per second (with p50/p99 per second on a
    second axis), and latency by percentile on a log-tail axis."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    cfg = result.config
    if title is None:
        title = "uRocket load test"
        if cfg:
            title += " - %s:%s, %d connections" % (cfg.get("host"), cfg.get("port"),
                                                    cfg.get("connections", 0))
    fig.suptitle(title)

    tl = result.timeline
    secs = [s.second + 1 for s in tl]
    ax1.bar(secs, [s.responses for s in tl], color="#4C72B0", width=0.8, label="responses/s")
    if any(s.errors for s in tl):
        ax1.bar(secs, [s.errors for s in tl], color="#C44E52", width=0.8, label="errors/s")
    ax1.set_xlabel("second of the run")
    ax1.set_ylabel("responses per second")
    ax1.set_title("Throughput over time (mean %s/s)" % "{:,}".format(int(result.rps)))
    ax1.set_ylim(bottom=0)
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "{:,.0f}".format(v)))
    if tl:
        ax1b = ax1.twinx()
        ax1b.plot(secs, [s.p50 * 1e3 for s in tl], "o-", color="#55A868", label="p50")
        ax1b.plot(secs, [s.p99 * 1e3 for s in tl], "s-", color="#DD8452", label="p99")
        ax1b.set_ylabel("latency (ms)")
        ax1b.set_ylim(bottom=0)
        h1, l1 = ax1.get_legend_handles_labels()
        h2, l2 = ax1b.get_legend_handles_labels()
        ax1.legend(h1 + h2, l1 + l2, loc="lower right", fontsize="small")

    # Latency by percentile, x = 1 / (1 - q) on a log scale so the tail
    # (99%, 99.9%, 99.99%) gets as much room as the median.
    pts = [(q, v) for q, v in result.distribution if q < 1]
    if pts:
        xs = [1.0 / (1.0 - q) for q, _ in pts]
        ax2.plot(xs, [v * 1e3 for _, v in pts], color="#4C72B0")
        ax2.set_xscale("log")
        ticks = [q for q in (0.5, 0.9, 0.99, 0.999, 0.9999) if 1 / (1 - q) <= xs[-1] * 1.01]
        ax2.set_xticks([1 / (1 - q) for q in ticks])
        ax2.set_xticklabels(["%g%%" % (q * 100) for q in ticks])
        ax2.minorticks_off()
        for q, name in ((0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")):
            v = getattr(result, {"p50": "p50", "p99": "p99", "p99.9": "p999"}[name])
            ax2.axhline(v * 1e3, color="grey", lw=0.6, ls=":")
            ax2.annotate("%s %.3g ms" % (name, v * 1e3), (1 / (1 - q), v * 1e3),
                         textcoords="offset points", xytext=(-8, 6), ha="right",
                         fontsize="small")
        top = max(v for _, v in pts) * 1e3
        ax2.set_ylim(0, top * 1.15 if top > 0 and math.isfinite(top) else 1)
    ax2.set_xlabel("percentile")
    ax2.set_ylabel("latency (ms)")
    ax2.set_title("Latency distribution (max %.3g ms)" % (result.max * 1e3))
    ax2.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

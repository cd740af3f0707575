"""The headline section of bench/run.py's results.md (issue 16): server CPU
per request under the saturating closed-loop client (`python3 -m urocket
load`), issue 16's targets, and `wrk -t1` beside it. run.py passes its own
med(rows, key), fmt(value, spec) and baseline (the server ratios are to), as
it does to dotnet_servers.report."""
import statistics


def compact_table(tool, conns, names, results, med, fmt, baseline):
    """One row per server: per connection count, µs of server CPU per request,
    requests per server CPU-second and the ratio to the baseline."""
    L = ["| server | " + " | ".join("c=%d µs/req | c=%d req/CPU-s | c=%d vs %s" % (
        c, c, c, baseline) for c in conns) + " |",
         "|---|" + "---:|---:|---:|" * len(conns)]
    for name in names:
        cells = []
        for c in conns:
            rows = results.get((tool.name, c, name), [])
            ok = [r for r in rows if "failed" not in r]
            base = [r for r in results.get((tool.name, c, baseline), []) if "failed" not in r]
            eff, b_eff = med(ok, "eff"), med(base, "eff")
            if not ok:
                cells += ["failed" if rows else "-", "", ""]
                continue
            cells += [fmt(med(ok, "us_per_req"), "{:.2f}"), fmt(eff),
                      fmt(eff / b_eff if eff and b_eff else None, "{:.2f}x")]
        L.append("| %s | %s |" % (name, " | ".join(cells)))
    return L


def headline(tools, conns, names, results, med, fmt, baseline):
    """The saturating closed-loop table (issue 16's headline), its targets,
    then wrk -t1's table beside it with how busy wrk itself was."""
    L = []
    by = {t.name: t for t in tools}
    urk, wrk = by.get("urocket-load"), by.get("wrk")
    L.append("## Headline: server CPU per request under a saturating client")
    L.append("")
    if urk is None:
        L.append("Not measured: the uRocket load generator (`python3 -m urocket load`) was not "
                 "available (see the notes above).")
        L.append("")
    else:
        L.append("Client: `%s`, closed loop, one thread on its own CPU: it keeps the server's "
                 "CPU saturated, so what differs between rows is the server's cost per request. "
                 "µs of server CPU per request (lower is better), requests per server "
                 "CPU-second (higher is better) and that ratio to `%s` in this same run; "
                 "medians over rounds; servers that failed or were skipped are listed under "
                 "Servers below. Every other workload (fixed offered load, pipelined, echo, "
                 "10,000 idle connections) is in [workloads.md](workloads.md)."
                 % (urk.label, baseline))
        L.append("")
        L += compact_table(urk, conns, names, results, med, fmt, baseline)
        L.append("")
        L += issue16_targets(urk, conns, results, med, baseline)
    if wrk is not None:
        L.append("### wrk -t1, for comparison")
        L.append("")
        busy = [r["client_busy"] for c in conns for n in names
                for r in results.get((wrk.name, c, n), []) if r.get("client_busy")]
        busy_note = (" In this run wrk's thread used %.0f%% of a CPU over its runs (median; "
                     "near 100%% means wrk, not the server, set the pace)."
                     % (100 * statistics.median(busy))) if busy else ""
        L.append("wrk -t1 is a single client thread; on a 2-core machine (server on one CPU, "
                 "client on the other) it saturates itself before any of these servers does, "
                 "so its rows mostly measure wrk: ratios near 1.00x here say little about "
                 "server cost. The headline above is the server comparison.%s" % busy_note)
        L.append("")
        L += compact_table(wrk, conns, names, results, med, fmt, baseline)
        L.append("")
    return L


def issue16_targets(tool, conns, results, med, baseline):
    """Issue 16's goal for the native engine, from the saturating client."""
    def eff(c, name):
        return med([r for r in results.get((tool.name, c, name), []) if "failed" not in r], "eff")
    L = ["Issue 16 goal (native engine, 1 reactor, saturating client):", "",
         "| target | measured | met |", "|---|---|---|"]
    for c in (512, 2048):
        if c not in conns:
            L.append("| c=%d | not in this run's connection counts | n/a |" % c)
            continue
        n = eff(c, "urocket-native-1")
        for base, want in ((baseline, 2.0), ("uring_raw", 1.15)):
            b = eff(c, base)
            if n is None or not b:
                L.append("| urocket-native-1 c=%d >= %.2fx %s | n/a | n/a |" % (c, want, base))
            else:
                L.append("| urocket-native-1 c=%d >= %.2fx %s | %.2fx | %s |" % (
                    c, want, base, n / b, "yes" if n / b >= want else "NO"))
    L.append("")
    return L

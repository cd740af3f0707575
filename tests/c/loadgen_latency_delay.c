/* Latency against a server that waits 20 ms before each reply: every
 * percentile is at least 20 ms (the histogram never reports below the true
 * value) and the median is not far above it. The timeline adds up. */
#include "loadgen_server.h"

#define DELAY_MS 20

int main(void)
{
    static const char resp[] = "pong\n";
    lgs_opts_t so = {.request_len = 5, .response = resp, .response_len = 5,
                     .delay_us = DELAY_MS * 1000};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "ping\n", URK_FRAME_DELIM);
    o.delim = "\n";
    o.delim_len = 1;
    o.connections = 4;
    o.duration_ms = 1500;
    urk_loadgen_t *lg;
    int rc = urk_loadgen_create(&o, &lg);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_OK(rc);
    CHECK_OK(urk_loadgen_run(lg));
    urk_loadgen_result_t r;
    CHECK_OK(urk_loadgen_result(lg, &r));
    lg_print("delay", &r);
    lgs_stop(s);

    const uint64_t d = DELAY_MS * 1000000ull, margin = 30 * 1000000ull;
    CHECK(lg_errors(&r) == 0);
    /* 4 connections x 1.5 s / 20 ms = 300 at most */
    CHECK(r.responses >= 40 && r.responses <= 300);
    CHECK(r.lat_min_ns >= d);
    CHECK(r.lat_p50_ns >= d && r.lat_p50_ns <= d + margin);
    CHECK(r.lat_p90_ns >= r.lat_p50_ns && r.lat_p99_ns >= r.lat_p90_ns);
    CHECK(r.lat_p999_ns >= r.lat_p99_ns && r.lat_max_ns >= r.lat_p999_ns);
    CHECK(r.lat_mean_ns >= d && r.lat_mean_ns <= r.lat_max_ns);
    CHECK(r.elapsed_ns >= 1500 * 1000000ull && r.elapsed_ns < 10ull * 1000000000ull);
    CHECK(r.cpu_ns > 0);

    uint64_t v;
    CHECK_OK(urk_loadgen_percentile(lg, 500000, &v));
    CHECK(v == r.lat_p50_ns);
    CHECK_OK(urk_loadgen_percentile(lg, 0, &v));
    CHECK(v == r.lat_min_ns);
    CHECK_OK(urk_loadgen_percentile(lg, 1000000, &v));
    CHECK(v == r.lat_max_ns);
    CHECK_RC(urk_loadgen_percentile(lg, 1000001, &v), -EINVAL);
    CHECK_RC(urk_loadgen_percentile(lg, 0, NULL), -EINVAL);

    urk_loadgen_second_t tl[16];
    int n = urk_loadgen_timeline(lg, tl, 16);
    CHECK(n >= 2 && n <= 3); /* 1.5 s: seconds 0 and 1 (and a sliver of 2) */
    CHECK(urk_loadgen_timeline(lg, NULL, 0) == n);
    CHECK(urk_loadgen_timeline(lg, tl, 1) == n);
    uint64_t sum = 0, errs = 0;
    for (int i = 0; i < n; i++) {
        printf("second %d: %llu responses p50=%.3fms p99=%.3fms\n", i,
               (unsigned long long)tl[i].responses, tl[i].lat_p50_ns / 1e6,
               tl[i].lat_p99_ns / 1e6);
        sum += tl[i].responses;
        errs += tl[i].errors;
        if (tl[i].responses)
            CHECK(tl[i].lat_p50_ns >= d && tl[i].lat_p99_ns >= tl[i].lat_p50_ns);
    }
    CHECK(sum == r.responses);
    CHECK(errs == 0);
    CHECK(tl[0].responses > 0);
    urk_loadgen_destroy(lg);
    printf("ok\n");
    return 0;
}

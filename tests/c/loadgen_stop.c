/* urk_loadgen_stop from another thread ends a 60-second run at once; totals
 * read from that thread during the run only grow. Stop before run; a second
 * run is refused. */
#include "loadgen_server.h"

typedef struct watcher {
    urk_loadgen_t *lg;
    int reads;
    int monotonic;
    uint64_t last_responses;
} watcher_t;

static void *watch_then_stop(void *arg)
{
    watcher_t *w = arg;
    uint64_t end = t_now_ms() + 400;
    w->monotonic = 1;
    while (t_now_ms() < end) {
        urk_loadgen_result_t r;
        CHECK_OK(urk_loadgen_result(w->lg, &r));
        if (r.responses < w->last_responses)
            w->monotonic = 0;
        if (r.responses && (r.lat_p50_ns == 0 || r.lat_p50_ns > r.lat_max_ns))
            w->monotonic = 0;
        w->last_responses = r.responses;
        uint64_t p99;
        CHECK_OK(urk_loadgen_percentile(w->lg, 990000, &p99));
        urk_loadgen_second_t tl[4];
        CHECK(urk_loadgen_timeline(w->lg, tl, 4) >= 0);
        w->reads++;
        lgs_sleep_us(5000);
    }
    CHECK_OK(urk_loadgen_stop(w->lg));
    return NULL;
}

static urk_loadgen_opts_t long_run_opts(uint16_t port)
{
    urk_loadgen_opts_t o = lg_opts(port, "ping", URK_FRAME_FIXED);
    o.response_len = 4;
    o.connections = 4;
    o.threads = 2;
    o.duration_ms = 60000;
    return o;
}

static void stop_from_another_thread(uint16_t port)
{
    urk_loadgen_opts_t o = long_run_opts(port);
    urk_loadgen_t *lg;
    int rc = urk_loadgen_create(&o, &lg);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_OK(rc);
    watcher_t w = {.lg = lg};
    pthread_t tid;
    uint64_t t0 = t_now_ms(); /* before the watcher starts its 400 ms */
    CHECK(pthread_create(&tid, NULL, watch_then_stop, &w) == 0);
    CHECK_OK(urk_loadgen_run(lg));
    uint64_t took = t_now_ms() - t0;
    pthread_join(tid, NULL);
    urk_loadgen_result_t r;
    CHECK_OK(urk_loadgen_result(lg, &r));
    lg_print("stopped", &r);
    printf("run took %llu ms, %d live reads\n", (unsigned long long)took, w.reads);
    CHECK(took >= 400 && took < 10000);
    CHECK(r.elapsed_ns < 10ull * 1000000000ull);
    CHECK(w.monotonic && w.reads > 10);
    CHECK(r.responses > 0 && r.responses >= w.last_responses);
    CHECK(lg_errors(&r) == 0);
    CHECK_RC(urk_loadgen_run(lg), -URK_ESTATE); /* one run per generator */
    CHECK_OK(urk_loadgen_stop(lg));               /* harmless afterwards */
    urk_loadgen_destroy(lg);
}

int main(void)
{
    static const char resp[] = "pong";
    lgs_opts_t so = {.request_len = 4, .response = resp, .response_len = 4, .delay_us = 200};
    lgs_t *s = lgs_start(&so);
    if (lg_under_valgrind())
        printf("valgrind: the cross-thread part is left out: a thread waiting in "
               "io_uring_enter starves the others there (liburing#657)\n");
    else
        stop_from_another_thread(s->port);

    /* stopped before it runs: returns at once with nothing sent */
    urk_loadgen_opts_t o = long_run_opts(s->port);
    if (lg_under_valgrind())
        o.threads = 1;
    urk_loadgen_t *lg;
    int rc = urk_loadgen_create(&o, &lg);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_OK(rc);
    CHECK_OK(urk_loadgen_stop(lg));
    uint64_t t0 = t_now_ms();
    CHECK_OK(urk_loadgen_run(lg));
    CHECK(t_now_ms() - t0 < 5000);
    urk_loadgen_result_t r;
    CHECK_OK(urk_loadgen_result(lg, &r));
    CHECK(r.requests == 0 && r.responses == 0);
    CHECK_RC(urk_loadgen_run(lg), -URK_ESTATE);
    urk_loadgen_destroy(lg);
    lgs_stop(s);
    urk_loadgen_destroy(NULL);
    CHECK_RC(urk_loadgen_stop(NULL), -EINVAL);
    printf("ok\n");
    return 0;
}

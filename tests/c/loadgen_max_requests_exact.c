/* max_requests N: exactly N requests reach the server and exactly N responses
 * are counted, closed and open loop, one and several threads. */
#include "loadgen_server.h"

#include <sched.h>

static void run_case(uint32_t threads, uint32_t conns, uint64_t n, int open_loop, int32_t cpu)
{
    static const char resp[] = "0123456789abcdef";
    lgs_opts_t so = {.request_len = 8, .response = resp, .response_len = 16};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "REQUEST!", URK_FRAME_FIXED);
    o.response_len = 16;
    o.threads = threads;
    o.connections = conns;
    o.max_requests = n;
    o.cpu = cpu;
    if (open_loop) {
        o.flags = URK_LOAD_OPEN_LOOP;
        o.rate = 20000;
    }
    urk_loadgen_result_t r = lg_run(&o);
    uint64_t server_got = lgs_stop(s);
    char name[64];
    snprintf(name, sizeof name, "t=%u c=%u n=%llu %s", threads, conns,
             (unsigned long long)n, open_loop ? "open" : "closed");
    lg_print(name, &r);
    CHECK(lg_errors(&r) == 0);
    CHECK(r.responses == n);
    CHECK(r.requests == n);
    CHECK(server_got == n);
    CHECK(r.bytes_out == n * 8);
    CHECK(r.bytes_in == n * 16);
    CHECK(r.lat_min_ns > 0 && r.lat_min_ns <= r.lat_p50_ns && r.lat_p50_ns <= r.lat_max_ns);
    CHECK(r.elapsed_ns > 0);
}

int main(void)
{
    run_case(1, 1, 1, 0, -1);
    run_case(1, 4, 3, 0, -1); /* fewer requests than connections */
    run_case(1, 8, 1000, 0, -1);
    run_case(2, 9, 2001, 0, -1);
    run_case(2, 5, 777, 1, -1);
    run_case(1, 3, 1, 1, -1);
    /* pinned: thread i on CPU i (the caller's affinity is restored) */
    cpu_set_t before, after;
    CHECK(sched_getaffinity(0, sizeof before, &before) == 0);
    if (CPU_ISSET(0, &before) && CPU_ISSET(1, &before))
        run_case(2, 4, 500, 0, 0);
    CHECK(sched_getaffinity(0, sizeof after, &after) == 0);
    CHECK(CPU_EQUAL(&before, &after));
    printf("ok\n");
    return 0;
}

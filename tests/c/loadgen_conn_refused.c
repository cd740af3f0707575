/* Nobody listens: every connect fails with ECONNREFUSED, which is counted in
 * err_connect (never hidden); the run still ends at its duration, and a
 * max_requests-only run gives up after its error budget. */
#include "loadgen_server.h"

int main(void)
{
    uint16_t port;
    int lfd = t_listen(0, &port);
    close(lfd); /* the port is now (almost certainly) closed */

    urk_loadgen_opts_t o = lg_opts(port, "hi\n", URK_FRAME_FIXED);
    o.response_len = 1;
    o.connections = 3;
    o.duration_ms = 400;
    uint64_t t0 = t_now_ms();
    urk_loadgen_result_t r = lg_run(&o);
    uint64_t took = t_now_ms() - t0;
    lg_print("refused, duration", &r);
    CHECK(r.err_connect >= 3);
    CHECK(r.responses == 0 && r.requests == 0);
    CHECK(r.err_read == 0 && r.err_write == 0 && r.err_timeout == 0 && r.err_framing == 0);
    CHECK(took >= 400 && took < 20000);
    CHECK(r.elapsed_ns >= 400 * 1000000ull);

    o.duration_ms = 0;
    o.max_requests = 5;
    o.flags = URK_LOAD_OPEN_LOOP;
    o.rate = 1000;
    t0 = t_now_ms();
    r = lg_run(&o);
    took = t_now_ms() - t0;
    lg_print("refused, max_requests", &r);
    CHECK(r.err_connect >= 5 + 3); /* budget: max_requests + connections */
    CHECK(r.responses == 0);
    CHECK(took < 20000);
    printf("ok\n");
    return 0;
}

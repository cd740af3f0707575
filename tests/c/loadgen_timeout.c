/* A server that reads requests and never answers: err_timeout after
 * timeout_ms, the connection is replaced, and the run ends on time. */
#include "loadgen_server.h"

int main(void)
{
    lgs_opts_t so = {.request_len = 3, .response = "x", .response_len = 1, .silent = 1};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "hi\n", URK_FRAME_FIXED);
    o.response_len = 1;
    o.connections = 2;
    o.timeout_ms = 100;
    o.duration_ms = 700;
    urk_loadgen_result_t r = lg_run(&o);
    lg_print("silent, duration", &r);
    CHECK(r.err_timeout >= 4 && r.err_timeout <= 14); /* 2 conns x 700/100 */
    CHECK(r.responses == 0);
    CHECK(r.err_connect == 0 && r.err_read == 0 && r.err_framing == 0);

    o.duration_ms = 0;
    o.max_requests = 2;
    uint64_t t0 = t_now_ms();
    r = lg_run(&o);
    lg_print("silent, max_requests", &r);
    CHECK(r.err_timeout >= 4); /* gives up after max_requests + connections */
    CHECK(t_now_ms() - t0 < 20000);
    lgs_stop(s);
    printf("ok\n");
    return 0;
}

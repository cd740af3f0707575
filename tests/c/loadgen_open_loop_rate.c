/* Open loop: 500 requests/s for 2 s sends ~1000 requests whatever the
 * connection count, and the server receives what was sent. */
#include "loadgen_server.h"

static void run_case(uint32_t threads, uint32_t conns)
{
    static const char resp[] = "ok";
    lgs_opts_t so = {.request_len = 3, .response = resp, .response_len = 2};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "go\n", URK_FRAME_FIXED);
    o.response_len = 2;
    o.flags = URK_LOAD_OPEN_LOOP;
    o.rate = 500;
    o.duration_ms = 2000;
    o.threads = threads;
    o.connections = conns;
    urk_loadgen_result_t r = lg_run(&o);
    uint64_t server_got = lgs_stop(s);
    lg_print("open loop 500/s", &r);
    CHECK(lg_errors(&r) == 0);
    CHECK(r.requests >= 950 && r.requests <= 1050);
    CHECK(r.responses + conns >= r.requests && r.responses <= r.requests);
    uint64_t got = server_got;
    CHECK(got <= r.requests && got + conns >= r.requests);
}

int main(void)
{
    run_case(1, 4);
    run_case(2, 2);
    printf("ok\n");
    return 0;
}

/* The server sends half of every 7th response and closes: each is an
 * err_read, the connection is reconnected, the request retried, and
 * max_requests still yields exactly that many responses. */
#include "loadgen_server.h"

int main(void)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    lgs_opts_t so = {.request_len = 4, .response = resp,
                     .response_len = (uint32_t)strlen(resp), .close_mid_every = 7};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "GET\n", URK_FRAME_HTTP);
    o.connections = 3;
    o.max_requests = 60;
    urk_loadgen_result_t r = lg_run(&o);
    uint64_t server_got = lgs_stop(s);
    lg_print("peer close", &r);
    uint64_t got = server_got;
    CHECK(r.responses == 60);
    CHECK(r.err_read >= 8);               /* 60 good need > 60 sent: >= 8 cut */
    CHECK(r.err_read == got / 7);          /* every cut one is reported */
    CHECK(r.requests == got);
    CHECK(r.requests == r.responses + r.err_read);
    CHECK(r.err_connect == 0 && r.err_write == 0 && r.err_timeout == 0 && r.err_framing == 0);
    printf("ok\n");
    return 0;
}

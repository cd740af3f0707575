/* Responses that do not match the framing are err_framing, never counted as
 * responses: garbage for HTTP, a bad chunk size, a bad Content-Length, extra
 * bytes after a fixed-size response. */
#include "loadgen_server.h"

static void run_case(const char *name, uint16_t framing, const char *resp, uint32_t response_len)
{
    lgs_opts_t so = {.request_len = 4, .response = resp, .response_len = (uint32_t)strlen(resp)};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "GET\n", framing);
    o.connections = 2;
    o.duration_ms = 300;
    o.response_len = response_len;
    urk_loadgen_result_t r = lg_run(&o);
    lgs_stop(s);
    lg_print(name, &r);
    CHECK(r.err_framing >= 2);
    CHECK(r.responses == 0);
    CHECK(r.err_connect == 0 && r.err_timeout == 0);
}

int main(void)
{
    run_case("garbage", URK_FRAME_HTTP, "XTTP/1.1 200 OK\r\n\r\n", 0);
    run_case("bad chunk size", URK_FRAME_HTTP,
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n", 0);
    run_case("chunk without CRLF", URK_FRAME_HTTP,
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 0);
    run_case("bad length", URK_FRAME_HTTP, "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0);
    /* 10 bytes per request where 8 were expected: a response, then 2 stray
     * bytes that no request asked for. */
    {
        lgs_opts_t so = {.request_len = 4, .response = "0123456789", .response_len = 10};
        lgs_t *s = lgs_start(&so);
        urk_loadgen_opts_t o = lg_opts(s->port, "GET\n", URK_FRAME_FIXED);
        o.connections = 2;
        o.duration_ms = 300;
        o.response_len = 8;
        urk_loadgen_result_t r = lg_run(&o);
        lgs_stop(s);
        lg_print("fixed, extra bytes", &r);
        CHECK(r.err_framing >= 2);
        /* one good response per connection life (two if the stray bytes
         * arrive in a later segment than the response they follow) */
        CHECK(r.responses >= r.err_framing && r.responses <= 2 * r.err_framing + 2);
    }
    printf("ok\n");
    return 0;
}

/* Each framing kind, with the server writing each response one byte per
 * segment (TCP_NODELAY, a pause between bytes), and whole; counts exact. */
#include "loadgen_server.h"

static void run_case(const char *name, uint16_t framing, const char *resp, uint32_t split_us,
                     uint32_t threads, uint32_t conns, uint64_t n)
{
    lgs_opts_t so = {.request_len = 4, .response = resp, .response_len = (uint32_t)strlen(resp),
                     .split_us = split_us};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "GET\n", framing);
    o.threads = threads;
    o.connections = conns;
    o.max_requests = n;
    o.response_len = (uint32_t)strlen(resp);
    o.delim = "aab";
    o.delim_len = 3;
    urk_loadgen_result_t r = lg_run(&o);
    uint64_t server_got = lgs_stop(s);
    lg_print(name, &r);
    CHECK(lg_errors(&r) == 0);
    CHECK(r.responses == n && r.requests == n);
    CHECK(server_got == n);
    CHECK(r.bytes_in == n * strlen(resp));
}

int main(void)
{
    static const char fixed[] = "0123456789abcdefghij";
    /* "aab" first appears at the very end: KMP must fall back over "aaa" */
    static const char delim[] = "xyaaacaaab";
    static const char http[] =
        "HTTP/1.1 200 OK\r\n"
        "Server: test\r\n"
        "X-Padding: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
        "content-LENGTH:  12 \r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
        "hello world!";
    static const char http_lf[] = "HTTP/1.0 204 No Content\nContent-Length: 0\n\n";
    static const char http_interim[] =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";

    run_case("fixed split", URK_FRAME_FIXED, fixed, 100, 1, 3, 30);
    run_case("delim split", URK_FRAME_DELIM, delim, 100, 1, 3, 30);
    run_case("http split", URK_FRAME_HTTP, http, 50, 1, 3, 12);
    run_case("http lf 204 split", URK_FRAME_HTTP, http_lf, 50, 1, 2, 10);
    run_case("http 100 split", URK_FRAME_HTTP, http_interim, 50, 1, 2, 10);
    run_case("fixed whole", URK_FRAME_FIXED, fixed, 0, 2, 8, 3000);
    run_case("delim whole", URK_FRAME_DELIM, delim, 0, 2, 8, 3000);
    run_case("http whole", URK_FRAME_HTTP, http, 0, 2, 8, 3000);
    printf("ok\n");
    return 0;
}

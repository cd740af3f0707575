/* HTTP framing end to end: chunked bodies, per-status counts, and servers
 * that end the connection after a response (Connection: close, HTTP/1.0,
 * close-delimited bodies) are reconnects, not errors; `requests` counts only
 * requests written, so it equals what the server received. The old
 * urk_loadgen_result still writes only the 0.1 struct. */
#include "loadgen_server.h"

static void check_status(const lg_status_t *st, uint32_t code, uint64_t count)
{
    CHECK(st->n == 1);
    CHECK(st->codes[0] == code);
    CHECK(st->counts[0] == count);
}

/* max_requests N against a server that answers `resp` (and closes after it
 * when close_after): exactly N responses, N written requests, as many as
 * the server read, no error. */
static urk_loadgen_result_t exact(const char *name, const char *resp, uint32_t close_after,
                                  uint64_t n, lg_status_t *st)
{
    lgs_opts_t so = {.request_len = 4, .response = resp, .response_len = (uint32_t)strlen(resp),
                     .close_after = close_after};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, "GET\n", URK_FRAME_HTTP);
    o.connections = 2;
    o.max_requests = n;
    urk_loadgen_result_t r = lg_run_status(&o, st);
    uint64_t got = lgs_stop(s);
    lg_print(name, &r);
    printf("  reconnects=%llu non2xx=%llu server=%llu\n", (unsigned long long)r.reconnects,
           (unsigned long long)r.non2xx, (unsigned long long)got);
    CHECK(lg_errors(&r) == 0);
    CHECK(r.responses == n);
    CHECK(r.requests == n);
    CHECK(got == n);
    return r;
}

int main(void)
{
    lg_status_t st;
    urk_loadgen_result_t r;

    r = exact("chunked 404, keep-alive",
              "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", 0, 400, &st);
    CHECK(r.reconnects == 0 && r.non2xx == 400);
    check_status(&st, 404, 400);

    r = exact("Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\n"
              "Content-Length: 2\r\n\r\nok", 1, 200, &st);
    CHECK(r.reconnects == 200 && r.non2xx == 0);
    check_status(&st, 200, 200);

    r = exact("HTTP/1.0, close-delimited", "HTTP/1.0 503 Busy\r\nServer: x\r\n\r\nbusy body", 1,
              200, &st);
    CHECK(r.reconnects == 200 && r.non2xx == 200);
    check_status(&st, 503, 200);

    r = exact("HTTP/1.1 chunked, Connection: close",
              "HTTP/1.1 201 Created\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
              "1\r\nx\r\n0\r\n\r\n", 1, 200, &st);
    CHECK(r.reconnects == 200);
    check_status(&st, 201, 200);

    /* The 0.1 call writes 144 bytes and not one more. */
    {
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        lgs_opts_t so = {.request_len = 4, .response = ok, .response_len = sizeof ok - 1};
        lgs_t *s = lgs_start(&so);
        urk_loadgen_opts_t o = lg_opts(s->port, "GET\n", URK_FRAME_HTTP);
        o.max_requests = 10;
        urk_loadgen_t *lg = NULL;
        CHECK_OK(urk_loadgen_create(&o, &lg));
        CHECK_OK(urk_loadgen_run(lg));
        unsigned char buf[sizeof(urk_loadgen_result_t) + 16];
        memset(buf, 0xAB, sizeof buf);
        CHECK_OK(urk_loadgen_result(lg, (urk_loadgen_result_t *)(void *)buf));
        for (size_t i = URK_LOADGEN_RESULT_SIZE_0_1; i < sizeof buf; i++)
            CHECK(buf[i] == 0xAB);
        /* a newer caller's larger struct: zeros past what the library knows */
        memset(buf, 0xAB, sizeof buf);
        CHECK_OK(urk_loadgen_result_ex(lg, (urk_loadgen_result_t *)(void *)buf, sizeof buf));
        for (size_t i = sizeof(urk_loadgen_result_t); i < sizeof buf; i++)
            CHECK(buf[i] == 0);
        CHECK_RC(urk_loadgen_result_ex(lg, (urk_loadgen_result_t *)(void *)buf, 136), -EINVAL);
        CHECK_RC(urk_loadgen_result_ex(lg, (urk_loadgen_result_t *)(void *)buf, 150), -EINVAL);
        CHECK_RC(urk_loadgen_result_ex(lg, NULL, sizeof buf), -EINVAL);
        CHECK_RC(urk_loadgen_status(lg, NULL, NULL, 1), -EINVAL);
        CHECK(urk_loadgen_status(lg, NULL, NULL, 0) == 1);
        uint64_t h[URK_LOADGEN_HIST_BUCKETS];
        CHECK(urk_loadgen_histogram(lg, h, URK_LOADGEN_HIST_BUCKETS) == URK_LOADGEN_HIST_BUCKETS);
        uint64_t total = 0;
        for (int i = 0; i < URK_LOADGEN_HIST_BUCKETS; i++)
            total += h[i];
        CHECK(total == 10);
        urk_loadgen_destroy(lg);
        lgs_stop(s);
    }
    printf("ok\n");
    return 0;
}

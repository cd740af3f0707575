/* The example servers, started as subprocesses on a free port (--port 0,
 * which they report as "listening on HOST:PORT"), answer real clients:
 *   http_server: exactly one canned response per request, byte-exact;
 *     pipelined requests (10, and 150: more than one response batch) get
 *     that many responses and no more; a request split across many writes
 *     (even inside its "\r\n\r\n") gets exactly one; 50 concurrent
 *     keep-alive connections; 1 and 2 reactors.
 *   echo_server: payloads up to 4 MiB echoed byte-exact over 20 connections
 *     (the client writes far ahead of reading, so the server's send limit
 *     and recv pause come into play), half-close gets the whole echo then
 *     EOF.
 * Both stop cleanly on SIGTERM (exit status 0). */
#include "engine_examples.h"

static const char REQ[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
#define REQ_LEN (sizeof REQ - 1)
#define RESP_LEN (sizeof RESP - 1)

/* Reads exactly n responses, then checks nothing more arrives for 50 ms. */
static void expect_responses(int fd, int n)
{
    size_t want = (size_t)n * RESP_LEN;
    char *buf = malloc(want + 1);
    CHECK(buf);
    size_t got = 0;
    uint64_t dl = t_now_ms() + 10000;
    while (got < want) {
        CHECK(t_now_ms() < dl);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) != 1)
            continue;
        ssize_t k = read(fd, buf + got, want - got);
        CHECK(k > 0);
        got += (size_t)k;
    }
    for (int i = 0; i < n; i++)
        CHECK(memcmp(buf + (size_t)i * RESP_LEN, RESP, RESP_LEN) == 0);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 50) == 0); /* no extra response */
    free(buf);
}

static void http_checks(const char *reactors)
{
    ex_server_t s = ex_start("http_server", "--reactors", reactors);
    int fd = t_connect(0, s.port);
    t_write_all(fd, REQ, REQ_LEN);
    expect_responses(fd, 1);

    /* pipelined */
    char *many = malloc(150 * REQ_LEN);
    CHECK(many);
    for (int i = 0; i < 150; i++)
        memcpy(many + (size_t)i * REQ_LEN, REQ, REQ_LEN);
    t_write_all(fd, many, 10 * REQ_LEN);
    expect_responses(fd, 10);
    t_write_all(fd, many, 150 * REQ_LEN);
    expect_responses(fd, 150);

    /* split: every piece its own segment (TCP_NODELAY, pauses) */
    const size_t cuts[] = {1, 5, 16, REQ_LEN - 3, REQ_LEN - 2, REQ_LEN - 1, REQ_LEN};
    size_t at = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        t_write_all(fd, REQ + at, cuts[i] - at);
        at = cuts[i];
        te_sleep_ms(5);
        if (at < REQ_LEN) {
            struct pollfd p = {fd, POLLIN, 0};
            CHECK(poll(&p, 1, 0) == 0); /* no answer to half a request */
        }
    }
    expect_responses(fd, 1);
    /* a request split inside its end, then one whole: two responses */
    t_write_all(fd, REQ, REQ_LEN - 1);
    te_sleep_ms(5);
    t_write_all(fd, REQ + REQ_LEN - 1, 1);
    t_write_all(fd, REQ, REQ_LEN);
    expect_responses(fd, 2);
    close(fd);

    /* concurrent keep-alive connections */
    enum { C = 50, R = 20 };
    int fds[C];
    for (int i = 0; i < C; i++)
        fds[i] = t_connect(0, s.port);
    for (int r = 0; r < R; r++) {
        for (int i = 0; i < C; i++)
            t_write_all(fds[i], REQ, REQ_LEN);
        for (int i = 0; i < C; i++) {
            char buf[RESP_LEN];
            t_read_all(fds[i], buf, RESP_LEN);
            CHECK(memcmp(buf, RESP, RESP_LEN) == 0);
        }
    }
    for (int i = 0; i < C; i++)
        close(fds[i]);
    free(many);
    ex_stop(&s);
    printf("http_server (%s reactor(s)): exact responses, pipelined, split, concurrent\n",
           reactors);
}

static void echo_checks(void)
{
    ex_server_t s = ex_start("echo_server", "--reactors", "2");
    enum { N = 20 };
    te_client_t cs[N];
    for (int i = 0; i < N; i++) {
        size_t len = i == 0 ? (4u << 20) : 1 + (size_t)(i * 104729u) % (1u << 20);
        te_client_init(&cs[i], 0, s.port, len, 900 + (uint64_t)i,
                       i % 2 ? TE_HALF_CLOSE | TE_EXPECT_EOF : 0);
    }
    /* the 4 MiB client writes until its socket refuses before reading */
    for (;;) {
        ssize_t x = write(cs[0].fd, cs[0].out + cs[0].w, cs[0].len - cs[0].w);
        if (x <= 0)
            break;
        cs[0].w += (size_t)x;
    }
    te_clients_run(cs, N, 30000);
    for (int i = 0; i < N; i++)
        te_client_free(&cs[i]);
    ex_stop(&s);
    printf("echo_server: %d connections echoed byte-exact (half-close: EOF after the echo)\n", N);
}

int main(void)
{
    if (te_valgrind())
        t_skip("subprocess servers");
    signal(SIGPIPE, SIG_IGN);
    http_checks("1");
    http_checks("2");
    echo_checks();
    printf("ok\n");
    return 0;
}

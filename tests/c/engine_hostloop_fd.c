/* A host event loop that waits only on urk_reactor_fd (epoll) and never
 * polls unprompted sees every event: the fd is level-triggered, readable
 * whenever urk_reactor_poll(..., 0) would return an event or has requests to
 * hand to the kernel. On readiness the loop polls once (a small batch, so
 * events overflow into later polls) and handles what it got; it never polls
 * again until the fd says so. A wait that times out while events are
 * expected is a lost wake-up: the test then polls once unprompted, reports
 * what that found, and fails.
 *
 * 1. The reported case: a connection to the engine's own port sends "x", the
 *    server side answers "y", the client closes; the server side's CLOSED
 *    must wake the fd. Run with and without urk_reactor_flush after each
 *    batch (without, the queued requests themselves make the fd readable).
 * 2. Churn: 1,000 connections (64 at a time) to the engine's own port, each
 *    ending one of four ways: echo then close, half-close (client
 *    urk_shutdown_write, server answers and closes on EOF), server close,
 *    client RST. Every connection must end with both CLOSED events. */
#include "engine_util.h"

#include <sys/epoll.h>

#define MAX_CONNS 1000
#define IN_FLIGHT 64
#define BATCH 8
#define CLIENT_TAG 0x1000000ull /* client tags: CLIENT_TAG + index */

enum { END_ECHO_CLOSE, END_HALF_CLOSE, END_SERVER_CLOSE, END_RST, END_KINDS };

static struct {
    urk_reactor_t *r;
    int ep, flush;
    uint32_t started, client_closed, server_closed, server_opened, target, in_flight;
    int single; /* case 1: "x" / "y" */
    urk_conn_t client[MAX_CONNS];
} h;

static void start_client(urk_addr_t *addr)
{
    urk_conn_t id;
    CHECK_OK(urk_reactor_connect(h.r, addr, CLIENT_TAG + h.started, &id));
    h.client[h.started++] = id;
    h.in_flight++;
}

static void handle(const urk_event_t *ev, urk_addr_t *addr)
{
    int client = ev->user >= CLIENT_TAG && ev->user < CLIENT_TAG + MAX_CONNS;
    uint32_t idx = client ? (uint32_t)(ev->user - CLIENT_TAG) : 0;
    uint32_t kind = h.single ? END_ECHO_CLOSE : idx % END_KINDS;
    int rc;
    switch (ev->type) {
    case URK_EV_OPEN:
        if (client) {
            CHECK(ev->conn == h.client[idx]);
            /* "x" in the reported case, else the way to end, for the server */
            char b = h.single ? 'x' : (char)('a' + kind);
            CHECK_OK(urk_send(h.r, ev->conn, &b, 1, 0, 0));
            if (kind == END_HALF_CLOSE)
                CHECK_OK(urk_shutdown_write(h.r, ev->conn));
        } else {
            h.server_opened++;
        }
        break;
    case URK_EV_DATA:
        CHECK(ev->len >= 1);
        if (client) {
            CHECK(ev->data[0] == 'y');
            if (kind == END_ECHO_CLOSE)
                CHECK_OK(urk_close(h.r, ev->conn, 0));
            else if (kind == END_RST)
                CHECK_OK(urk_close(h.r, ev->conn, 1));
        } else {
            if (h.single)
                CHECK(ev->data[0] == 'x');
            else
                CHECK(ev->data[0] >= 'a' && ev->data[0] < 'a' + END_KINDS);
            kind = h.single ? END_ECHO_CLOSE : (uint32_t)(ev->data[0] - 'a');
            if (kind == END_SERVER_CLOSE) {
                CHECK_OK(urk_close(h.r, ev->conn, 0));
            } else {
                /* the peer may already be gone (RST): closing is fine */
                rc = urk_send(h.r, ev->conn, "y", 1, 0, 0);
                CHECK(rc == 0 || rc == -URK_ECLOSING);
            }
        }
        CHECK_RC(urk_reactor_release(h.r, &ev->buf, 1), 1);
        break;
    case URK_EV_CLOSED:
        if (client) {
            h.client_closed++;
            h.in_flight--;
            if (h.started < h.target)
                start_client(addr);
        } else {
            h.server_closed++;
        }
        break;
    case URK_EV_CONNECT_FAILED:
        fprintf(stderr, "connect failed: %s\n", urk_err_name(ev->res));
        exit(1);
    default:
        break;
    }
}

static void run(uint32_t conns, int single, int flush)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    memset(&h, 0, sizeof h);
    h.r = te_reactor(e, 0);
    h.single = single;
    h.flush = flush;
    h.target = conns;
    urk_addr_t addr;
    CHECK_OK(urk_addr_parse("127.0.0.1", (uint16_t)urk_engine_port(e), &addr));

    int fd = urk_reactor_fd(h.r);
    CHECK(fd >= 0);
    h.ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(h.ep >= 0);
    struct epoll_event want = {.events = EPOLLIN, .data.fd = fd};
    CHECK(epoll_ctl(h.ep, EPOLL_CTL_ADD, fd, &want) == 0);

    while (h.started < conns && h.in_flight < IN_FLIGHT)
        start_client(&addr);
    if (flush)
        CHECK(urk_reactor_flush(h.r) >= 0);

    urk_event_t ev[BATCH];
    uint64_t polls = 0;
    while (h.client_closed < conns || h.server_closed < conns) {
        struct epoll_event got;
        int n = epoll_wait(h.ep, &got, 1, 5000);
        CHECK(n >= 0 || errno == EINTR);
        if (n == 0) {
            int late = urk_reactor_poll(h.r, ev, BATCH, 0);
            fprintf(stderr,
                    "lost wake-up (%s, %s): fd not readable for 5 s; client closed %u/%u, server "
                    "opened %u closed %u; an unprompted poll returns %d event(s)%s%d\n",
                    single ? "x/y" : "churn", flush ? "flush" : "no flush", h.client_closed,
                    conns, h.server_opened, h.server_closed, late, late > 0 ? ", first type " : "",
                    late > 0 ? (int)ev[0].type : 0);
            exit(1);
        }
        if (n != 1)
            continue;
        int k = urk_reactor_poll(h.r, ev, BATCH, 0);
        CHECK(k >= 0);
        polls++;
        for (int i = 0; i < k; i++)
            handle(&ev[i], &addr);
        if (flush)
            CHECK(urk_reactor_flush(h.r) >= 0);
    }
    CHECK(h.server_opened == conns);
    printf("%s, %s: %u connections, %llu polls\n", single ? "x/y" : "churn",
           flush ? "flush" : "no flush", conns, (unsigned long long)polls);
    close(h.ep);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

int main(void)
{
    run(1, 1, 1);
    run(1, 1, 0);
    uint32_t n = te_valgrind() ? 100 : MAX_CONNS;
    run(n, 0, 1);
    run(n, 0, 0);
    printf("ok\n");
    return 0;
}

/* URK_ENGINE_DIRECT_FD, the ways a direct connection ends, in both accept
 * modes: half-close (URK_ENGINE_HALF_CLOSE: the client's FIN is EOF, the
 * server still answers, then its own FIN through a shutdown on the direct
 * descriptor); the server's abort (urk_close abort=1: SO_LINGER 0 set
 * through the ring, the client sees ECONNRESET); and churn of 200 clients
 * that reset their connections mid-echo. Nothing leaks: connections,
 * buffers, descriptors. */
#include "direct_util.h"

typedef struct wait_ctx {
    uint32_t type;
    urk_event_t ev;
    uint8_t data[256];
} wait_ctx_t;

/* Waits for an event of ctx->type, releasing DATA buffers (keeping the
 * last DATA's bytes). */
static int want(urk_reactor_t *r, const urk_event_t *ev, void *arg)
{
    wait_ctx_t *w = arg;
    if (ev->type == URK_EV_DATA) {
        memcpy(w->data, ev->data, ev->len < sizeof w->data ? ev->len : sizeof w->data);
        CHECK_RC(urk_reactor_release(r, &ev->buf, 1), 1);
    }
    if (ev->type != w->type)
        return 0;
    w->ev = *ev;
    return 1;
}

/* One non-blocking poll (sends and their completions move on). */
static void pump(urk_reactor_t *r)
{
    urk_event_t ev[8];
    int n = urk_reactor_poll(r, ev, 8, 0);
    CHECK(n >= 0);
    for (int i = 0; i < n; i++) {
        CHECK(ev[i].type != URK_EV_CLOSED);
        if (ev[i].type == URK_EV_DATA)
            CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
    }
}

static urk_event_t wait_for(urk_reactor_t *r, uint32_t type, wait_ctx_t *w)
{
    w->type = type;
    if (!te_poll_until(r, want, w, 10000)) {
        fprintf(stderr, "no event of type %u\n", type);
        exit(1);
    }
    return w->ev;
}

static void half_close_and_abort(uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 1;
    o.flags = flags | URK_ENGINE_DIRECT_FD | URK_ENGINE_HALF_CLOSE;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    pump(r);
    int base = t_fd_count();
    wait_ctx_t w;

    /* half-close: hello, FIN -> EOF; the answer still goes out, then FIN */
    int fd = t_connect(0, port);
    urk_conn_t conn = wait_for(r, URK_EV_OPEN, &w).conn;
    CHECK(t_fd_count() == base + 1);
    t_write_all(fd, "hello", 5);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    urk_event_t ev = wait_for(r, URK_EV_EOF, &w);
    CHECK(ev.conn == conn);
    CHECK(memcmp(w.data, "hello", 5) == 0);
    CHECK_OK(urk_send(r, conn, "bye", 3, 0, 0));
    CHECK_OK(urk_shutdown_write(r, conn));
    char buf[16];
    uint64_t deadline = t_now_ms() + 10000;
    size_t got = 0;
    for (;;) {
        pump(r); /* drive the sends */
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10) == 1) {
            ssize_t x = read(fd, buf + got, sizeof buf - got);
            CHECK(x >= 0);
            if (x == 0)
                break;
            got += (size_t)x;
        }
        CHECK(t_now_ms() < deadline);
    }
    CHECK(got == 3 && memcmp(buf, "bye", 3) == 0);
    CHECK_OK(urk_close(r, conn, 0));
    ev = wait_for(r, URK_EV_CLOSED, &w);
    CHECK(ev.conn == conn && ev.res == 1);
    close(fd);

    /* abort: RST through SO_LINGER 0 on the direct descriptor */
    fd = t_connect(0, port);
    conn = wait_for(r, URK_EV_OPEN, &w).conn;
    CHECK_OK(urk_close(r, conn, 1));
    ev = wait_for(r, URK_EV_CLOSED, &w);
    CHECK(ev.conn == conn);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 10000) == 1);
    errno = 0;
    CHECK(read(fd, buf, sizeof buf) == -1 && errno == ECONNRESET);
    close(fd);

    urk_reactor_stats_t s = te_rstats(r);
    CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    printf("flags %#x: half-close and abort\n", flags);
}

static void reset_churn(uint32_t flags, uint32_t n)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.max_conns = 64; /* a small table: the churn reuses its slots */
    o.flags = flags | URK_ENGINE_DIRECT_FD;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    te_server_start(srv, e);
    uint8_t out[8192], buf[4096];
    t_fill(out, sizeof out, 5);
    uint32_t batch = 20;
    for (uint32_t done = 0; done < n; done += batch) {
        int fds[20];
        for (uint32_t i = 0; i < batch; i++) {
            fds[i] = t_connect(0, port);
            t_write_all(fds[i], out, sizeof out);
        }
        for (uint32_t i = 0; i < batch; i++) {
            if (i % 2) { /* some read part of the echo first */
                struct pollfd p = {fds[i], POLLIN, 0};
                CHECK(poll(&p, 1, 10000) == 1);
                CHECK(read(fds[i], buf, sizeof buf) > 0);
            }
            struct linger lg = {1, 0};
            CHECK(setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
            close(fds[i]);
        }
        TE_WAIT(atomic_load(&srv->closes) == done + batch, 20000);
    }
    CHECK(atomic_load(&srv->opens) == n);
    te_server_join(srv);
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
    }
    CHECK(te_estats(e).rejected == 0);
    printf("flags %#x: %u reset connections (%llu closed with an error)\n", flags, n,
           (unsigned long long)atomic_load(&srv->closes_err));
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    CHECK(t_fd_count() == fds0);
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs polling threads");
    td_require(URK_CAP_DIRECT_FD | URK_CAP_MSG_RING_FD);
    te_raise_nofile();
    for (int m = 0; m < 2; m++) {
        half_close_and_abort(td_modes[m]);
        reset_churn(td_modes[m], 200);
    }
    printf("ok\n");
    return 0;
}

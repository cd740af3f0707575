/* RST mid-transfer: clients send, read a little of the echo, then close with
 * SO_LINGER 0 while the server still has data queued for them. Each server
 * connection ends with CLOSED and a negative reason (-ECONNRESET or -EPIPE),
 * nothing crashes, nothing leaks (connections, buffers, queued bytes,
 * descriptors), and the server keeps serving new clients. */
#include "engine_util.h"

int main(void)
{
    if (te_valgrind())
        t_skip("blocking client waits need a polling thread");
    te_raise_nofile();
    uint32_t n = te_valgrind() ? 8 : 64;
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.send_limit = 64u << 10; /* so sends are queued (FORCE + pause) */
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    static te_server_t srv;
    te_server_start(&srv, e);

    size_t len = 512u << 10;
    uint8_t *out = malloc(len), buf[4096];
    CHECK(out);
    t_fill(out, len, 7);
    int *fds = calloc(n, sizeof *fds);
    CHECK(fds);
    for (uint32_t i = 0; i < n; i++) {
        fds[i] = t_connect(0, port);
        te_nonblock(fds[i]);
    }
    /* Everyone sends as much as the socket takes, twice, with a pause for
     * the echo to pile up in the server's queues. */
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < n; i++) {
            size_t w = 0;
            while (w < len) {
                ssize_t x = write(fds[i], out + w, len - w);
                if (x <= 0)
                    break;
                w += (size_t)x;
            }
        }
        te_sleep_ms(20);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (i % 2) {
            /* read a little first: the transfer is under way both ways */
            struct pollfd p = {fds[i], POLLIN, 0};
            CHECK(poll(&p, 1, 5000) == 1);
            CHECK(read(fds[i], buf, sizeof buf) > 0);
        }
        struct linger lg = {1, 0};
        CHECK(setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        close(fds[i]);
    }
    free(fds);
    TE_WAIT(atomic_load(&srv.closes) == n, 10000);
    printf("%u resets: closes with error %llu (last %s)\n", n,
           (unsigned long long)atomic_load(&srv.closes_err),
           urk_err_name(atomic_load(&srv.last_err)));
    CHECK(atomic_load(&srv.closes_err) == n);
    int32_t last = atomic_load(&srv.last_err);
    CHECK(last == -ECONNRESET || last == -EPIPE);

    /* still serving */
    te_client_t c;
    te_client_init(&c, 0, port, 100000, 99, 0);
    te_clients_run(&c, 1, 10000);
    te_client_free(&c);
    TE_WAIT(atomic_load(&srv.closes) == n + 1, 10000);
    te_server_join(&srv);
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
    }
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(out);
    CHECK(t_fd_count() == fds0);
    printf("ok\n");
    return 0;
}

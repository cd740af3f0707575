/* Half-close: each client sends its payload, then shutdown(SHUT_WR); it
 * still receives every echoed byte, then EOF (the engine closes gracefully:
 * queued sends finish before its FIN). The server sees CLOSED res 0 for
 * each. Run twice: 64 events per poll, then 1 per poll (overflow queue). */
#include "engine_util.h"

static void run(uint32_t poll_max, uint32_t nconn)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    srv->poll_max = poll_max;
    te_server_start(srv, e);

    te_client_t *cs = calloc(nconn, sizeof *cs);
    CHECK(cs);
    for (uint32_t i = 0; i < nconn; i++) {
        /* 1 byte .. 512 KiB: some fit one buffer, some need many sends */
        size_t len = i % 4 == 0 ? 1 + i : (size_t)(i * 7919u) % (512u << 10) + 1;
        te_client_init(&cs[i], 0, port, len, 1000 + i, TE_HALF_CLOSE | TE_EXPECT_EOF);
    }
    te_clients_run(cs, nconn, 30000);
    for (uint32_t i = 0; i < nconn; i++) {
        CHECK(cs[i].shut && cs[i].eof && cs[i].r == cs[i].len);
        te_client_free(&cs[i]);
    }
    free(cs);
    TE_WAIT(atomic_load(&srv->closes) == nconn, 10000);
    CHECK(atomic_load(&srv->closes_peer) == nconn);
    CHECK(atomic_load(&srv->send_errors) == 0);
    te_server_join(srv);
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
    }
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    CHECK(t_fd_count() == fds0);
    printf("poll max %u: %u half-closed connections echoed in full\n", poll_max, nconn);
}

int main(void)
{
    uint32_t n = te_valgrind() ? 10 : 100;
    run(64, n);
    run(1, n);
    printf("ok\n");
    return 0;
}

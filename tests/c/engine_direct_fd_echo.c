/* URK_ENGINE_DIRECT_FD: echo integrity over 300 connections on 2 reactors
 * (random payloads up to 512 KiB, byte-exact) in both accept modes, with no
 * server-side process descriptor while they run; every connection ends with
 * CLOSED res 0 and the counters return to 0. */
#include "direct_util.h"

static void run(uint32_t flags, uint32_t nconn, size_t maxlen)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = flags | URK_ENGINE_DIRECT_FD;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    te_server_start(srv, e);
    int base = t_fd_count();

    te_client_t *cs = calloc(nconn, sizeof *cs);
    CHECK(cs);
    uint64_t total = 0, x = 777 + flags;
    for (uint32_t i = 0; i < nconn; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = i == 0 ? maxlen : 1 + (size_t)(x % maxlen);
        if (i % 3 == 1)
            len = 1 + (size_t)(x % 2048); /* many small ones too */
        total += len;
        te_client_init(&cs[i], 0, port, len, i + 1, 0);
    }
    TE_WAIT(atomic_load(&srv->opens) == nconn, 20000);
    CHECK(t_fd_count() == base + (int)nconn); /* the clients' only */
    te_clients_run(cs, nconn, 60000);
    for (uint32_t i = 0; i < nconn; i++)
        te_client_free(&cs[i]);
    free(cs);
    TE_WAIT(atomic_load(&srv->closes) == nconn, 20000);
    CHECK(atomic_load(&srv->closes_peer) == nconn);
    CHECK(atomic_load(&srv->send_errors) == 0);
    CHECK(atomic_load(&srv->bytes) == total);
    te_server_join(srv);
    uint64_t in = 0, out = 0, acc = 0;
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.closed == s.accepted);
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
        in += s.bytes_in, out += s.bytes_out, acc += s.accepted;
    }
    CHECK(in == total && out == total && acc == nconn);
    CHECK(te_estats(e).accepted == nconn && te_estats(e).rejected == 0);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    CHECK(t_fd_count() == fds0);
    printf("flags %#x: %u connections, %llu bytes each way\n", flags, nconn,
           (unsigned long long)total);
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs polling threads");
    td_require(URK_CAP_DIRECT_FD | URK_CAP_MSG_RING_FD);
    te_raise_nofile();
    for (int m = 0; m < 2; m++)
        run(td_modes[m], 300, 512u << 10);
    printf("ok\n");
    return 0;
}

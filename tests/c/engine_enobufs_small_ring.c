/* A 4-buffer receive ring under 200 busy connections: recvs run out of
 * buffers (-ENOBUFS) all the time. That is never a close: the engine
 * re-arms them as buffers come back, so every byte is echoed, byte-exact,
 * nothing stalls, stats show the re-arms, and every buffer is back at the
 * end. Run with the buffers released at once, then held until the next poll
 * (URK_ENGINE_RELEASE_ON_POLL). */
#include "engine_util.h"

static void run(uint32_t nconn, uint32_t reactors, uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = reactors;
    o.buf_count = 4;
    o.buf_size = 4096;
    o.flags = flags;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    srv->auto_release = (flags & URK_ENGINE_RELEASE_ON_POLL) != 0;
    te_server_start(srv, e);
    te_client_t *cs = calloc(nconn, sizeof *cs);
    CHECK(cs);
    uint64_t total = 0;
    for (uint32_t i = 0; i < nconn; i++) {
        size_t len = 1 + (size_t)(i * 2654435761u) % (128u << 10);
        total += len;
        te_client_init(&cs[i], 0, port, len, 500 + i, 0);
    }
    uint64_t t0 = t_now_ms();
    te_clients_run(cs, nconn, 60000);
    for (uint32_t i = 0; i < nconn; i++)
        te_client_free(&cs[i]);
    free(cs);
    TE_WAIT(atomic_load(&srv->closes) == nconn, 10000);
    CHECK(atomic_load(&srv->closes_peer) == nconn);
    te_server_join(srv);
    uint64_t rearms = 0, in = 0;
    for (uint32_t i = 0; i < reactors; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        rearms += s.enobufs_rearms;
        in += s.bytes_in;
        CHECK(s.bufs_held == 0 && s.live_conns == 0 && s.send_queued == 0);
    }
    printf("%u connections x %u reactors of 4 buffers%s: %llu bytes echoed in %llu ms, "
           "enobufs_rearms %llu\n",
           nconn, reactors, flags ? " (release on poll)" : "", (unsigned long long)total, (unsigned long long)(t_now_ms() - t0),
           (unsigned long long)rearms);
    CHECK(in == total);
    CHECK(rearms > 0);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    free(srv);
}

int main(void)
{
    te_raise_nofile();
    uint32_t n = te_valgrind() ? 20 : 200;
    run(n, 1, 0);
    run(n, 2, 0);
    run(n, 2, URK_ENGINE_RELEASE_ON_POLL);
    printf("ok\n");
    return 0;
}

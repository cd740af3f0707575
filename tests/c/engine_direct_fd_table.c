/* URK_ENGINE_DIRECT_FD: accepted connections take no process descriptor.
 * While 500 connections are open, /proc/self/fd holds the clients' 500 and
 * nothing for the server side, in both accept modes; the same run without
 * the flag shows 500 more (so the count can tell the two apart). Afterwards
 * every counter is back to 0. Then slots are reused: with max_conns 64 (a
 * 64-slot table), 6 rounds of 60 connections each echo and close. */
#include "direct_util.h"

static void open_many(uint32_t flags, uint32_t n, int direct)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = flags;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    te_server_start(srv, e);
    int base = t_fd_count(); /* the engine's own: listener(s), rings, eventfds */
    int *fds = calloc(n, sizeof *fds);
    CHECK(fds);
    int during = td_open_clients(srv, port, fds, n, 0);
    int server_side = during - base - (int)n;
    printf("flags %#x: %u open connections, %d server-side descriptors\n", flags, n,
           server_side);
    if (direct)
        CHECK(server_side == 0);
    else
        CHECK(server_side == (int)n);
    for (uint32_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    TE_WAIT(atomic_load(&srv->closes) == n, 20000);
    CHECK(atomic_load(&srv->closes_peer) == n);
    te_server_join(srv);
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
        CHECK(s.closed == s.accepted);
    }
    CHECK(te_estats(e).accepted == n);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    CHECK(t_fd_count() == fds0);
}

static void reuse_slots(uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 1;
    o.max_conns = 64;
    o.flags = flags;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    te_server_start(srv, e);
    int base = t_fd_count();
    uint32_t per = 60, rounds = 6;
    te_client_t *cs = calloc(per, sizeof *cs);
    CHECK(cs);
    for (uint32_t round = 0; round < rounds; round++) {
        for (uint32_t i = 0; i < per; i++)
            te_client_init(&cs[i], 0, port, 1000 + i * 37, round * 1000 + i, 0);
        te_clients_run(cs, per, 20000);
        CHECK(t_fd_count() == base + (int)per); /* only the clients' */
        for (uint32_t i = 0; i < per; i++)
            te_client_free(&cs[i]);
        TE_WAIT(atomic_load(&srv->closes) == (round + 1) * per, 20000);
    }
    free(cs);
    CHECK(atomic_load(&srv->opens) == per * rounds);
    CHECK(atomic_load(&srv->closes_peer) == per * rounds);
    CHECK(te_estats(e).rejected == 0);
    te_server_join(srv);
    urk_reactor_stats_t s = te_rstats(te_reactor(e, 0));
    CHECK(s.accepted == per * rounds && s.closed == s.accepted);
    CHECK(s.live_conns == 0 && s.bufs_held == 0);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    printf("flags %#x: %u connections through a 64-slot table\n", flags, per * rounds);
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs polling threads");
    td_require(URK_CAP_DIRECT_FD | URK_CAP_MSG_RING_FD);
    te_raise_nofile();
    for (int m = 0; m < 2; m++) {
        printf("-- %s\n", td_mode_names[m]);
        open_many(td_modes[m] | URK_ENGINE_DIRECT_FD, 500, 1);
        open_many(td_modes[m], 500, 0);
        reuse_slots(td_modes[m] | URK_ENGINE_DIRECT_FD);
    }
    printf("ok\n");
    return 0;
}

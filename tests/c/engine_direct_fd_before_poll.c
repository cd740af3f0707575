/* URK_ENGINE_DIRECT_FD with the acceptor, connections that arrive before
 * any reactor's first poll: a direct descriptor can only be passed to a
 * running ring, so the acceptor holds them; yet (1) a host loop waiting on
 * urk_reactor_fd is woken, as for process fds, and (2) they are dealt out
 * round-robin to the reactor each was picked for, not to whichever reactor
 * starts first: 30 connections over 3 reactors give 10 each; with
 * URK_ENGINE_LEAST_CONN the held ones count as load: 8 over 2 give 4 each. */
#include "direct_util.h"

static int opened[3];

static int count_open(urk_reactor_t *r, const urk_event_t *ev, void *arg)
{
    (void)arg;
    if (ev->type == URK_EV_OPEN)
        opened[urk_reactor_index(r)]++;
    if (ev->type == URK_EV_DATA)
        CHECK_RC(urk_reactor_release(r, &ev->buf, 1), 1);
    return 0;
}

static void least_conn(void)
{
    memset(opened, 0, sizeof opened);
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = URK_ENGINE_DIRECT_FD | URK_ENGINE_LEAST_CONN;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = t_connect(0, port);
    uint64_t dl = t_now_ms() + 10000;
    while (opened[0] + opened[1] < 8) {
        CHECK(t_now_ms() < dl);
        for (int i = 1; i >= 0; i--)
            te_poll_until(te_reactor(e, (uint32_t)i), count_open, NULL, 5);
    }
    printf("least-conn, opened per reactor: %d %d\n", opened[0], opened[1]);
    CHECK(opened[0] == 4 && opened[1] == 4);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
}

int main(void)
{
    td_require(URK_CAP_DIRECT_FD | URK_CAP_MSG_RING_FD);
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 3;
    o.flags = URK_ENGINE_DIRECT_FD;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));
    int base = t_fd_count();
    int fds[30];
    for (int i = 0; i < 30; i++)
        fds[i] = t_connect(0, port);
    /* (1) no poll yet: each reactor's fd still becomes readable */
    for (uint32_t i = 0; i < 3; i++) {
        struct pollfd p = {urk_reactor_fd(te_reactor(e, i)), POLLIN, 0};
        CHECK(poll(&p, 1, 10000) == 1);
    }
    /* (2) reactor 2 starts first, then 1, then 0: still 10 each */
    uint64_t dl = t_now_ms() + 10000;
    while (opened[0] + opened[1] + opened[2] < 30) {
        CHECK(t_now_ms() < dl);
        for (int i = 2; i >= 0; i--)
            te_poll_until(te_reactor(e, (uint32_t)i), count_open, NULL, 5);
    }
    printf("opened per reactor: %d %d %d\n", opened[0], opened[1], opened[2]);
    CHECK(opened[0] == 10 && opened[1] == 10 && opened[2] == 10);
    CHECK(t_fd_count() == base + 30); /* direct: the clients' only */
    CHECK(te_estats(e).accepted == 30 && te_estats(e).rejected == 0);
    for (int i = 0; i < 30; i++)
        close(fds[i]);
    CHECK_OK(urk_engine_stop(e, 100));
    for (uint32_t i = 0; i < 3; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.accepted == 10);
    }
    urk_engine_destroy(e);
    least_conn();
    printf("ok\n");
    return 0;
}

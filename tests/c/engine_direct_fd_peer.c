/* URK_ENGINE_DIRECT_FD: a direct connection's peer address (read through
 * the ring with SO_PEERNAME, there being no fd for getpeername) is the
 * client's own address, in OPEN and from urk_conn_peer, over IPv4 and IPv6,
 * in both accept modes. The clients connect before the reactor's first
 * poll, so the acceptor holds them until the reactor runs. */
#include "direct_util.h"

typedef struct peer_ctx {
    urk_conn_t conn;
    urk_addr_t open_peer;
} peer_ctx_t;

static int on_open(urk_reactor_t *r, const urk_event_t *ev, void *arg)
{
    (void)r;
    peer_ctx_t *p = arg;
    if (ev->type != URK_EV_OPEN)
        return 0;
    p->conn = ev->conn;
    memset(&p->open_peer, 0, sizeof p->open_peer);
    memcpy(p->open_peer.bytes, ev->data, ev->len);
    p->open_peer.len = ev->len;
    return 1;
}

static int on_closed(urk_reactor_t *r, const urk_event_t *ev, void *arg)
{
    (void)r;
    (void)arg;
    return ev->type == URK_EV_CLOSED;
}

static void run(uint32_t flags, int v6)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 1;
    o.host = v6 ? "::1" : "127.0.0.1";
    o.flags = flags | URK_ENGINE_DIRECT_FD;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    int base = t_fd_count();
    for (int k = 0; k < 3; k++) {
        int fd = t_connect(v6, port);
        urk_addr_t mine;
        memset(&mine, 0, sizeof mine);
        socklen_t len = sizeof mine.bytes;
        CHECK(getsockname(fd, (struct sockaddr *)mine.bytes, &len) == 0);
        mine.len = len;
        peer_ctx_t p;
        memset(&p, 0, sizeof p);
        CHECK(te_poll_until(r, on_open, &p, 10000));
        CHECK(t_fd_count() == base + 1); /* direct: only the client's */
        urk_addr_t got;
        CHECK_OK(urk_conn_peer(r, p.conn, &got));
        char a[128], b[128], c[128];
        CHECK(urk_addr_format(&mine, a, sizeof a) > 0);
        CHECK(urk_addr_format(&got, b, sizeof b) > 0);
        CHECK(urk_addr_format(&p.open_peer, c, sizeof c) > 0);
        printf("flags %#x v6 %d: client %s, urk_conn_peer %s, OPEN %s\n", flags, v6, a, b, c);
        CHECK(got.len == mine.len && memcmp(got.bytes, mine.bytes, mine.len) == 0);
        CHECK(p.open_peer.len == mine.len && memcmp(p.open_peer.bytes, mine.bytes, mine.len) == 0);
        close(fd);
        CHECK(te_poll_until(r, on_closed, NULL, 10000));
        CHECK_RC(urk_conn_peer(r, p.conn, &got), -URK_ESTALE_ID);
    }
    urk_reactor_stats_t s = te_rstats(r);
    CHECK(s.live_conns == 0 && s.bufs_held == 0);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
}

int main(void)
{
    if (te_valgrind())
        t_skip("the acceptor thread blocks in the ring");
    td_require(URK_CAP_DIRECT_FD | URK_CAP_MSG_RING_FD);
    for (int m = 0; m < 2; m++) {
        run(td_modes[m], 0);
        run(td_modes[m], 1);
    }
    printf("ok\n");
    return 0;
}

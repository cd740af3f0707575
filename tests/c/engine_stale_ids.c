/* Stale connection ids. After its CLOSED event (closed by us or by the peer)
 * every call naming a connection gives -URK_ESTALE_ID, also once a new
 * connection has taken the same slot and the same descriptor; nothing of the
 * old connection reaches the new one (data, user value). Ids of another
 * reactor, 0 and garbage are refused without a crash. */
#include "engine_util.h"

static urk_event_t evs[256];
static int nevs;

/* Polls both reactors until an event of `type` arrives; returns it. Every
 * event seen is kept in evs[] for inspection. */
static urk_event_t wait_event(urk_engine_t *e, uint32_t type, int *reactor)
{
    uint64_t dl = t_now_ms() + 5000;
    while (t_now_ms() < dl) {
        for (uint32_t i = 0; i < 2; i++) {
            urk_event_t ev[8];
            int n = urk_reactor_poll(te_reactor(e, i), ev, 8, 0);
            CHECK(n >= 0);
            for (int k = 0; k < n; k++) {
                CHECK(nevs < 256);
                evs[nevs++] = ev[k];
            }
            for (int k = 0; k < n; k++)
                if (ev[k].type == type) {
                    CHECK(k == n - 1); /* callers expect one at a time */
                    if (reactor)
                        *reactor = (int)i;
                    return ev[k];
                }
        }
        te_sleep_ms(1);
    }
    fprintf(stderr, "no event of type %u\n", type);
    exit(1);
}

/* Every call that takes an id refuses this one with `want`. */
static void all_refuse(urk_reactor_t *r, urk_conn_t id, int want)
{
    urk_addr_t a;
    uint64_t u = 7;
    CHECK_RC(urk_send(r, id, "x", 1, 0, 0), want);
    CHECK_RC(urk_send(r, id, "x", 1, URK_SEND_NOCOPY, 1), want);
    urk_send_req_t req = {.conn = id, .data = "x", .len = 1};
    CHECK_RC(urk_send_batch(r, &req, 1), 0);
    CHECK_RC(req.result, want);
    CHECK_RC(urk_close(r, id, 0), want);
    CHECK_RC(urk_close(r, id, 1), want);
    CHECK_RC(urk_conn_pause_recv(r, id, 1), want);
    CHECK_RC(urk_conn_pause_recv(r, id, 0), want);
    CHECK_RC(urk_shutdown_write(r, id), want);
    CHECK_RC(urk_conn_peer(r, id, &a), want);
    CHECK_RC(urk_conn_set_user(r, id, 5), want);
    CHECK_RC(urk_conn_user(r, id, &u), want);
    CHECK(u == 7);
}

/* The engine's own descriptor for the client socket cfd. */
static int server_fd_of(int cfd)
{
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    CHECK(getsockname(cfd, (struct sockaddr *)&me, &len) == 0);
    for (int fd = 3; fd < 4096; fd++) {
        struct sockaddr_in p;
        len = sizeof p;
        if (fd == cfd || getpeername(fd, (struct sockaddr *)&p, &len) != 0)
            continue;
        if (p.sin_family == AF_INET && p.sin_port == me.sin_port)
            return fd;
    }
    return -1;
}

static urk_conn_t accept_one(urk_engine_t *e, int cfd, int *reactor, int *sfd)
{
    urk_event_t ev = wait_event(e, URK_EV_OPEN, reactor);
    CHECK(ev.conn != 0 && ev.user == 0);
    *sfd = server_fd_of(cfd);
    CHECK(*sfd >= 0);
    return ev.conn;
}

static int connect_prepared(int fd, uint16_t port)
{
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("127.0.0.1", port, &a));
    CHECK(connect(fd, (struct sockaddr *)a.bytes, a.len) == 0);
    return fd;
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs the acceptor thread (LEAST_CONN placement)");
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = URK_ENGINE_LEAST_CONN; /* an idle engine always picks reactor 0 */
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r0 = te_reactor(e, 0), *r1 = te_reactor(e, 1);
    urk_event_t ev[8];
    CHECK(urk_reactor_poll(r1, ev, 8, 0) >= 0); /* this thread owns both */

    /* A: closed by us */
    int ca = t_connect(0, port), ri, sfd_a;
    urk_conn_t a = accept_one(e, ca, &ri, &sfd_a);
    CHECK(ri == 0);
    CHECK_OK(urk_conn_set_user(r0, a, 0xAAAA));
    t_write_all(ca, "old", 3);
    urk_event_t d = wait_event(e, URK_EV_DATA, NULL);
    CHECK(d.conn == a && d.user == 0xAAAA && d.len == 3);
    CHECK_RC(urk_reactor_release(r0, &d.buf, 1), 1);
    /* B's client socket exists before A's server socket is gone, so B's
     * accept gets the lowest free descriptor: A's. */
    int cb = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(cb >= 0);
    CHECK_OK(urk_close(r0, a, 0));
    urk_event_t c = wait_event(e, URK_EV_CLOSED, NULL);
    CHECK(c.conn == a && c.res == 1 && c.user == 0xAAAA);
    all_refuse(r0, a, -URK_ESTALE_ID);
    char buf[64];
    CHECK(read(ca, buf, sizeof buf) == 0); /* our FIN */

    /* B takes A's slot and A's descriptor */
    connect_prepared(cb, port);
    int sfd_b;
    urk_conn_t b = accept_one(e, cb, &ri, &sfd_b);
    CHECK(ri == 0);
    printf("A id %016llx fd %d, B id %016llx fd %d\n", (unsigned long long)a, sfd_a,
           (unsigned long long)b, sfd_b);
    CHECK((b >> 32) == (a >> 32)); /* same reactor and slot */
    CHECK(b != a);
    CHECK(sfd_b == sfd_a);
    all_refuse(r0, a, -URK_ESTALE_ID);
    uint64_t u = 1;
    CHECK_OK(urk_conn_user(r0, b, &u));
    CHECK(u == 0); /* A's user value did not carry over */
    t_write_all(cb, "new", 3);
    d = wait_event(e, URK_EV_DATA, NULL);
    CHECK(d.conn == b && d.user == 0 && d.len == 3 && memcmp(d.data, "new", 3) == 0);
    CHECK_OK(urk_send(r0, b, d.data, d.len, 0, 0));
    CHECK_RC(urk_reactor_release(r0, &d.buf, 1), 1);
    CHECK_RC(urk_send(r0, a, "OLD", 3, 0, 0), -URK_ESTALE_ID);
    CHECK(urk_reactor_flush(r0) >= 1); /* pull mode: sends leave on poll or flush */
    /* B gets exactly its echo, nothing meant for A */
    t_read_all(cb, buf, 3);
    CHECK(memcmp(buf, "new", 3) == 0);
    for (int i = 0; i < 20; i++) {
        for (uint32_t k = 0; k < 2; k++)
            CHECK(urk_reactor_poll(te_reactor(e, k), ev, 8, 0) == 0);
        te_sleep_ms(2);
    }
    struct pollfd p = {cb, POLLIN, 0};
    CHECK(poll(&p, 1, 50) == 0);

    /* B's id on the other reactor, id 0, garbage */
    all_refuse(r1, b, -URK_ESTALE_ID);
    all_refuse(r0, 0, -URK_ESTALE_ID);
    all_refuse(r1, 0, -URK_ESTALE_ID);
    const urk_conn_t crafted[] = {
        b + 1, b - 1, b ^ (1ull << 32), b | (0xFFFFFFull << 32), (uint64_t)200 << 56 | (b & 0xFFFFFFFFFFFFFFull),
        ~0ull, 1, (1ull << 56), (1ull << 32) | 1, 0x00000000FFFFFFFFull,
    };
    for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
        all_refuse(r0, crafted[i], -URK_ESTALE_ID);
        all_refuse(r1, crafted[i], -URK_ESTALE_ID);
    }
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x == b)
            continue;
        CHECK_RC(urk_send(r0, x, "x", 1, 0, 0), -URK_ESTALE_ID);
        CHECK_RC(urk_close(i & 1 ? r0 : r1, x, 0), -URK_ESTALE_ID);
    }

    /* C: closed by its peer; stale after its CLOSED too */
    close(cb);
    c = wait_event(e, URK_EV_CLOSED, NULL);
    CHECK(c.conn == b && c.res == 0);
    all_refuse(r0, b, -URK_ESTALE_ID);
    close(ca);
    CHECK(te_rstats(r0).live_conns == 0 && te_rstats(r0).bufs_held == 0);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("ok\n");
    return 0;
}

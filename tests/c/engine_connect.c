/* urk_reactor_connect. To a local listener: OPEN carries the tag (and the
 * peer address), the tag is the connection's user value, data flows both
 * ways, and the id is the one urk_reactor_connect returned. To a closed
 * port: CONNECT_FAILED with -ECONNREFUSED and the tag, no OPEN and no CLOSED,
 * and the id is stale once the event is out. Bad arguments are refused. Also
 * in native mode (on_open / on_connect_failed) from the reactor's thread. */
#include "engine_util.h"

static uint16_t closed_port(void)
{
    uint16_t port;
    int fd = t_listen(0, &port);
    close(fd); /* nothing listens there now */
    return port;
}

static urk_event_t next_event(urk_reactor_t *r)
{
    urk_event_t ev;
    uint64_t dl = t_now_ms() + 5000;
    while (t_now_ms() < dl) {
        int n = urk_reactor_poll(r, &ev, 1, 20);
        CHECK(n >= 0);
        if (n == 1)
            return ev;
    }
    fprintf(stderr, "no event\n");
    exit(1);
}

static void pull_case(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_NO_LISTEN;
    urk_engine_t *e = te_create(&o);
    CHECK(urk_engine_port(e) == 0);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);

    /* bad arguments */
    urk_addr_t a;
    urk_conn_t c = 123;
    CHECK_RC(urk_reactor_connect(NULL, &a, 0, &c), -EINVAL);
    CHECK_RC(urk_reactor_connect(r, NULL, 0, &c), -EINVAL);
    CHECK_OK(urk_addr_parse("127.0.0.1", 1, &a));
    CHECK_RC(urk_reactor_connect(r, &a, 0, NULL), -EINVAL);
    urk_addr_t bad = a;
    bad.len = 3;
    CHECK_RC(urk_reactor_connect(r, &bad, 0, &c), -EINVAL);
    CHECK(c == 0);
    bad = a;
    ((struct sockaddr *)bad.bytes)->sa_family = AF_PACKET; /* not a stream family */
    CHECK_RC(urk_reactor_connect(r, &bad, 0, &c), -EINVAL);
    bad = a;
    ((struct sockaddr *)bad.bytes)->sa_family = AF_UNIX; /* unnamed: nothing to connect to */
    bad.len = sizeof(sa_family_t);
    CHECK_RC(urk_reactor_connect(r, &bad, 0, &c), -EINVAL);
    bad = a;
    bad.len = 200;
    CHECK_RC(urk_reactor_connect(r, &bad, 0, &c), -EINVAL);

    /* to a listener */
    uint16_t port;
    int lfd = t_listen(0, &port);
    CHECK_OK(urk_addr_parse("127.0.0.1", port, &a));
    CHECK_OK(urk_reactor_connect(r, &a, 0xC0FFEE, &c));
    CHECK(c != 0);
    urk_event_t ev = next_event(r);
    CHECK(ev.type == URK_EV_OPEN && ev.conn == c && ev.user == 0xC0FFEE && ev.res == 0);
    CHECK(ev.len == sizeof(struct sockaddr_in) &&
          ((const struct sockaddr_in *)ev.data)->sin_port == htons(port));
    uint64_t u = 0;
    CHECK_OK(urk_conn_user(r, c, &u));
    CHECK(u == 0xC0FFEE);
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(sfd >= 0);
    CHECK_OK(urk_send(r, c, "out", 3, 0, 0));
    CHECK(urk_reactor_flush(r) >= 1);
    char buf[8];
    t_read_all(sfd, buf, 3);
    CHECK(memcmp(buf, "out", 3) == 0);
    t_write_all(sfd, "in", 2);
    ev = next_event(r);
    CHECK(ev.type == URK_EV_DATA && ev.conn == c && ev.user == 0xC0FFEE && ev.len == 2);
    CHECK_RC(urk_reactor_release(r, &ev.buf, 1), 1);
    close(sfd); /* the peer closes: CLOSED res 0 with the user value */
    ev = next_event(r);
    CHECK(ev.type == URK_EV_CLOSED && ev.conn == c && ev.res == 0 && ev.user == 0xC0FFEE);
    CHECK(te_rstats(r).connected == 1);

    /* sends queued before the connection opens go out once it does */
    CHECK_OK(urk_reactor_connect(r, &a, 7, &c));
    CHECK_OK(urk_send(r, c, "early", 5, 0, 0));
    ev = next_event(r);
    CHECK(ev.type == URK_EV_OPEN && ev.conn == c && ev.user == 7);
    sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(sfd >= 0);
    CHECK(urk_reactor_poll(r, &ev, 1, 10) == 0);
    t_read_all(sfd, buf, 5);
    CHECK(memcmp(buf, "early", 5) == 0);
    CHECK_OK(urk_close(r, c, 0));
    ev = next_event(r);
    CHECK(ev.type == URK_EV_CLOSED && ev.conn == c && ev.res == 1);
    CHECK(read(sfd, buf, sizeof buf) == 0);
    close(sfd);
    close(lfd);

    /* to a closed port */
    CHECK_OK(urk_addr_parse("127.0.0.1", closed_port(), &a));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(urk_reactor_connect(r, &a, 0xBAD0 + (uint64_t)i, &c));
        ev = next_event(r);
        CHECK(ev.type == URK_EV_CONNECT_FAILED && ev.conn == c);
        CHECK(ev.res == -ECONNREFUSED && ev.user == 0xBAD0 + (uint64_t)i);
        /* gone once the event is out: no CLOSED follows */
        CHECK_RC(urk_send(r, c, "x", 1, 0, 0), -URK_ESTALE_ID);
        CHECK_RC(urk_close(r, c, 0), -URK_ESTALE_ID);
        CHECK_RC(urk_conn_user(r, c, &u), -URK_ESTALE_ID);
        CHECK(urk_reactor_poll(r, &ev, 1, 30) == 0);
    }
    urk_reactor_stats_t s = te_rstats(r);
    CHECK(s.live_conns == 0 && s.connected == 2);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

/* native: the reactor's thread opens connections from its callbacks (the
 * only place native code runs): a client of the engine triggers a connect
 * to our listener (tag 1), whose OPEN triggers one to a closed port (tag 2) */
static uint16_t native_port, refused_port;
static _Atomic int n_open, n_failed;
static _Atomic int32_t failed_res;
static _Atomic uint64_t failed_tag, open_tags;

static void on_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *peer, uint64_t tag, void *u)
{
    (void)c, (void)peer, (void)u;
    atomic_fetch_add(&n_open, 1);
    atomic_fetch_or(&open_tags, 1ull << tag);
    urk_addr_t a;
    urk_conn_t c2;
    if (tag == 0) { /* accepted */
        CHECK_OK(urk_addr_parse("127.0.0.1", native_port, &a));
        CHECK_OK(urk_reactor_connect(r, &a, 1, &c2));
    } else if (tag == 1) {
        CHECK_OK(urk_addr_parse("127.0.0.1", refused_port, &a));
        CHECK_OK(urk_reactor_connect(r, &a, 2, &c2));
    }
}
static void on_failed(urk_reactor_t *r, urk_conn_t c, int32_t res, uint64_t tag, void *u)
{
    (void)u;
    uint64_t user;
    CHECK_RC(urk_conn_user(r, c, &user), -URK_ESTALE_ID);
    atomic_store(&failed_res, res);
    atomic_store(&failed_tag, tag);
    atomic_fetch_add(&n_failed, 1);
}

static void native_case(void)
{
    int lfd = t_listen(0, &native_port);
    refused_port = closed_port();
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_open = on_open;
    cb.on_connect_failed = on_failed;
    CHECK_OK(urk_engine_start(e, &cb));
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* the engine's outgoing one */
    CHECK(sfd >= 0);
    TE_WAIT(atomic_load(&n_failed) == 1, 5000);
    CHECK(atomic_load(&n_open) == 2 && atomic_load(&open_tags) == 3);
    CHECK(atomic_load(&failed_res) == -ECONNREFUSED && atomic_load(&failed_tag) == 2);
    urk_reactor_stats_t s = te_rstats(te_reactor(e, 0));
    CHECK(s.connected == 1 && s.accepted == 1 && s.live_conns == 2);
    close(cfd);
    close(sfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    close(lfd);
}

int main(void)
{
    pull_case();
    if (!te_valgrind()) /* a native thread blocked in the ring starves us */
        native_case();
    printf("ok\n");
    return 0;
}

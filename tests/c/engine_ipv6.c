/* IPv6: an engine listening on ::1 accepts and echoes (the OPEN event and
 * urk_conn_peer give the client's sockaddr_in6), in acceptor and REUSEPORT
 * mode; urk_reactor_connect reaches an IPv6 listener ([::1]) and exchanges
 * data. Skipped where the host has no IPv6 loopback. */
#include "engine_util.h"

static int have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void listener_case(const char *host, uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.host = host;
    o.flags = flags;
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK(port > 0);
    CHECK_OK(urk_engine_start(e, NULL));
    int cfd = t_connect(1, port);
    struct sockaddr_in6 me;
    socklen_t len = sizeof me;
    CHECK(getsockname(cfd, (struct sockaddr *)&me, &len) == 0);

    urk_event_t ev[8];
    urk_reactor_t *r = NULL;
    urk_conn_t c = 0;
    uint64_t dl = t_now_ms() + 5000;
    while (!c) {
        CHECK(t_now_ms() < dl);
        for (uint32_t i = 0; i < 2 && !c; i++) {
            int n = urk_reactor_poll(te_reactor(e, i), ev, 8, 5);
            CHECK(n >= 0);
            for (int k = 0; k < n; k++)
                if (ev[k].type == URK_EV_OPEN) {
                    c = ev[k].conn;
                    r = te_reactor(e, i);
                    CHECK(ev[k].len == sizeof(struct sockaddr_in6));
                    const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)ev[k].data;
                    CHECK(p->sin6_family == AF_INET6 && p->sin6_port == me.sin6_port);
                    CHECK(memcmp(&p->sin6_addr, &in6addr_loopback, 16) == 0);
                }
        }
    }
    urk_addr_t peer;
    CHECK_OK(urk_conn_peer(r, c, &peer));
    char text[64], want[64];
    CHECK(urk_addr_format(&peer, text, sizeof text) > 0);
    snprintf(want, sizeof want, "[::1]:%u", ntohs(me.sin6_port));
    CHECK(strcmp(text, want) == 0);

    t_write_all(cfd, "six", 3);
    int echoed = 0;
    dl = t_now_ms() + 5000;
    while (!echoed) {
        CHECK(t_now_ms() < dl);
        int n = urk_reactor_poll(r, ev, 8, 20);
        for (int k = 0; k < n; k++)
            if (ev[k].type == URK_EV_DATA) {
                CHECK_OK(urk_send(r, ev[k].conn, ev[k].data, ev[k].len, 0, 0));
                CHECK_RC(urk_reactor_release(r, &ev[k].buf, 1), 1);
                echoed = 1;
            }
    }
    CHECK(urk_reactor_flush(r) >= 0);
    char got[3];
    t_read_all(cfd, got, 3);
    CHECK(memcmp(got, "six", 3) == 0);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("listening on %s%s: %s echoed\n", host, flags ? " (reuseport)" : "", text);
}

static void connect_case(void)
{
    uint16_t port;
    int lfd = t_listen(1, &port);
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_NO_LISTEN;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("[::1]", port, &a));
    urk_conn_t c;
    CHECK_OK(urk_reactor_connect(r, &a, 0x6666, &c));
    CHECK(c != 0);
    CHECK(urk_reactor_flush(r) >= 1); /* pull mode: the connect leaves now */
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(sfd >= 0);
    urk_event_t ev[8];
    int opened = 0, got = 0;
    uint64_t dl = t_now_ms() + 5000;
    while (!opened) {
        CHECK(t_now_ms() < dl);
        int n = urk_reactor_poll(r, ev, 8, 20);
        for (int k = 0; k < n; k++) {
            CHECK(ev[k].type == URK_EV_OPEN && ev[k].conn == c && ev[k].user == 0x6666);
            CHECK(ev[k].len == sizeof(struct sockaddr_in6));
            opened = 1;
        }
    }
    CHECK_OK(urk_send(r, c, "hello6", 6, 0, 0));
    CHECK(urk_reactor_flush(r) >= 1);
    char buf[8];
    t_read_all(sfd, buf, 6);
    CHECK(memcmp(buf, "hello6", 6) == 0);
    t_write_all(sfd, "back", 4);
    dl = t_now_ms() + 5000;
    while (!got) {
        CHECK(t_now_ms() < dl);
        int n = urk_reactor_poll(r, ev, 8, 20);
        for (int k = 0; k < n; k++) {
            CHECK(ev[k].type == URK_EV_DATA && ev[k].conn == c && ev[k].user == 0x6666);
            CHECK(ev[k].len == 4 && memcmp(ev[k].data, "back", 4) == 0);
            CHECK_RC(urk_reactor_release(r, &ev[k].buf, 1), 1);
            got = 1;
        }
    }
    CHECK(te_rstats(r).connected == 1);
    close(sfd);
    close(lfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("urk_reactor_connect to [::1]:%u: ok\n", port);
}

int main(void)
{
    if (!have_ipv6())
        t_skip("no IPv6 loopback");
    listener_case("::1", 0);
    listener_case("[::1]", URK_ENGINE_REUSEPORT);
    connect_case();
    printf("ok\n");
    return 0;
}

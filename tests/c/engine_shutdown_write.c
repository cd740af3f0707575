/* urk_shutdown_write: FIN after the queued sends, while reading goes on.
 *   - with data queued: the peer gets all of it, then EOF; the peer can
 *     still send and we still receive; urk_send then gives -URK_ECLOSING;
 *     the peer closing ends the connection (CLOSED res 0);
 *   - with nothing queued: EOF at once;
 *   - on an outgoing connection still connecting: the FIN follows the open
 *     (after the sends queued meanwhile). */
#include "engine_util.h"

static urk_event_t next(urk_reactor_t *r)
{
    urk_event_t ev;
    uint64_t dl = t_now_ms() + 5000;
    while (t_now_ms() < dl)
        if (urk_reactor_poll(r, &ev, 1, 20) == 1)
            return ev;
    fprintf(stderr, "no event\n");
    exit(1);
}

static void expect_eof_after(int fd, const void *data, size_t len)
{
    uint8_t *buf = malloc(len + 1);
    CHECK(buf);
    t_read_all(fd, buf, len);
    CHECK(memcmp(buf, data, len) == 0);
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) {
        fprintf(stderr, "no EOF after %zu bytes\n", len);
        exit(1);
    }
    CHECK(read(fd, buf, 1) == 0);
    free(buf);
}

int main(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);

    /* with data queued */
    int cfd = t_connect(0, port);
    urk_event_t ev = next(r);
    CHECK(ev.type == URK_EV_OPEN);
    urk_conn_t c = ev.conn;
    size_t len = 3u << 20;
    uint8_t *big = malloc(len);
    CHECK(big);
    t_fill(big, len, 1);
    CHECK_OK(urk_send(r, c, big, (uint32_t)len, 0, 0));
    CHECK_OK(urk_shutdown_write(r, c));
    CHECK_OK(urk_shutdown_write(r, c)); /* again: no-op */
    CHECK_RC(urk_send(r, c, "late", 4, 0, 0), -URK_ECLOSING);
    /* the reactor must run for the data to flow: poll from a helper loop */
    te_nonblock(cfd);
    size_t got = 0;
    uint8_t *back = malloc(len + 1);
    CHECK(back);
    uint64_t dl = t_now_ms() + 10000;
    int eof = 0;
    while (!eof) {
        CHECK(t_now_ms() < dl);
        urk_event_t none;
        CHECK(urk_reactor_poll(r, &none, 1, 1) == 0);
        ssize_t k = read(cfd, back + got, len - got + (got == len));
        if (k > 0)
            got += (size_t)k;
        else if (k == 0)
            eof = 1;
    }
    CHECK(got == len && memcmp(back, big, len) == 0);
    /* reading goes on */
    t_write_all(cfd, "still", 5);
    ev = next(r);
    CHECK(ev.type == URK_EV_DATA && ev.conn == c && ev.len == 5);
    CHECK_RC(urk_reactor_release(r, &ev.buf, 1), 1);
    close(cfd);
    ev = next(r);
    CHECK(ev.type == URK_EV_CLOSED && ev.conn == c && ev.res == 0);

    /* nothing queued */
    cfd = t_connect(0, port);
    ev = next(r);
    CHECK(ev.type == URK_EV_OPEN);
    CHECK_OK(urk_shutdown_write(r, ev.conn));
    CHECK(urk_reactor_flush(r) >= 1);
    expect_eof_after(cfd, "", 0);
    close(cfd);
    ev = next(r);
    CHECK(ev.type == URK_EV_CLOSED && ev.res == 0);

    /* still connecting */
    uint16_t lport;
    int lfd = t_listen(0, &lport);
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("127.0.0.1", lport, &a));
    for (int queued = 0; queued < 2; queued++) {
        CHECK_OK(urk_reactor_connect(r, &a, 5, &c));
        if (queued)
            CHECK_OK(urk_send(r, c, "first", 5, 0, 0));
        CHECK_OK(urk_shutdown_write(r, c));
        ev = next(r);
        CHECK(ev.type == URK_EV_OPEN && ev.conn == c);
        int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        CHECK(sfd >= 0);
        for (int i = 0; i < 5; i++)
            CHECK(urk_reactor_poll(r, &ev, 1, 5) == 0);
        expect_eof_after(sfd, "first", queued ? 5 : 0);
        close(sfd);
        ev = next(r);
        CHECK(ev.type == URK_EV_CLOSED && ev.conn == c && ev.res == 0);
    }
    close(lfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    free(big);
    free(back);
    printf("ok\n");
    return 0;
}

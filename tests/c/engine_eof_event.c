/* URK_ENGINE_HALF_CLOSE: a peer's FIN becomes URK_EV_EOF (after its last
 * DATA, res 0, user the connection's user value); the connection stays open:
 * replies sent after EOF, even several polls later, reach the peer, which
 * then sees our FIN when we urk_close (CLOSED res 1), or when we
 * urk_shutdown_write and then urk_close. Without the flag a FIN still closes
 * the connection (CLOSED 0, no EOF event). Native mode: on_eof runs and may
 * reply and close; a 0.1-sized callbacks struct (no on_eof) gets the
 * connection closed gracefully. */
#include "engine_util.h"

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

/* Events a pull-mode reactor produced while read_to_eof pumped it. */
static urk_event_t saved[8];
static int nsaved;

/* Reads until EOF; returns the bytes read. With r, polls r meanwhile (its
 * completions drive our side) and keeps what it returns in saved[]. */
static size_t read_to_eof(int fd, char *buf, size_t cap, urk_reactor_t *r)
{
    size_t got = 0;
    uint64_t dl = t_now_ms() + 5000;
    for (;;) {
        CHECK(t_now_ms() < dl);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, r ? 1 : 5000);
        CHECK(ready >= 0);
        if (ready == 0) {
            if (r) {
                urk_event_t ev;
                int n = urk_reactor_poll(r, &ev, 1, 0);
                CHECK(n >= 0);
                if (n == 1) {
                    CHECK(nsaved < 8);
                    saved[nsaved++] = ev;
                }
            }
            continue;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        CHECK(n >= 0);
        if (n == 0)
            return got;
        got += (size_t)n;
        CHECK(got < cap);
    }
}

static void pull_case(uint32_t flags, int shut_first)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = flags;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    int fd = t_connect(0, (uint16_t)urk_engine_port(e));
    t_write_all(fd, "hello", 5);
    CHECK(shutdown(fd, SHUT_WR) == 0);

    urk_event_t ev = next_event(r);
    CHECK(ev.type == URK_EV_OPEN);
    urk_conn_t c = ev.conn;
    CHECK_OK(urk_conn_set_user(r, c, 77));
    char got[64];
    size_t have = 0;
    for (;;) {
        ev = next_event(r);
        CHECK(ev.conn == c);
        if (ev.type != URK_EV_DATA)
            break;
        CHECK(ev.user == 77);
        memcpy(got + have, ev.data, ev.len);
        have += ev.len;
        CHECK_RC(urk_reactor_release(r, &ev.buf, 1), 1);
    }
    CHECK(have == 5 && memcmp(got, "hello", 5) == 0);
    if (!(flags & URK_ENGINE_HALF_CLOSE)) {
        CHECK(ev.type == URK_EV_CLOSED && ev.res == 0); /* as before */
        char buf[8];
        CHECK(read_to_eof(fd, buf, sizeof buf, NULL) == 0);
        close(fd);
        urk_engine_destroy(e);
        return;
    }
    CHECK(ev.type == URK_EV_EOF);
    CHECK(ev.res == 0 && ev.user == 77 && ev.buf == 0);
    /* Still open: nothing more happens on its own. */
    CHECK_RC(urk_reactor_poll(r, &ev, 1, 50), 0);
    uint64_t user = 0;
    CHECK_OK(urk_conn_user(r, c, &user));
    CHECK(user == 77);
    CHECK_OK(urk_send(r, c, "wor", 3, 0, 0));
    CHECK_RC(urk_reactor_poll(r, &ev, 1, 20), 0);
    CHECK_OK(urk_send(r, c, "ld", 2, 0, 0));
    if (shut_first) {
        CHECK_OK(urk_shutdown_write(r, c));
        CHECK_RC(urk_send(r, c, "x", 1, 0, 0), -URK_ECLOSING);
        CHECK(urk_reactor_flush(r) >= 0);
        /* the peer sees our FIN while the id is still ours to close */
        char buf[64];
        nsaved = 0;
        CHECK(read_to_eof(fd, buf, sizeof buf, r) == 5 && memcmp(buf, "world", 5) == 0);
        CHECK(nsaved == 0); /* our FIN does not end the connection */
        CHECK_RC(urk_reactor_poll(r, &ev, 1, 50), 0);
        CHECK_OK(urk_close(r, c, 0));
    } else {
        CHECK_OK(urk_close(r, c, 0));
        CHECK(urk_reactor_flush(r) >= 0);
        char buf[64];
        nsaved = 0;
        CHECK(read_to_eof(fd, buf, sizeof buf, r) == 5 && memcmp(buf, "world", 5) == 0);
    }
    ev = nsaved ? saved[0] : next_event(r);
    CHECK(ev.type == URK_EV_CLOSED && ev.conn == c && ev.res == 1 && ev.user == 77);
    CHECK_RC(urk_send(r, c, "x", 1, 0, 0), -URK_ESTALE_ID);
    close(fd);
    CHECK_OK(urk_engine_stop(e, 0));
    CHECK(te_rstats(r).live_conns == 0);
    urk_engine_destroy(e);
}

static _Atomic int eofs, closes;

static void n_on_eof(urk_reactor_t *r, urk_conn_t c, void *u)
{
    (void)u;
    atomic_fetch_add(&eofs, 1);
    CHECK_OK(urk_send(r, c, "bye", 3, 0, 0));
    CHECK_OK(urk_close(r, c, 0));
}

static void n_on_close(urk_reactor_t *r, urk_conn_t c, int32_t reason, void *u)
{
    (void)r, (void)c, (void)u;
    CHECK(reason == 0 || reason == 1);
    atomic_fetch_add(&closes, 1);
}

static void native_case(int old_size)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_HALF_CLOSE;
    urk_engine_t *e = te_create(&o);
    urk_callbacks_t cb;
    CHECK_OK(urk_callbacks_init(&cb));
    CHECK(cb.struct_size == 72);
    cb.on_close = n_on_close;
    if (old_size)
        cb.struct_size = 64; /* a caller built against 0.1: no on_eof */
    else
        cb.on_eof = n_on_eof;
    atomic_store(&eofs, 0);
    atomic_store(&closes, 0);
    CHECK_OK(urk_engine_start(e, &cb));
    int fd = t_connect(0, (uint16_t)urk_engine_port(e));
    t_write_all(fd, "hi", 2);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    char buf[16];
    size_t n = read_to_eof(fd, buf, sizeof buf, NULL);
    if (old_size) {
        CHECK(n == 0);
    } else {
        CHECK(n == 3 && memcmp(buf, "bye", 3) == 0);
    }
    uint64_t dl = t_now_ms() + 5000;
    while (atomic_load(&closes) == 0 && t_now_ms() < dl)
        te_sleep_ms(1);
    CHECK(atomic_load(&closes) == 1);
    CHECK(atomic_load(&eofs) == (old_size ? 0 : 1));
    close(fd);
    urk_engine_destroy(e);
}

int main(void)
{
    pull_case(0, 0);
    pull_case(URK_ENGINE_HALF_CLOSE, 0);
    pull_case(URK_ENGINE_HALF_CLOSE, 1);
    if (!te_valgrind()) {
        native_case(0);
        native_case(1);
    }
    printf("ok\n");
    return 0;
}

/* Out of memory, nothing is lost silently. The acceptor's per-batch array
 * is allocated by urk_engine_create, whose failure is -ENOMEM (it was an
 * unchecked calloc in the acceptor thread). When the reactor's event queue
 * cannot grow, every connection the caller saw open is also seen closed and
 * no CLOSED names a connection the caller never saw: room for OPEN and
 * CLOSED is reserved when the connection is taken, and a connection that
 * cannot get it is refused at once (counted in `rejected`). */
#include "engine_util.h"
#include "alloc_hook.h"

#define CONNS 300

static int seen(const urk_conn_t *ids, int n, urk_conn_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

int main(void)
{
    if (!ALLOC_HOOK || te_valgrind())
        t_skip("needs the test's own malloc");
    te_raise_nofile();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 3;
    o.max_conns = 1024;
    urk_engine_t *e = NULL;
    atomic_store(&ah_fail_calloc, 3);
    CHECK_RC(urk_engine_create(&o, &e), -ENOMEM);
    CHECK(e == NULL);
    atomic_store(&ah_fail_calloc, 0);

    o.reactors = 1;
    e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++)
        fds[i] = t_connect(0, port);
    uint64_t dl = t_now_ms() + 5000;
    while (te_estats(e).accepted < CONNS && t_now_ms() < dl)
        te_sleep_ms(2);
    CHECK(te_estats(e).accepted == CONNS);

    /* The queue holds 256 events; growing it to 512 fails from now on. */
    atomic_store(&ah_fail_malloc, 512 * sizeof(urk_event_t));
    static urk_conn_t opened[CONNS], closed[CONNS];
    int nopen = 0, nclosed = 0, quiet = 0;
    urk_event_t ev;
    while (quiet < 20) {
        int n = urk_reactor_poll(r, &ev, 1, 10);
        CHECK(n >= 0);
        if (n == 0) {
            quiet++;
            continue;
        }
        quiet = 0;
        CHECK(ev.type == URK_EV_OPEN);
        CHECK(nopen < CONNS);
        opened[nopen++] = ev.conn;
    }
    uint64_t rejected = te_estats(e).rejected;
    printf("%d opened, %llu refused\n", nopen, (unsigned long long)rejected);
    CHECK(nopen > 0);
    CHECK((uint64_t)nopen + rejected == CONNS);
    for (int i = 0; i < CONNS; i++)
        close(fds[i]);
    dl = t_now_ms() + 5000;
    while (nclosed < nopen && t_now_ms() < dl) {
        int n = urk_reactor_poll(r, &ev, 1, 10);
        CHECK(n >= 0);
        if (n == 0)
            continue;
        if (ev.type == URK_EV_DATA)
            CHECK_RC(urk_reactor_release(r, &ev.buf, 1), 1);
        if (ev.type != URK_EV_CLOSED)
            continue;
        if (!seen(opened, nopen, ev.conn)) {
            fprintf(stderr, "CLOSED for a connection never seen open\n");
            return 1;
        }
        CHECK(!seen(closed, nclosed, ev.conn));
        closed[nclosed++] = ev.conn;
    }
    CHECK(nclosed == nopen);
    atomic_store(&ah_fail_malloc, 0);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("ok\n");
    return 0;
}

/* Owner-thread rule. In pull mode the first thread to poll a reactor owns
 * it: every other reactor call from another thread gives -URK_ETHREAD and
 * changes nothing; urk_reactor_wake, urk_reactor_fd and urk_reactor_stats
 * work from any thread. In native mode the reactor's own thread owns it from
 * the start: a call from outside gives -URK_ETHREAD even right after
 * urk_engine_start returns (it must not steal the reactor from its thread),
 * and the reactors go on serving. */
#include "engine_util.h"

static urk_reactor_t *target;
static urk_conn_t target_conn;
static int results[32], nresults;
static int native_target; /* urk_reactor_poll on a native reactor: -URK_ESTATE */

static void *intruder(void *arg)
{
    (void)arg;
    urk_reactor_t *r = target;
    urk_conn_t c = target_conn;
    urk_event_t ev[4];
    uint32_t buf = 1;
    uint64_t u;
    urk_addr_t a;
    urk_conn_t out;
    urk_send_req_t req = {.conn = c, .data = "x", .len = 1};
    CHECK_OK(urk_addr_parse("127.0.0.1", 1, &a));
    nresults = 0;
    results[nresults++] = urk_reactor_poll(r, ev, 4, 0);
    results[nresults++] = urk_reactor_flush(r);
    results[nresults++] = urk_reactor_release(r, &buf, 1);
    results[nresults++] = urk_send(r, c, "x", 1, 0, 0);
    results[nresults++] = urk_send_batch(r, &req, 1) == 0 ? req.result : 0;
    results[nresults++] = urk_close(r, c, 0);
    results[nresults++] = urk_close(r, c, 1);
    results[nresults++] = urk_conn_pause_recv(r, c, 1);
    results[nresults++] = urk_shutdown_write(r, c);
    results[nresults++] = urk_reactor_connect(r, &a, 0, &out);
    results[nresults++] = urk_conn_peer(r, c, &a);
    results[nresults++] = urk_conn_set_user(r, c, 1);
    results[nresults++] = urk_conn_user(r, c, &u);
    /* allowed from anywhere */
    urk_reactor_stats_t s;
    CHECK_OK(urk_reactor_stats(r, &s));
    CHECK(urk_reactor_fd(r) >= 0);
    CHECK_OK(urk_reactor_wake(r));
    CHECK(urk_reactor_index(r) >= 0);
    return NULL;
}

static void run_intruder(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL) == 0);
    pthread_join(t, NULL);
    for (int i = 0; i < nresults; i++)
        if (results[i] != -URK_ETHREAD &&
            !(i == 0 && native_target && results[i] == -URK_ESTATE)) {
            fprintf(stderr, "call %d from a non-owner returned %d (%s)\n", i, results[i],
                    urk_err_name(results[i]));
            exit(1);
        }
}

static void pull_case(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    urk_event_t ev;
    uint64_t dl = t_now_ms() + 5000;
    urk_conn_t c = 0;
    while (!c) {
        CHECK(t_now_ms() < dl);
        if (urk_reactor_poll(r, &ev, 1, 20) == 1 && ev.type == URK_EV_OPEN)
            c = ev.conn;
    }
    t_write_all(cfd, "held", 4);
    while (urk_reactor_poll(r, &ev, 1, 20) != 1)
        CHECK(t_now_ms() < dl);
    CHECK(ev.type == URK_EV_DATA && ev.buf != 0);
    target = r;
    target_conn = c;
    run_intruder();
    /* nothing changed: the connection is open, the buffer still held */
    CHECK(te_rstats(r).bufs_held == 1 && te_rstats(r).live_conns == 1);
    CHECK_OK(urk_conn_set_user(r, c, 9));
    CHECK_RC(urk_reactor_release(r, &ev.buf, 1), 1);
    CHECK_OK(urk_send(r, c, "ok", 2, 0, 0));
    CHECK(urk_reactor_flush(r) >= 1);
    char b[2];
    t_read_all(cfd, b, 2);
    CHECK(memcmp(b, "ok", 2) == 0);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

static int32_t echo(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n, uint32_t buf,
                    void *u)
{
    (void)buf, (void)u;
    CHECK_OK(urk_send(r, c, d, n, 0, 0));
    return 0;
}

static void native_case(void)
{
    for (int round = 0; round < 20; round++) {
        urk_engine_opts_t o;
        te_opts(&o);
        o.reactors = 2;
        urk_engine_t *e = te_create(&o);
        urk_callbacks_t cb;
        urk_callbacks_init(&cb);
        cb.on_data = echo;
        CHECK_OK(urk_engine_start(e, &cb));
        /* at once, racing the reactor threads' start */
        uint64_t u;
        for (uint32_t i = 0; i < 2; i++) {
            urk_reactor_t *r = te_reactor(e, i);
            CHECK_RC(urk_conn_user(r, 1, &u), -URK_ETHREAD);
            CHECK_RC(urk_reactor_flush(r), -URK_ETHREAD);
            urk_event_t ev;
            CHECK_RC(urk_reactor_poll(r, &ev, 1, 0), -URK_ESTATE);
        }
        /* both reactors still serve */
        for (int k = 0; k < 2; k++) {
            int fd = t_connect(0, (uint16_t)urk_engine_port(e));
            char b = 'n';
            t_write_all(fd, &b, 1);
            struct pollfd p = {fd, POLLIN, 0};
            CHECK(poll(&p, 1, 5000) == 1);
            CHECK(read(fd, &b, 1) == 1 && b == 'n');
            close(fd);
        }
        if (round == 0) {
            target = te_reactor(e, 0);
            target_conn = 1;
            native_target = 1;
            run_intruder();
        }
        CHECK_OK(urk_engine_stop(e, 0));
        urk_engine_destroy(e);
    }
}

int main(void)
{
    pull_case();
    if (!te_valgrind()) /* a native thread blocked in the ring starves us */
        native_case();
    printf("ok\n");
    return 0;
}

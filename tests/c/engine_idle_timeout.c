/* idle_timeout_ms: a connection that sends nothing is closed by the engine
 * (CLOSED res -ETIMEDOUT; the peer sees EOF) once it has been idle that
 * long; a busy one that keeps talking for four times as long stays open. */
#include "engine_util.h"

int main(void)
{
    if (te_valgrind())
        t_skip("blocking client reads need a polling thread");
    const uint32_t idle = 200;
    urk_engine_opts_t o;
    te_opts(&o);
    o.idle_timeout_ms = idle;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    static te_server_t srv;
    te_server_start(&srv, e);

    uint64_t t0 = t_now_ms();
    int quiet = t_connect(0, port);
    int busy = t_connect(0, port);
    TE_WAIT(atomic_load(&srv.opens) == 2, 5000);

    /* busy: one byte and its echo every 40 ms for 4 x idle */
    uint64_t quiet_closed_at = 0;
    char b;
    while (t_now_ms() - t0 < 4 * idle) {
        b = 'b';
        t_write_all(busy, &b, 1);
        t_read_all(busy, &b, 1);
        CHECK(b == 'b');
        struct pollfd p = {quiet, POLLIN, 0};
        if (!quiet_closed_at && poll(&p, 1, 0) == 1) {
            CHECK(read(quiet, &b, 1) == 0); /* EOF, not data */
            quiet_closed_at = t_now_ms();
        }
        te_sleep_ms(40);
    }
    if (!quiet_closed_at) {
        struct pollfd p = {quiet, POLLIN, 0};
        CHECK(poll(&p, 1, 3000) == 1);
        CHECK(read(quiet, &b, 1) == 0);
        quiet_closed_at = t_now_ms();
    }
    printf("idle connection closed after %llu ms (timeout %u ms)\n",
           (unsigned long long)(quiet_closed_at - t0), idle);
    /* not before its time (ms clock granularity aside) */
    CHECK(quiet_closed_at - t0 >= idle - 10);
    CHECK(atomic_load(&srv.closes) == 1 && atomic_load(&srv.closes_err) == 1);
    CHECK(atomic_load(&srv.last_err) == -ETIMEDOUT);
    /* the busy one is still served */
    b = 'c';
    t_write_all(busy, &b, 1);
    t_read_all(busy, &b, 1);
    CHECK(b == 'c');
    close(busy);
    close(quiet);
    TE_WAIT(atomic_load(&srv.closes) == 2, 5000);
    CHECK(atomic_load(&srv.closes_peer) == 1);
    te_server_join(&srv);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("ok\n");
    return 0;
}

/* A peer that closes while the reactor is idle: URK_EV_CLOSED must end the
 * waiting poll (pull mode) and reach on_close (native mode) promptly, not
 * wait for some unrelated later event. */
#include "testutil.h"

#include <stdatomic.h>

static _Atomic int native_closed;

static void on_close(urk_reactor_t *r, urk_conn_t c, int32_t reason, void *u)
{
    (void)r; (void)c; (void)u;
    CHECK(reason == 0);
    atomic_store(&native_closed, 1);
}

static void pull_mode(void)
{
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    urk_engine_t *e;
    CHECK_OK(urk_engine_create(&o, &e));
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r;
    CHECK_OK(urk_engine_reactor(e, 0, &r));
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    urk_event_t ev[16];
    int opened = 0;
    uint64_t deadline = t_now_ms() + 5000;
    while (!opened && t_now_ms() < deadline) {
        int n = urk_reactor_poll(r, ev, 16, 100);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++)
            opened |= ev[i].type == URK_EV_OPEN;
    }
    CHECK(opened);
    close(cfd);
    uint64_t t0 = t_now_ms();
    /* One blocking poll with a long timeout: CLOSED must end it. */
    int n = urk_reactor_poll(r, ev, 16, 3000);
    CHECK(n == 1 && ev[0].type == URK_EV_CLOSED && ev[0].res == 0);
    CHECK(t_now_ms() - t0 < 1000);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

static void native_mode(void)
{
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    urk_engine_t *e;
    CHECK_OK(urk_engine_create(&o, &e));
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_close = on_close;
    CHECK_OK(urk_engine_start(e, &cb));
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    t_write_all(cfd, "hello", 5);
    usleep(50000);
    close(cfd);
    uint64_t deadline = t_now_ms() + 2000;
    while (!atomic_load(&native_closed) && t_now_ms() < deadline)
        usleep(1000);
    CHECK(atomic_load(&native_closed));
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

int main(void)
{
    /* Native reactor threads wait in io_uring_enter, which valgrind 3.19
     * does not treat as blocking (liburing#657): the others would starve. */
    if (getenv("URK_VALGRIND"))
        t_skip("native reactor threads starve under valgrind");
    pull_mode();
    native_mode();
    printf("ok\n");
    return 0;
}

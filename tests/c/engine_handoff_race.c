/* No lost hand-off. Each connection handed to an idle reactor must open,
 * whatever the timing between the acceptor's queue push, its wake-up
 * completion and the reactor's drain of the queue: a wake-up harvested
 * after a drain that just missed the push must lead to another drain.
 * Many rounds, each waiting for its OPEN (a loss hangs until the bound):
 * native engines started afresh, then one native and one pull-mode engine
 * taking connections one at a time. Likewise every urk_reactor_wake must end
 * a poll waiting without limit. */
#include "engine_util.h"

static _Atomic int opens;

static void on_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *p, uint64_t t, void *u)
{
    (void)r, (void)c, (void)p, (void)t, (void)u;
    atomic_fetch_add(&opens, 1);
}

static void wait_opens(int want, const char *what, int round)
{
    uint64_t dl = t_now_ms() + 5000;
    while (atomic_load(&opens) < want) {
        if (t_now_ms() > dl) {
            fprintf(stderr, "%s, round %d: connection never opened\n", what, round);
            exit(1);
        }
        sched_yield();
    }
}

static _Atomic int stop_poller, polls_done;
static void *poller(void *arg)
{
    urk_reactor_t *r = arg;
    urk_event_t ev[8];
    while (!atomic_load(&stop_poller)) {
        int n = urk_reactor_poll(r, ev, 8, -1);
        CHECK(n >= 0);
        atomic_fetch_add(&polls_done, 1);
        for (int i = 0; i < n; i++)
            if (ev[i].type == URK_EV_OPEN)
                atomic_fetch_add(&opens, 1);
    }
    return NULL;
}

int main(void)
{
    if (te_valgrind())
        t_skip("timing races under valgrind");
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_open = on_open;

    for (int round = 0; round < 100; round++) {
        atomic_store(&opens, 0);
        urk_engine_opts_t o;
        te_opts(&o);
        urk_engine_t *e = te_create(&o);
        CHECK_OK(urk_engine_start(e, &cb));
        int fd = t_connect(0, (uint16_t)urk_engine_port(e));
        wait_opens(1, "fresh native engine", round);
        close(fd);
        CHECK_OK(urk_engine_stop(e, 0));
        urk_engine_destroy(e);
    }

    for (int pull = 0; pull < 2; pull++) {
        atomic_store(&opens, 0);
        urk_engine_opts_t o;
        te_opts(&o);
        urk_engine_t *e = te_create(&o);
        pthread_t th;
        if (pull) {
            CHECK_OK(urk_engine_start(e, NULL));
            atomic_store(&stop_poller, 0);
            CHECK(pthread_create(&th, NULL, poller, te_reactor(e, 0)) == 0);
        } else {
            CHECK_OK(urk_engine_start(e, &cb));
        }
        for (int round = 0; round < 300; round++) {
            int fd = t_connect(0, (uint16_t)urk_engine_port(e));
            wait_opens(round + 1, pull ? "pull mode" : "native", round);
            close(fd);
        }
        if (pull) {
            for (int round = 0; round < 300; round++) {
                int before = atomic_load(&polls_done);
                CHECK_OK(urk_reactor_wake(te_reactor(e, 0)));
                uint64_t dl = t_now_ms() + 5000;
                while (atomic_load(&polls_done) == before) {
                    if (t_now_ms() > dl) {
                        fprintf(stderr, "wake %d did not end the poll\n", round);
                        exit(1);
                    }
                    sched_yield();
                }
            }
            atomic_store(&stop_poller, 1);
            CHECK_OK(urk_reactor_wake(te_reactor(e, 0)));
            pthread_join(th, NULL);
        }
        CHECK_OK(urk_engine_stop(e, 0));
        urk_engine_destroy(e);
    }
    printf("ok\n");
    return 0;
}

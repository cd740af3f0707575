/* Engine counters written by several threads at once (each REUSEPORT
 * reactor counts its accepts in the engine's `accepted`) lose no update:
 * after N connections to two reactors polled by two threads, `accepted` is
 * exactly N and equals the sum of the reactors' own counts. (They were a
 * plain load and store: concurrent accepts overwrote each other.) */
#include "engine_util.h"

#define CONNS 6000

static urk_engine_t *eng;
static _Atomic int stop_flag;

static void *serve(void *arg)
{
    urk_reactor_t *r = te_reactor(eng, (uint32_t)(uintptr_t)arg);
    urk_event_t ev[64];
    while (!atomic_load(&stop_flag)) {
        int n = urk_reactor_poll(r, ev, 64, 10);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == URK_EV_DATA)
                CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
            else if (ev[i].type == URK_EV_OPEN)
                CHECK_OK(urk_close(r, ev[i].conn, 0));
        }
    }
    return NULL;
}

static void *client(void *arg)
{
    uint16_t port = (uint16_t)(uintptr_t)arg;
    for (int i = 0; i < CONNS / 2; i++) {
        int fd = t_connect(0, port);
        close(fd);
    }
    return NULL;
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs threads running at once");
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_REUSEPORT;
    o.reactors = 2;
    eng = te_create(&o);
    CHECK_OK(urk_engine_start(eng, NULL));
    uint16_t port = (uint16_t)urk_engine_port(eng);
    pthread_t s[2], c[2];
    for (uintptr_t i = 0; i < 2; i++)
        CHECK(pthread_create(&s[i], NULL, serve, (void *)i) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&c[i], NULL, client, (void *)(uintptr_t)port) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
    uint64_t dl = t_now_ms() + 10000;
    uint64_t sum = 0;
    while (t_now_ms() < dl) {
        sum = te_rstats(te_reactor(eng, 0)).accepted + te_rstats(te_reactor(eng, 1)).accepted;
        if (sum == CONNS)
            break;
        te_sleep_ms(5);
    }
    CHECK(sum == CONNS);
    te_sleep_ms(20);
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(s[i], NULL);
    uint64_t acc = te_estats(eng).accepted;
    printf("engine accepted %llu, reactors %llu\n", (unsigned long long)acc,
           (unsigned long long)sum);
    CHECK(acc == CONNS);
    urk_engine_destroy(eng);
    printf("ok\n");
    return 0;
}

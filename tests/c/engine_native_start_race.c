/* urk_engine_start in native mode racing a pull-mode claim from another
 * thread: exactly one side gets the reactor, and neither fails silently.
 * Either start succeeds and the native thread runs (a post runs on it) and
 * the other thread's polls are refused, or start fails with -URK_ESTATE and
 * the other thread owns the reactor. (The window: start checked for an owner
 * before marking the reactor native, the claim came in between, and the
 * native thread exited at once while start returned 0.) */
#include "engine_util.h"

#define ROUNDS 300

static _Atomic int go, poller_owns, poller_done;
static _Atomic int ran;

static void *poller(void *arg)
{
    urk_reactor_t *r = arg;
    while (!atomic_load(&go)) {
    }
    for (int i = 0; i < 2000; i++) {
        urk_event_t ev;
        int n = urk_reactor_poll(r, &ev, 1, 0);
        if (n >= 0) {
            atomic_store(&poller_owns, 1);
            break;
        }
        CHECK(n == -URK_ETHREAD || n == -URK_ESTATE);
        if (n == -URK_ESTATE)
            break; /* native */
    }
    atomic_store(&poller_done, 1);
    return NULL;
}

static void mark(urk_reactor_t *r, void *arg)
{
    (void)r, (void)arg;
    atomic_store(&ran, 1);
}

int main(void)
{
    if (te_valgrind())
        t_skip("native threads starve under valgrind");
    int native_wins = 0, pull_wins = 0;
    for (int round = 0; round < ROUNDS; round++) {
        urk_engine_opts_t o;
        te_opts(&o);
        o.flags = URK_ENGINE_NO_LISTEN;
        urk_engine_t *e = te_create(&o);
        urk_reactor_t *r = te_reactor(e, 0);
        atomic_store(&go, 0);
        atomic_store(&poller_owns, 0);
        atomic_store(&poller_done, 0);
        atomic_store(&ran, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, poller, r) == 0);
        urk_callbacks_t cb;
        CHECK_OK(urk_callbacks_init(&cb));
        atomic_store(&go, 1);
        /* vary who comes first: from start winning outright to the poller
         * having claimed the reactor already */
        for (volatile int spin = 0; spin < (round % 30) * 2000; spin++) {
        }
        int rc = urk_engine_start(e, &cb);
        pthread_join(t, NULL);
        if (rc == 0) {
            native_wins++;
            CHECK(!atomic_load(&poller_owns));
            CHECK_OK(urk_reactor_post(r, mark, NULL));
            uint64_t dl = t_now_ms() + 5000;
            while (!atomic_load(&ran) && t_now_ms() < dl)
                te_sleep_ms(1);
            if (!atomic_load(&ran)) {
                fprintf(stderr, "round %d: start returned 0 but no native thread runs\n", round);
                return 1;
            }
        } else {
            CHECK_RC(rc, -URK_ESTATE);
            pull_wins++;
        }
        urk_engine_destroy(e);
    }
    printf("native %d, pull %d\n", native_wins, pull_wins);
    printf("ok\n");
    return 0;
}

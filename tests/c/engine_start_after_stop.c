/* A stopped engine cannot be started again, also when it was stopped before
 * it ever started (that start used to return 0 and leave a dead engine).
 * Stop takes back the DATA buffers the caller still holds: bufs_held is 0
 * after stop, from the owner thread or from another one, and the bytes stay
 * readable until destroy. */
#include "engine_util.h"

static void never_started(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_stop(e, 0));
    CHECK_RC(urk_engine_start(e, NULL), -URK_ESTATE);
    urk_callbacks_t cb;
    CHECK_OK(urk_callbacks_init(&cb));
    CHECK_RC(urk_engine_start(e, &cb), -URK_ESTATE);
    CHECK_OK(urk_engine_stop(e, 0)); /* still idempotent */
    urk_engine_destroy(e);
}

static urk_engine_t *held_e;
static urk_event_t held_ev;

static void *hold_one(void *arg)
{
    (void)arg;
    urk_reactor_t *r = te_reactor(held_e, 0);
    uint64_t dl = t_now_ms() + 5000;
    while (t_now_ms() < dl) {
        urk_event_t ev;
        int n = urk_reactor_poll(r, &ev, 1, 20);
        CHECK(n >= 0);
        if (n == 1 && ev.type == URK_EV_DATA) {
            held_ev = ev; /* kept, never released */
            return NULL;
        }
    }
    fprintf(stderr, "no data\n");
    exit(1);
}

static void held_at_stop(int from_owner)
{
    urk_engine_opts_t o;
    te_opts(&o);
    held_e = te_create(&o);
    CHECK_OK(urk_engine_start(held_e, NULL));
    int fd = t_connect(0, (uint16_t)urk_engine_port(held_e));
    t_write_all(fd, "held", 4);
    urk_reactor_t *r = te_reactor(held_e, 0);
    if (from_owner) {
        hold_one(NULL);
    } else {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, hold_one, NULL) == 0);
        pthread_join(t, NULL);
    }
    CHECK(te_rstats(r).bufs_held == 1);
    CHECK_OK(urk_engine_stop(held_e, 0));
    CHECK(te_rstats(r).bufs_held == 0);
    CHECK(te_rstats(r).live_conns == 0);
    CHECK(held_ev.len == 4 && memcmp(held_ev.data, "held", 4) == 0);
    close(fd);
    urk_engine_destroy(held_e);
}

int main(void)
{
    never_started();
    held_at_stop(1);
    held_at_stop(0);
    printf("ok\n");
    return 0;
}

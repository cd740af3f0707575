/* The wake-up path. An idle reactor blocked in urk_reactor_poll(-1), or a
 * native reactor waiting in its ring, gets a handed-over connection at once:
 * the acceptor posts a msg_ring completion into its ring (or, with
 * URK_ENGINE_NO_MSG_RING, writes its wake eventfd: handoff_fallbacks counts
 * those). The latency from connect() to the OPEN event is measured over 40
 * connections; the median is printed and must be under 50 ms (typically
 * well under 1 ms; the bound only guards against a missing wake-up, which
 * would hang). urk_reactor_wake from another thread ends a blocked poll, and
 * a wake before the poll makes the next poll return at once. urk_reactor_fd
 * becomes readable when a connection arrives, before the first poll and
 * after, and on every urk_reactor_wake. */
#include "engine_util.h"

#define ROUNDS 40

static _Atomic uint64_t opened_ns;
static _Atomic int stop_flag, opens, wakes_seen;

static void *poller(void *arg)
{
    urk_reactor_t *r = arg;
    urk_event_t ev[8];
    while (!atomic_load(&stop_flag)) {
        int n = urk_reactor_poll(r, ev, 8, -1);
        CHECK(n >= 0);
        if (n == 0)
            atomic_fetch_add(&wakes_seen, 1);
        for (int i = 0; i < n; i++)
            if (ev[i].type == URK_EV_OPEN) {
                atomic_store(&opened_ns, te_now_ns());
                atomic_fetch_add(&opens, 1);
            }
    }
    return NULL;
}

static void on_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *peer, uint64_t tag, void *u)
{
    (void)r, (void)c, (void)peer, (void)tag, (void)u;
    atomic_store(&opened_ns, te_now_ns());
    atomic_fetch_add(&opens, 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Connects ROUNDS times to an idle engine, each time waiting for the OPEN. */
static void measure(urk_engine_t *e, const char *what)
{
    uint64_t lat[ROUNDS];
    uint16_t port = (uint16_t)urk_engine_port(e);
    int fds[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        te_sleep_ms(3); /* let the reactor go back to sleep */
        int before = atomic_load(&opens);
        uint64_t t0 = te_now_ns();
        fds[i] = t_connect(0, port);
        uint64_t dl = t_now_ms() + 5000;
        while (atomic_load(&opens) == before) {
            CHECK(t_now_ms() < dl); /* a lost wake-up hangs here */
            sched_yield();
        }
        lat[i] = atomic_load(&opened_ns) - t0;
    }
    for (int i = 0; i < ROUNDS; i++)
        close(fds[i]);
    qsort(lat, ROUNDS, sizeof lat[0], cmp_u64);
    printf("%-34s hand-off latency median %6.1f us, max %7.1f us\n", what, lat[ROUNDS / 2] / 1e3,
           lat[ROUNDS - 1] / 1e3);
    CHECK(lat[ROUNDS / 2] < 50ull * 1000000);
}

static void pull_case(uint32_t flags, uint64_t caps)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = flags;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    atomic_store(&stop_flag, 0);
    atomic_store(&opens, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, poller, r) == 0);
    te_sleep_ms(20);
    measure(e, flags ? "pull, eventfd (NO_MSG_RING):" : "pull, msg_ring:");
    urk_reactor_stats_t s = te_rstats(r);
    if (flags & URK_ENGINE_NO_MSG_RING)
        CHECK(s.handoff_fallbacks >= ROUNDS);
    else if (caps & URK_CAP_MSG_RING)
        CHECK(s.handoff_fallbacks == 0);
    CHECK(s.wakeups >= ROUNDS);

    /* urk_reactor_wake ends the blocked poll (which returns 0 events) */
    te_sleep_ms(20);
    int w0 = atomic_load(&wakes_seen);
    uint64_t t0 = te_now_ns();
    CHECK_OK(urk_reactor_wake(r));
    TE_WAIT(atomic_load(&wakes_seen) > w0, 5000);
    printf("%-34s urk_reactor_wake ended the poll in %.1f us\n", "", (te_now_ns() - t0) / 1e3);
    atomic_store(&stop_flag, 1);
    CHECK_OK(urk_reactor_wake(r));
    pthread_join(th, NULL);
    /* a wake before the poll: the next poll returns at once */
    CHECK_OK(urk_reactor_wake(r));
    CHECK_RC(urk_engine_stop(e, 0), 0);
    urk_engine_destroy(e);
}

static void native_case(uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = flags;
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_open = on_open;
    atomic_store(&opens, 0);
    CHECK_OK(urk_engine_start(e, &cb));
    te_sleep_ms(20);
    measure(e, flags ? "native, eventfd (NO_MSG_RING):" : "native, msg_ring:");
    if (flags & URK_ENGINE_NO_MSG_RING)
        CHECK(te_rstats(te_reactor(e, 0)).handoff_fallbacks +
                  te_rstats(te_reactor(e, 1)).handoff_fallbacks >= ROUNDS);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

static void wake_before_poll(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    urk_event_t ev[4];
    CHECK(urk_reactor_poll(r, ev, 4, 0) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(urk_reactor_wake(r));
        uint64_t t0 = t_now_ms();
        CHECK(urk_reactor_poll(r, ev, 4, -1) == 0);
        CHECK(t_now_ms() - t0 < 2000);
    }
    /* and without a wake a timed poll really waits */
    uint64_t t0 = t_now_ms();
    CHECK(urk_reactor_poll(r, ev, 4, 50) == 0);
    CHECK(t_now_ms() - t0 >= 45);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

/* Host-loop style: wait on urk_reactor_fd with poll(2), then poll the
 * reactor without blocking. */
static urk_event_t wait_fd_event(urk_reactor_t *r, int rfd, uint32_t type, int *fd_wakes)
{
    urk_event_t ev[8];
    uint64_t dl = t_now_ms() + 5000;
    for (;;) {
        CHECK(t_now_ms() < dl);
        struct pollfd p = {rfd, POLLIN, 0};
        int k = poll(&p, 1, 5000);
        if (k != 1) {
            urk_reactor_stats_t s = te_rstats(r);
            fprintf(stderr, "waiting for event %u: fd silent; wakeups %llu fallbacks %llu "
                    "accepted %llu live %llu events %llu\n", type, (unsigned long long)s.wakeups,
                    (unsigned long long)s.handoff_fallbacks, (unsigned long long)s.accepted,
                    (unsigned long long)s.live_conns, (unsigned long long)s.events);
            int n = urk_reactor_poll(r, ev, 8, 0);
            fprintf(stderr, "a poll now gives %d events, first type %u\n", n, n > 0 ? ev[0].type : 0);
        }
        CHECK(k == 1); /* a missed notification would time out */
        (*fd_wakes)++;
        int n = urk_reactor_poll(r, ev, 8, 0);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == URK_EV_DATA)
                CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
            if (ev[i].type == type)
                return ev[i];
        }
    }
}

static void reactor_fd_case(uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = flags;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    int rfd = urk_reactor_fd(r);
    CHECK(rfd >= 0);
    struct pollfd p = {rfd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0); /* nothing yet */
    uint16_t port = (uint16_t)urk_engine_port(e);
    int wakes = 0;
    /* before the first urk_reactor_poll */
    int c1 = t_connect(0, port);
    urk_event_t ev = wait_fd_event(r, rfd, URK_EV_OPEN, &wakes);
    /* after: more connections, and data */
    for (int i = 0; i < 5; i++) {
        te_sleep_ms(2);
        int c2 = t_connect(0, port);
        wait_fd_event(r, rfd, URK_EV_OPEN, &wakes);
        t_write_all(c2, "d", 1);
        wait_fd_event(r, rfd, URK_EV_DATA, &wakes);
        close(c2);
    }
    t_write_all(c1, "x", 1);
    urk_event_t d = wait_fd_event(r, rfd, URK_EV_DATA, &wakes);
    CHECK(d.conn == ev.conn);
    printf("urk_reactor_fd%s: every arrival signalled (%d fd wake-ups for 12 events)\n",
           flags ? " (NO_MSG_RING)" : "", wakes);
    /* urk_reactor_wake makes the fd readable, every time (the ring's own
     * signal for it is lost after the first on kernels with the deferred
     * eventfd signal bug) */
    for (int i = 0; i < 5; i++) {
        urk_event_t evs[8];
        while (urk_reactor_poll(r, evs, 8, 0) > 0) {
        }
        CHECK_OK(urk_reactor_wake(r));
        p.revents = 0;
        CHECK(poll(&p, 1, 5000) == 1);
        CHECK(urk_reactor_poll(r, evs, 8, 0) == 0);
    }
    close(c1);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

int main(void)
{
    if (te_valgrind())
        t_skip("latency and blocking waits under valgrind");
    uint64_t caps = 0;
    CHECK_OK(urk_probe(&caps));
    pull_case(0, caps);
    pull_case(URK_ENGINE_NO_MSG_RING, caps);
    native_case(0);
    native_case(URK_ENGINE_NO_MSG_RING);
    wake_before_poll();
    reactor_fd_case(0);
    reactor_fd_case(URK_ENGINE_NO_MSG_RING);
    printf("ok\n");
    return 0;
}

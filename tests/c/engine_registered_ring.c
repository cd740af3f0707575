/* Registered ring fd: reactors register their ring fd on the thread that
 * drives them (native thread, or pull owner at its first poll) unless
 * URK_ENGINE_NO_REGISTERED_RING; both settings echo byte-exact in pull and
 * native mode, and the owner gives the registration back at stop (or at its
 * next poll when another thread stopped the engine). */
#include "engine_util.h"
#include "engine/engine.h"

static int have_cap;

static int registered(urk_reactor_t *r)
{
    return (r->ring->active & URK_RING_ACTIVE_REGISTERED_FD) != 0;
}

/* One client round trip of len bytes; the reactor is polled by this thread
 * (pull) or by its own (native, poll_r NULL). */
static void echo_once(uint16_t port, urk_reactor_t *poll_r, size_t len, uint64_t seed)
{
    uint8_t *out = malloc(len), *back = malloc(len);
    CHECK(out && back);
    t_fill(out, len, seed);
    int fd = t_connect(0, port);
    te_nonblock(fd);
    size_t w = 0, got = 0;
    urk_event_t ev[64];
    uint64_t deadline = t_now_ms() + 20000;
    while (got < len) {
        CHECK(t_now_ms() < deadline);
        if (w < len) {
            ssize_t n = write(fd, out + w, len - w);
            if (n > 0)
                w += (size_t)n;
        }
        if (poll_r) {
            int n = urk_reactor_poll(poll_r, ev, 64, 5);
            CHECK(n >= 0);
            for (int i = 0; i < n; i++) {
                if (ev[i].type != URK_EV_DATA)
                    continue;
                CHECK_OK(urk_send(poll_r, ev[i].conn, ev[i].data, ev[i].len, URK_SEND_FORCE, 0));
                CHECK_RC(urk_reactor_release(poll_r, &ev[i].buf, 1), 1);
            }
            CHECK(urk_reactor_flush(poll_r) >= 0);
        } else {
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, 5);
        }
        ssize_t m = read(fd, back + got, len - got);
        if (m > 0)
            got += (size_t)m;
        CHECK(m != 0);
    }
    CHECK(memcmp(out, back, len) == 0);
    close(fd);
    free(out);
    free(back);
}

static urk_engine_t *make(uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 1;
    o.buf_count = 16;
    o.buf_size = 4096;
    o.flags |= flags;
    return te_create(&o);
}

static void pull_case(uint32_t flags)
{
    urk_engine_t *e = make(flags);
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK(!registered(r)); /* nobody drives it yet */
    CHECK_OK(urk_engine_start(e, NULL));
    echo_once(port, r, 100, 1);
    echo_once(port, r, 200000, 2);
    int want = have_cap && !(flags & URK_ENGINE_NO_REGISTERED_RING);
    printf("pull flags %#x: registered %d\n", flags, registered(r));
    CHECK(registered(r) == want);
    CHECK_OK(urk_engine_stop(e, 100)); /* by the owner: gives it back */
    CHECK(!registered(r));
    urk_engine_destroy(e);
}

static int32_t on_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n, uint32_t buf,
                       void *u)
{
    (void)buf;
    (void)u;
    CHECK_OK(urk_send(r, c, d, n, URK_SEND_FORCE, 0));
    return 0;
}

static void native_case(uint32_t flags)
{
    urk_engine_t *e = make(flags);
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_data = on_data;
    CHECK_OK(urk_engine_start(e, &cb));
    echo_once(port, NULL, 100, 3);
    echo_once(port, NULL, 200000, 4);
    int want = have_cap && !(flags & URK_ENGINE_NO_REGISTERED_RING);
    /* set by the reactor thread before urk_engine_start returned */
    printf("native flags %#x: registered %d\n", flags, registered(r));
    CHECK(registered(r) == want);
    CHECK_OK(urk_engine_stop(e, 100));
    CHECK(!registered(r));
    urk_engine_destroy(e);
}

/* Pull owner on another thread, engine stopped from this one: the owner's
 * next poll says -URK_ESTATE and gives the registration back. */
typedef struct {
    urk_engine_t *e;
    uint16_t port;
    _Atomic int phase;
    int reg_before, reg_after, last_rc;
} owner_t;

static void *owner_main(void *arg)
{
    owner_t *o = arg;
    urk_reactor_t *r = te_reactor(o->e, 0);
    echo_once(o->port, r, 1000, 5);
    o->reg_before = registered(r);
    atomic_store(&o->phase, 1);
    while (atomic_load(&o->phase) != 2)
        te_sleep_ms(1);
    urk_event_t ev[4];
    o->last_rc = urk_reactor_poll(r, ev, 4, 0);
    o->reg_after = registered(r);
    return NULL;
}

static void stop_elsewhere_case(void)
{
    owner_t o = {.e = make(0)};
    o.port = (uint16_t)urk_engine_port(o.e);
    CHECK_OK(urk_engine_start(o.e, NULL));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, owner_main, &o) == 0);
    while (atomic_load(&o.phase) != 1)
        te_sleep_ms(1);
    CHECK_OK(urk_engine_stop(o.e, 0));
    atomic_store(&o.phase, 2);
    pthread_join(t, NULL);
    CHECK(o.reg_before == have_cap);
    CHECK_RC(o.last_rc, -URK_ESTATE);
    CHECK(o.reg_after == 0);
    urk_engine_destroy(o.e);
}

int main(void)
{
    uint64_t caps = 0;
    if (urk_probe(&caps) != 0)
        t_skip("io_uring unavailable");
    have_cap = (caps & URK_CAP_REGISTERED_RING_FD) != 0;
    int fds0 = t_fd_count();
    pull_case(0);
    pull_case(URK_ENGINE_NO_REGISTERED_RING);
    stop_elsewhere_case();
    if (!te_valgrind()) {
        native_case(0);
        native_case(URK_ENGINE_NO_REGISTERED_RING);
    }
    /* 40 engines polled and stopped by this thread: registrations are given
     * back, so the kernel's 16 per thread never run out. */
    for (int i = 0; i < 40; i++) {
        urk_engine_t *e = make(0);
        urk_reactor_t *r = te_reactor(e, 0);
        CHECK_OK(urk_engine_start(e, NULL));
        urk_event_t ev[4];
        CHECK(urk_reactor_poll(r, ev, 4, 0) >= 0);
        CHECK(registered(r) == have_cap);
        CHECK_OK(urk_engine_stop(e, 0));
        urk_engine_destroy(e);
    }
    CHECK(t_fd_count() == fds0);
    printf("ok (cap %d)\n", have_cap);
    return 0;
}

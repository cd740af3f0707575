/* urk_engine_create refuses every invalid option with -EINVAL (-E2BIG for
 * an extensible struct whose unknown tail is not zero, -EADDRINUSE for a
 * taken port), leaves *out NULL and leaks nothing: no descriptor, no
 * mapping. Older (smaller) structs get defaults for what they lack. Bad
 * arguments to the other engine calls are refused too. */
#include "engine_util.h"

#include <stddef.h>

static int fds0, maps0;

/* Mappings are counted only where nothing else maps memory behind our back
 * (valgrind and the sanitizers' allocators do). */
static int maps_reliable(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return 0;
#endif
#endif
    return !te_valgrind();
}

static void expect(const urk_engine_opts_t *o, int want, const char *what)
{
    urk_engine_t *e = (urk_engine_t *)(uintptr_t)1;
    int rc = urk_engine_create(o, &e);
    if (rc != want) {
        fprintf(stderr, "%s: got %d (%s), want %d (%s)\n", what, rc, urk_err_name(rc), want,
                urk_err_name(want));
        exit(1);
    }
    if (rc == 0) {
        CHECK(e != NULL);
        urk_engine_destroy(e);
    } else {
        CHECK(e == NULL);
    }
    if (t_fd_count() != fds0 || (maps_reliable() && t_map_count() != maps0)) {
        fprintf(stderr, "%s: leaked (fds %d -> %d, maps %d -> %d)\n", what, fds0, t_fd_count(),
                maps0, t_map_count());
        exit(1);
    }
}

#define BAD(field_stmt, want)                                                    \
    do {                                                                         \
        urk_engine_opts_t o;                                                     \
        CHECK_OK(urk_engine_opts_init(&o));                                      \
        field_stmt;                                                              \
        expect(&o, want, #field_stmt);                                           \
    } while (0)

int main(void)
{
    /* warm up: the first create probes the kernel and caches the answer */
    urk_engine_t *e;
    CHECK_OK(urk_engine_create(NULL, &e));
    urk_engine_destroy(e);
    fds0 = t_fd_count();
    maps0 = t_map_count();
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);

    CHECK_RC(urk_engine_opts_init(NULL), -EINVAL);
    CHECK_RC(urk_callbacks_init(NULL), -EINVAL);
    CHECK_RC(urk_engine_create(NULL, NULL), -EINVAL);
    expect(NULL, 0, "NULL opts: defaults");

    BAD(o.flags = 1u << 31, -EINVAL);
    BAD(o.flags = 1u << 11, -EINVAL); /* the first unknown bit */
    BAD(o.flags = URK_ENGINE_REUSEPORT | URK_ENGINE_NO_LISTEN, -EINVAL);
    BAD(o.reserved0 = 1, -EINVAL);
    BAD(o.reserved1 = 1, -EINVAL);
    for (int i = 0; i < 8; i++)
        BAD(o.reserved[i] = 1, -EINVAL);
    BAD(o.reactors = 0, -EINVAL);
    BAD(o.reactors = 65, -EINVAL);
    BAD(o.backlog = 0, -EINVAL);
    BAD(o.backlog = -5, -EINVAL);
    BAD(o.sq_entries = 0, -EINVAL);
    BAD(o.sq_entries = 3, -EINVAL);
    BAD(o.sq_entries = 65536, -EINVAL);
    BAD(o.cq_entries = 3000, -EINVAL);
    BAD((o.sq_entries = 1024, o.cq_entries = 512), -EINVAL);
    BAD(o.buf_count = 0, -EINVAL);
    BAD(o.buf_count = 100, -EINVAL);
    BAD(o.buf_count = 65536, -EINVAL);
    BAD(o.buf_size = 0, -EINVAL);
    BAD(o.buf_size = 63, -EINVAL);
    BAD(o.buf_size = (1u << 24) + 1, -EINVAL);
    BAD((o.buf_count = 8, o.buf_low_water = 9), -EINVAL);
    BAD(o.max_conns = 0, -EINVAL);
    BAD(o.max_conns = (1u << 24) + 1, -EINVAL);
    BAD(o.send_limit = 0, -EINVAL);
    BAD(o.acceptor_cpu = -2, -EINVAL);
    BAD(o.acceptor_cpu = (int32_t)ncpu, -EINVAL);
    int32_t cpus_bad_low[2] = {0, -2}, cpus_bad_high[2] = {(int32_t)ncpu, 0};
    BAD((o.reactors = 2, o.reactor_cpus = cpus_bad_low), -EINVAL);
    BAD((o.reactors = 2, o.reactor_cpus = cpus_bad_high), -EINVAL);
    BAD(o.host = "localhost", -EINVAL);
    BAD(o.host = "", -EINVAL);
    BAD(o.host = "127.0.0.1:80", -EINVAL);
    BAD(o.host = "1.2.3", -EINVAL);
    /* the good neighbours of those values */
    int32_t cpus_ok[2] = {-1, 0};
    BAD((o.reactors = 2, o.reactor_cpus = cpus_ok, o.acceptor_cpu = 0), 0);
    BAD((o.sq_entries = 2, o.cq_entries = 2, o.buf_count = 1, o.buf_size = 64), 0);
    BAD((o.buf_count = 8, o.buf_low_water = 8), 0);
    BAD(o.flags = URK_ENGINE_NO_LISTEN | URK_ENGINE_LEAST_CONN | URK_ENGINE_NO_MSG_RING |
                  URK_ENGINE_RELEASE_ON_POLL | URK_ENGINE_NO_DEFER_TASKRUN |
                  URK_ENGINE_HALF_CLOSE | URK_ENGINE_NO_REGISTERED_RING | URK_ENGINE_NO_SEND_POOL |
                  URK_ENGINE_NO_RECV_BUNDLE,
        0);

    /* a taken port: refused after rings were made, nothing leaks */
    uint16_t port;
    int lfd = t_listen(0, &port);
    fds0++;
    BAD(o.port = port, -EADDRINUSE);
    BAD((o.port = port, o.reactors = 3, o.flags = URK_ENGINE_REUSEPORT), -EADDRINUSE);
    close(lfd);
    fds0--;

    /* extensible struct rule */
    struct {
        urk_engine_opts_t o;
        uint8_t tail[24];
    } big;
    memset(&big, 0, sizeof big);
    CHECK_OK(urk_engine_opts_init(&big.o));
    big.o.struct_size = sizeof big;
    expect(&big.o, 0, "larger struct, zero tail");
    big.tail[23] = 1;
    expect(&big.o, -E2BIG, "larger struct, non-zero tail");
    big.tail[23] = 0;
    big.tail[0] = 1;
    expect(&big.o, -E2BIG, "larger struct, non-zero tail start");
    urk_engine_opts_t small;
    CHECK_OK(urk_engine_opts_init(&small));
    small.struct_size = offsetof(urk_engine_opts_t, reactor_cpus); /* an older struct */
    small.reactors = 2;
    {
        urk_engine_t *e2;
        CHECK_OK(urk_engine_create(&small, &e2));
        CHECK(urk_engine_reactor_count(e2) == 2);
        urk_engine_destroy(e2);
    }
    small.struct_size = 0;
    expect(&small, -EINVAL, "struct_size 0");
    small.struct_size = 4;
    expect(&small, -EINVAL, "struct_size 4");

    /* callbacks struct: same rule; a refused start leaves the engine startable */
    CHECK_OK(urk_engine_create(NULL, &e));
    struct {
        urk_callbacks_t cb;
        uint8_t tail[8];
    } bigcb;
    memset(&bigcb, 0, sizeof bigcb);
    CHECK_OK(urk_callbacks_init(&bigcb.cb));
    bigcb.cb.struct_size = sizeof bigcb;
    bigcb.tail[3] = 7;
    CHECK_RC(urk_engine_start(e, &bigcb.cb), -E2BIG);
    bigcb.cb.struct_size = 2;
    CHECK_RC(urk_engine_start(e, &bigcb.cb), -EINVAL);
    bigcb.tail[3] = 0;
    bigcb.cb.struct_size = sizeof bigcb;
    if (!te_valgrind()) { /* native threads starve the others under valgrind */
        CHECK_OK(urk_engine_start(e, &bigcb.cb));
        CHECK_OK(urk_engine_stop(e, 0));
    }
    urk_engine_destroy(e);

    /* other calls (pull mode, no acceptor thread: valgrind-friendly) */
    urk_engine_opts_t po;
    CHECK_OK(urk_engine_opts_init(&po));
    po.flags = URK_ENGINE_REUSEPORT;
    CHECK_OK(urk_engine_create(&po, &e));
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r;
    CHECK_RC(urk_engine_port(NULL), -EINVAL);
    CHECK_RC(urk_engine_reactor_count(NULL), -EINVAL);
    CHECK_RC(urk_engine_reactor(NULL, 0, &r), -EINVAL);
    CHECK_RC(urk_engine_reactor(e, 0, NULL), -EINVAL);
    CHECK_RC(urk_engine_reactor(e, 1, &r), -ERANGE);
    CHECK_RC(urk_engine_stats(NULL, NULL), -EINVAL);
    CHECK_RC(urk_engine_stats(e, NULL), -EINVAL);
    r = te_reactor(e, 0);
    urk_event_t ev[2];
    urk_reactor_stats_t st;
    CHECK_RC(urk_reactor_stats(NULL, &st), -EINVAL);
    CHECK_RC(urk_reactor_stats(r, NULL), -EINVAL);
    CHECK_RC(urk_reactor_index(NULL), -EINVAL);
    CHECK_RC(urk_reactor_fd(NULL), -EINVAL);
    CHECK_RC(urk_reactor_wake(NULL), -EINVAL);
    CHECK_RC(urk_reactor_flush(NULL), -EINVAL);
    CHECK_RC(urk_reactor_poll(NULL, ev, 2, 0), -EINVAL);
    CHECK_RC(urk_reactor_poll(r, NULL, 2, 0), -EINVAL);
    CHECK_RC(urk_reactor_poll(r, ev, 0, 0), -EINVAL);
    CHECK_RC(urk_reactor_poll(r, ev, 2, -2), -EINVAL);
    CHECK_RC(urk_send(NULL, 1, "x", 1, 0, 0), -EINVAL);
    CHECK_RC(urk_send(r, 1, "x", 1, 1u << 8, 0), -EINVAL);
    CHECK_RC(urk_send(r, 1, "x", 0, 0, 0), -EINVAL);
    CHECK_RC(urk_send(r, 1, NULL, 1, 0, 0), -EFAULT);
    CHECK_RC(urk_send_batch(r, NULL, 1), -EINVAL);
    CHECK_RC(urk_send_batch(r, NULL, 0), 0);
    CHECK_RC(urk_close(r, 1, 2), -EINVAL);
    CHECK_RC(urk_conn_pause_recv(r, 1, 2), -EINVAL);
    CHECK_RC(urk_conn_peer(r, 1, NULL), -EINVAL);
    CHECK_RC(urk_conn_user(r, 1, NULL), -EINVAL);
    CHECK_RC(urk_close(NULL, 1, 0), -EINVAL);
    CHECK_RC(urk_shutdown_write(NULL, 1), -EINVAL);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    printf("ok\n");
    return 0;
}

/* Connection distribution across reactors, driven in pull mode by one
 * thread that owns every reactor:
 *   - round-robin (default): 30 connections over 3 reactors -> 10 each;
 *   - URK_ENGINE_LEAST_CONN: after the connections of reactor 0 close, the
 *     next ones all go to reactor 0 (round-robin would split them);
 *   - URK_ENGINE_REUSEPORT: a listener per reactor, no acceptor thread; the
 *     kernel spreads 64 connections over both, each echoes.
 * Each connection is identified on the server by its peer port. */
#include "engine_util.h"

static int reactor_of_port[65536]; /* reactor index + 1 */
static uint64_t opened[8], closed[8];

static uint16_t local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

/* Polls every reactor without blocking for about ms milliseconds. */
static void pump(urk_engine_t *e, uint32_t ms)
{
    urk_event_t ev[64];
    uint32_t nr = (uint32_t)urk_engine_reactor_count(e);
    uint64_t end = t_now_ms() + ms;
    do {
        for (uint32_t i = 0; i < nr; i++) {
            urk_reactor_t *r = te_reactor(e, i);
            int n = urk_reactor_poll(r, ev, 64, 0);
            CHECK(n >= 0);
            for (int k = 0; k < n; k++) {
                if (ev[k].type == URK_EV_OPEN) {
                    const struct sockaddr_in *a = (const struct sockaddr_in *)ev[k].data;
                    CHECK(ev[k].len == sizeof *a && a->sin_family == AF_INET);
                    reactor_of_port[ntohs(a->sin_port)] = (int)i + 1;
                    opened[i]++;
                } else if (ev[k].type == URK_EV_DATA) {
                    CHECK_OK(urk_send(r, ev[k].conn, ev[k].data, ev[k].len, 0, 0));
                    CHECK_RC(urk_reactor_release(r, &ev[k].buf, 1), 1);
                } else if (ev[k].type == URK_EV_CLOSED) {
                    closed[i]++;
                }
            }
        }
        te_sleep_ms(1);
    } while (t_now_ms() < end);
}

static uint64_t total(const uint64_t *v, uint32_t n)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < n; i++)
        t += v[i];
    return t;
}

#define PUMP_UNTIL(e, cond)                                                      \
    do {                                                                         \
        uint64_t dl_ = t_now_ms() + 5000;                                        \
        while (!(cond)) {                                                        \
            CHECK(t_now_ms() < dl_);                                             \
            pump(e, 2);                                                          \
        }                                                                        \
    } while (0)

static void echo_check(urk_engine_t *e, int fd)
{
    char b = 'x';
    t_write_all(fd, &b, 1);
    struct pollfd p = {fd, POLLIN, 0};
    uint64_t dl = t_now_ms() + 5000;
    while (poll(&p, 1, 0) == 0) {
        CHECK(t_now_ms() < dl);
        pump(e, 1);
    }
    CHECK(read(fd, &b, 1) == 1 && b == 'x');
}

static void reset_counts(void)
{
    memset(reactor_of_port, 0, sizeof reactor_of_port);
    memset(opened, 0, sizeof opened);
    memset(closed, 0, sizeof closed);
}

static void round_robin(void)
{
    reset_counts();
    int fds0 = t_fd_count(), th0 = te_thread_baseline();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 3;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    CHECK(te_thread_count() == th0 + 1); /* the acceptor */
    int fds[30];
    for (int i = 0; i < 30; i++)
        fds[i] = t_connect(0, (uint16_t)urk_engine_port(e));
    PUMP_UNTIL(e, total(opened, 3) == 30);
    printf("round-robin: %llu %llu %llu\n", (unsigned long long)opened[0],
           (unsigned long long)opened[1], (unsigned long long)opened[2]);
    for (int i = 0; i < 3; i++)
        CHECK(opened[i] == 10 && te_rstats(te_reactor(e, (uint32_t)i)).accepted == 10);
    for (int i = 0; i < 30; i++) {
        /* accepted in connect order, dealt out in turn */
        CHECK(reactor_of_port[local_port(fds[i])] == i % 3 + 1);
        echo_check(e, fds[i]);
        close(fds[i]);
    }
    PUMP_UNTIL(e, total(closed, 3) == 30);
    CHECK(te_estats(e).accepted == 30 && te_estats(e).rejected == 0);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0 && te_thread_count() == th0);
}

static void least_conn(void)
{
    reset_counts();
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = URK_ENGINE_LEAST_CONN;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    uint16_t port = (uint16_t)urk_engine_port(e);
    int fds[16], nfd = 0;
    for (int i = 0; i < 8; i++)
        fds[nfd++] = t_connect(0, port);
    PUMP_UNTIL(e, total(opened, 2) == 8);
    CHECK(opened[0] == 4 && opened[1] == 4); /* balanced while equal */
    /* Close reactor 0's connections: it becomes the least loaded. */
    for (int i = 0; i < nfd; i++)
        if (reactor_of_port[local_port(fds[i])] == 1) {
            close(fds[i]);
            fds[i] = -1;
        }
    PUMP_UNTIL(e, closed[0] == 4);
    CHECK(te_rstats(te_reactor(e, 0)).live_conns == 0);
    CHECK(te_rstats(te_reactor(e, 1)).live_conns == 4);
    for (int i = 0; i < 4; i++)
        fds[nfd++] = t_connect(0, port);
    PUMP_UNTIL(e, total(opened, 2) == 12);
    printf("least-conn: reactor 0 opened %llu, reactor 1 opened %llu\n",
           (unsigned long long)opened[0], (unsigned long long)opened[1]);
    CHECK(opened[0] == 8 && opened[1] == 4);
    for (int i = 0; i < nfd; i++)
        if (fds[i] >= 0) {
            echo_check(e, fds[i]);
            close(fds[i]);
        }
    PUMP_UNTIL(e, total(closed, 2) == 12);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
}

static void reuseport(void)
{
    reset_counts();
    int fds0 = t_fd_count(), th0 = te_thread_baseline();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = URK_ENGINE_REUSEPORT;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK(port > 0);
    CHECK_OK(urk_engine_start(e, NULL));
    CHECK(te_thread_count() == th0); /* no acceptor thread */
    enum { N = 64 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = t_connect(0, port);
    PUMP_UNTIL(e, total(opened, 2) == N);
    printf("reuseport: %llu + %llu\n", (unsigned long long)opened[0],
           (unsigned long long)opened[1]);
    /* The kernel hashes each 4-tuple: both get some (all on one would be a
     * 2^-63 event). */
    CHECK(opened[0] > 0 && opened[1] > 0);
    CHECK(te_estats(e).accepted == N);
    CHECK(te_rstats(te_reactor(e, 0)).accepted + te_rstats(te_reactor(e, 1)).accepted == N);
    for (int i = 0; i < N; i++) {
        CHECK(reactor_of_port[local_port(fds[i])] != 0);
        echo_check(e, fds[i]);
        close(fds[i]);
    }
    PUMP_UNTIL(e, total(closed, 2) == N);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0 && te_thread_count() == th0);
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs the acceptor thread");
    round_robin();
    least_conn();
    reuseport();
    printf("ok\n");
    return 0;
}

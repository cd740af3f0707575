/* Native mode: echo across 2 reactors x 100 connections, random payloads up
 * to 256 KiB, byte-exact; connections spread across both reactors; stop
 * leaves no fd behind. */
#include "testutil.h"

#include <pthread.h>

static int32_t on_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n, uint32_t buf,
                       void *u)
{
    (void)buf; (void)u;
    int rc = urk_send(r, c, d, n, 0, 0);
    if (rc) {
        fprintf(stderr, "send rc %d %s\n", rc, urk_err_name(rc));
        exit(1);
    }
    return 0;
}

#define NCLIENT 100
static uint16_t port;

static void *client(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    size_t len = 1 + (size_t)(seed * 2654435761u % (256 * 1024));
    uint8_t *out = malloc(len), *back = malloc(len);
    t_fill(out, len, seed);
    int fd = t_connect(0, port);
    /* write in pieces while reading, so neither side's buffers fill */
    size_t w = 0, r = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    uint64_t deadline = t_now_ms() + 30000;
    while (r < len) {
        CHECK(t_now_ms() < deadline);
        if (w < len) {
            ssize_t n = write(fd, out + w, len - w);
            if (n > 0) w += (size_t)n;
        }
        ssize_t m = read(fd, back + r, len - r);
        if (m > 0) r += (size_t)m;
        else if (m == 0) { fprintf(stderr, "EOF early\n"); exit(1); }
        else { struct pollfd p = {fd, POLLIN | (w < len ? POLLOUT : 0), 0}; poll(&p, 1, 100); }
    }
    CHECK(memcmp(out, back, len) == 0);
    close(fd);
    free(out); free(back);
    return NULL;
}

int main(void)
{
    /* Native reactor threads wait in io_uring_enter, which valgrind 3.19
     * does not treat as blocking (liburing#657): the others would starve. */
    if (getenv("URK_VALGRIND"))
        t_skip("native reactor threads starve under valgrind");
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    o.reactors = 2;
    o.buf_count = 64;
    o.buf_size = 4096;
    urk_engine_t *e;
    CHECK_OK(urk_engine_create(&o, &e));
    port = (uint16_t)urk_engine_port(e);
    CHECK(port > 0);
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_data = on_data;
    CHECK_OK(urk_engine_start(e, &cb));
    pthread_t th[NCLIENT];
    for (int i = 0; i < NCLIENT; i++)
        CHECK(pthread_create(&th[i], NULL, client, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < NCLIENT; i++)
        pthread_join(th[i], NULL);
    urk_reactor_stats_t s0, s1;
    urk_reactor_t *r0, *r1;
    CHECK_OK(urk_engine_reactor(e, 0, &r0));
    CHECK_OK(urk_engine_reactor(e, 1, &r1));
    CHECK_OK(urk_reactor_stats(r0, &s0));
    CHECK_OK(urk_reactor_stats(r1, &s1));
    printf("accepted %llu + %llu, enobufs rearms %llu + %llu\n", (unsigned long long)s0.accepted,
           (unsigned long long)s1.accepted, (unsigned long long)s0.enobufs_rearms,
           (unsigned long long)s1.enobufs_rearms);
    CHECK(s0.accepted + s1.accepted == NCLIENT);
    CHECK(s0.accepted >= NCLIENT / 4 && s1.accepted >= NCLIENT / 4);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    printf("ok\n");
    return 0;
}

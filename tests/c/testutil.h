/* testutil.h - helpers for the C tests. Each test is one program: exit 0
 * pass, 1 fail, 77 skip. Every socket is on loopback. */
#ifndef URK_TESTUTIL_H
#define URK_TESTUTIL_H

#include <urocket.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define T_SKIP 77

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

/* Checks a urk_* return value against an expected one, naming both. */
#define CHECK_RC(expr, want)                                                     \
    do {                                                                         \
        int rc_ = (expr);                                                        \
        if (rc_ != (want)) {                                                     \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d (%s)\n", __FILE__, \
                    __LINE__, #expr, rc_, urk_err_name(rc_), (int)(want),        \
                    urk_err_name(want));                                         \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

static inline void t_skip(const char *why)
{
    printf("skip: %s\n", why);
    exit(T_SKIP);
}

static inline uint64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Listening socket on 127.0.0.1 (or ::1 when v6) with an ephemeral port. */
static inline int t_listen(int v6, uint16_t *port)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    CHECK(bind(fd, (struct sockaddr *)&ss, len) == 0);
    CHECK(listen(fd, 4096) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
    *port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Blocking client connected to the loopback port. */
static inline int t_connect(int v6, uint16_t port)
{
    urk_addr_t a;
    CHECK_OK(urk_addr_parse(v6 ? "::1" : "127.0.0.1", port, &a));
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *)a.bytes, a.len) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline void t_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static inline void t_read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Deterministic pseudo-random bytes (xorshift) so failures reproduce. */
static inline void t_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

/* Open descriptors of this process. */
static inline int t_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

static inline urk_ring_t *t_ring(uint32_t flags)
{
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    o.flags = flags;
    urk_ring_t *r = NULL;
    int rc = urk_ring_create(&o, &r);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    return r;
}

/* Waits for exactly one completion with the given user_data, within 5 s. */
static inline urk_cqe_t t_wait_for(urk_ring_t *r, uint64_t ud)
{
    urk_cqe_t c;
    uint64_t deadline = t_now_ms() + 5000;
    while (t_now_ms() < deadline) {
        int n = urk_ring_complete(r, &c, 1, 1, 100000000);
        CHECK(n >= 0);
        if (n == 1) {
            if (c.user_data == ud)
                return c;
            fprintf(stderr, "unexpected completion ud=%llu res=%d\n",
                    (unsigned long long)c.user_data, c.res);
            exit(1);
        }
    }
    fprintf(stderr, "timed out waiting for ud=%llu\n", (unsigned long long)ud);
    exit(1);
}

#endif

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

/* ---- ring-layer helpers (ring_* tests) ---- */

/* Ring with explicit sizes (cq 0: default); any setup error fails the test. */
static inline urk_ring_t *t_ring_sized(uint32_t sq, uint32_t cq, uint32_t flags)
{
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    o.flags = flags;
    o.sq_entries = sq;
    o.cq_entries = cq;
    urk_ring_t *r = NULL;
    int rc = urk_ring_create(&o, &r);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    return r;
}

static inline urk_bufring_t *t_bufring(urk_ring_t *r, uint16_t group, uint32_t count,
                                       uint32_t size, uint32_t flags)
{
    urk_bufring_opts_t o;
    CHECK_OK(urk_bufring_opts_init(&o));
    o.group_id = group;
    o.count = count;
    o.size = size;
    o.flags = flags;
    urk_bufring_t *br = NULL;
    CHECK_OK(urk_bufring_create(r, &o, &br));
    CHECK(br != NULL);
    return br;
}

/* A connected loopback TCP pair made with plain accept(2): *client is the
 * connecting side, *server the accepted one. Both blocking. */
static inline void t_tcp_pair(int v6, int *client, int *server)
{
    uint16_t port;
    int lfd = t_listen(v6, &port);
    *client = t_connect(v6, port);
    *server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(*server >= 0);
    close(lfd);
}

/* Collects exactly `want` completions (any user_data) within timeout_ms. */
static inline void t_collect(urk_ring_t *r, urk_cqe_t *out, uint32_t want, uint32_t timeout_ms)
{
    uint32_t got = 0;
    uint64_t deadline = t_now_ms() + timeout_ms;
    while (got < want) {
        if (t_now_ms() > deadline) {
            fprintf(stderr, "timed out: %u of %u completions\n", got, want);
            exit(1);
        }
        int n = urk_ring_complete(r, out + got, want - got, 1, 100000000);
        CHECK(n >= 0);
        got += (uint32_t)n;
    }
}

/* Asserts no completion arrives within ms milliseconds. */
static inline void t_expect_none(urk_ring_t *r, uint32_t ms)
{
    urk_cqe_t c;
    int n = urk_ring_complete(r, &c, 1, 1, (int64_t)ms * 1000000);
    if (n != 0) {
        fprintf(stderr, "unexpected completion ud=%llu res=%d flags=0x%x\n",
                (unsigned long long)c.user_data, c.res, c.flags);
        exit(1);
    }
}

/* Lines of /proc/self/maps: mappings of this process (leak checks). */
static inline int t_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f);
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        if (ch == '\n')
            n++;
    fclose(f);
    return n;
}

/* End-to-end check of a ring: multishot accept of a loopback connection,
 * multishot recv into a fresh buffer group, a send back, close through the
 * ring. Byte-exact both ways. The ring must have no buffer group `group`. */
static inline void t_ring_end_to_end(urk_ring_t *r, uint16_t group)
{
    enum { E_ACCEPT = 0xE1, E_RECV, E_SEND, E_CLOSE };
    urk_bufring_t *br = t_bufring(r, group, 8, 1024, 0);
    uint16_t port;
    int lfd = t_listen(0, &port);
    CHECK_OK(urk_prep_accept_multishot(r, lfd, E_ACCEPT, 0));
    CHECK(urk_ring_submit(r) >= 0);
    int cfd = t_connect(0, port);
    urk_cqe_t c = t_wait_for(r, E_ACCEPT);
    CHECK(c.res >= 0 && (c.flags & URK_CQE_F_MORE));
    int sfd = c.res;
    CHECK_OK(urk_prep_recv_multishot(r, sfd, group, E_RECV, 0));
    CHECK(urk_ring_submit(r) >= 0);
    uint8_t msg[3000], got[3000];
    t_fill(msg, sizeof msg, group);
    t_write_all(cfd, msg, sizeof msg);
    size_t have = 0;
    while (have < sizeof msg) {
        c = t_wait_for(r, E_RECV);
        CHECK(c.res > 0 && (c.flags & URK_CQE_F_BUFFER) && (c.flags & URK_CQE_F_MORE));
        CHECK(c.buf_group == group && c.buf_len == (uint32_t)c.res && c.buf_len <= 1024);
        CHECK(have + c.buf_len <= sizeof msg);
        memcpy(got + have, c.buf, c.buf_len);
        have += c.buf_len;
        CHECK_RC(urk_bufring_recycle(br, &c.buf_id, 1), 1);
    }
    CHECK(memcmp(msg, got, sizeof msg) == 0);
    CHECK_OK(urk_prep_send(r, sfd, msg, sizeof msg, 0, E_SEND, 0));
    c = t_wait_for(r, E_SEND);
    CHECK(c.res == (int)sizeof msg);
    t_read_all(cfd, got, sizeof msg);
    CHECK(memcmp(msg, got, sizeof msg) == 0);
    /* Peer close ends the multishot recv with res 0 and no MORE. */
    close(cfd);
    c = t_wait_for(r, E_RECV);
    CHECK(c.res == 0 && !(c.flags & URK_CQE_F_MORE));
    CHECK_OK(urk_prep_close(r, sfd, E_CLOSE, 0));
    c = t_wait_for(r, E_CLOSE);
    CHECK(c.res == 0);
    CHECK(fcntl(sfd, F_GETFD) == -1 && errno == EBADF);
    CHECK(urk_bufring_available(br) == 8);
    /* Stop the accept: closing the listener alone would not (the ring holds
     * a reference), so cancel it and wait for its final completion. */
    CHECK_OK(urk_prep_cancel(r, E_ACCEPT, E_CLOSE, 0));
    urk_cqe_t two[2];
    t_collect(r, two, 2, 5000);
    for (int i = 0; i < 2; i++) {
        if (two[i].user_data == E_ACCEPT)
            CHECK(two[i].res == -ECANCELED && !(two[i].flags & URK_CQE_F_MORE));
        else
            CHECK(two[i].user_data == E_CLOSE && two[i].res == 0);
    }
    close(lfd);
    urk_bufring_destroy(br);
}

/* Running under valgrind? Valgrind 3.19 keeps its thread lock while a thread
 * is blocked in io_uring_enter, so no other thread of the test runs until
 * that wait ends: tests whose threads must progress during a blocking
 * harvest poll instead (t_wait_for_polling) or skip. */
static inline int t_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

/* t_wait_for without blocking in the kernel: non-blocking harvests with
 * short sleeps, so other threads (a peer reader) run even under valgrind. */
static inline urk_cqe_t t_wait_for_polling(urk_ring_t *r, uint64_t ud, uint32_t timeout_ms)
{
    urk_cqe_t c;
    uint64_t deadline = t_now_ms() + timeout_ms;
    while (t_now_ms() < deadline) {
        int n = urk_ring_complete(r, &c, 1, 0, 0);
        CHECK(n >= 0);
        if (n == 1) {
            if (c.user_data == ud)
                return c;
            fprintf(stderr, "unexpected completion ud=%llu res=%d\n",
                    (unsigned long long)c.user_data, c.res);
            exit(1);
        }
        usleep(500);
    }
    fprintf(stderr, "timed out waiting for ud=%llu\n", (unsigned long long)ud);
    exit(1);
}

#endif

/* engine_util.h - helpers for the engine_* C tests: engine creation, a
 * pull-mode echo server (one thread per reactor) and a poll(2)-driven set of
 * loopback clients that check every echoed byte. */
#ifndef URK_ENGINE_UTIL_H
#define URK_ENGINE_UTIL_H

#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Valgrind 3.19 does not treat io_uring_enter as blocking: threads starve
 * under it, so the heavier tests shrink or skip. */
static inline int te_valgrind(void)
{
    const char *v = getenv("URK_VALGRIND");
    return v && v[0] == '1';
}

static inline void te_opts(urk_engine_opts_t *o)
{
    CHECK_OK(urk_engine_opts_init(o));
}

/* Under valgrind a thread blocked in io_uring_enter starves the others, and
 * the acceptor thread blocks there: engines get a listener per reactor
 * instead (URK_ENGINE_REUSEPORT), so a pull-mode test has no thread but its
 * own. Tests that need the acceptor or native threads skip under valgrind. */
static inline urk_engine_t *te_create(const urk_engine_opts_t *opts)
{
    urk_engine_t *e = NULL;
    urk_engine_opts_t copy = *opts;
    const urk_engine_opts_t *o = opts;
    if (te_valgrind() && !(copy.flags & URK_ENGINE_NO_LISTEN)) {
        copy.flags |= URK_ENGINE_REUSEPORT;
        o = &copy;
    }
    int rc = urk_engine_create(o, &e);
    if (rc == -ENOSYS || rc == -EPERM || rc == -URK_ENOTSUP)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    CHECK(e != NULL);
    return e;
}

static inline urk_reactor_t *te_reactor(urk_engine_t *e, uint32_t i)
{
    urk_reactor_t *r = NULL;
    CHECK_OK(urk_engine_reactor(e, i, &r));
    CHECK(r != NULL);
    return r;
}

static inline urk_reactor_stats_t te_rstats(urk_reactor_t *r)
{
    urk_reactor_stats_t s;
    CHECK_OK(urk_reactor_stats(r, &s));
    return s;
}

static inline urk_engine_stats_t te_estats(urk_engine_t *e)
{
    urk_engine_stats_t s;
    CHECK_OK(urk_engine_stats(e, &s));
    return s;
}

/* Threads of this process (leak checks), not counting io_uring's kernel
 * workers (iou-sqp-*, iou-wrk-*): those come and go on the kernel's terms
 * (probing SQPOLL support starts one that lingers for a moment). They are
 * told apart by PF_IO_WORKER in /proc/.../stat, not by name: a new one
 * carries the process's name until it renames itself. */
static inline int te_thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[300], line[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* exited meanwhile */
        size_t len = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[len] = 0;
        /* fields after the command name, which ends with the last ')':
         * state ppid pgrp session tty_nr tpgid flags */
        char *p = strrchr(line, ')');
        unsigned long flags = 0;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
            continue;
        if (!(flags & 0x10)) /* PF_IO_WORKER */
            n++;
    }
    closedir(d);
    return n;
}

static inline void *te_noop_thread(void *arg) { return arg; }

/* The thread count to compare against later: a thread is started and
 * joined first, so a helper thread of the runtime (TSan starts one with the
 * first thread) is already counted. */
static inline int te_thread_baseline(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, te_noop_thread, NULL) == 0);
    pthread_join(t, NULL);
    return te_thread_count();
}

static inline void te_sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline uint64_t te_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void te_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

static inline void te_raise_nofile(void)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- pull-mode echo server: one polling thread per reactor ---- */

#define TE_MAX_REACTORS 8

typedef struct te_server te_server_t;

typedef struct te_server_thread {
    te_server_t *s;
    uint32_t index;
    pthread_t th;
} te_server_thread_t;

struct te_server {
    urk_engine_t *e;
    uint32_t nreactors;
    uint32_t poll_max;      /* events per poll; default 64 */
    int auto_release;       /* URK_ENGINE_RELEASE_ON_POLL: do not release */
    _Atomic int stop;
    _Atomic uint64_t opens, closes, closes_peer, closes_us, closes_err, bytes;
    _Atomic uint64_t send_errors; /* urk_send failures other than closing */
    _Atomic int32_t last_err;     /* the last negative CLOSED reason */
    te_server_thread_t th[TE_MAX_REACTORS];
};

/* Echoes one DATA event: copy send; over the send limit the data is still
 * queued (FORCE) and reading pauses until WRITABLE, as the echo example does. */
static inline void te_echo_event(te_server_t *s, urk_reactor_t *r, const urk_event_t *ev)
{
    switch (ev->type) {
    case URK_EV_OPEN:
        atomic_fetch_add(&s->opens, 1);
        break;
    case URK_EV_DATA: {
        int rc = urk_send(r, ev->conn, ev->data, ev->len, 0, 0);
        if (rc == -EAGAIN) {
            rc = urk_send(r, ev->conn, ev->data, ev->len, URK_SEND_FORCE, 0);
            if (rc == 0)
                CHECK_OK(urk_conn_pause_recv(r, ev->conn, 1));
        }
        if (rc != 0 && rc != -URK_ECLOSING) {
            fprintf(stderr, "echo: urk_send %s\n", urk_err_name(rc));
            atomic_fetch_add(&s->send_errors, 1);
        }
        atomic_fetch_add(&s->bytes, ev->len);
        if (!s->auto_release)
            CHECK_RC(urk_reactor_release(r, &ev->buf, 1), 1);
        break;
    }
    case URK_EV_WRITABLE: {
        int rc = urk_conn_pause_recv(r, ev->conn, 0);
        CHECK(rc == 0 || rc == -URK_ECLOSING);
        break;
    }
    case URK_EV_CLOSED:
        atomic_fetch_add(&s->closes, 1);
        if (ev->res == 0)
            atomic_fetch_add(&s->closes_peer, 1);
        else if (ev->res == 1)
            atomic_fetch_add(&s->closes_us, 1);
        else {
            atomic_fetch_add(&s->closes_err, 1);
            atomic_store(&s->last_err, ev->res);
        }
        break;
    default:
        break;
    }
}

static inline int te_server_poll(te_server_t *s, uint32_t index, urk_event_t *ev, uint32_t max,
                                 int32_t wait_ms)
{
    urk_reactor_t *r = te_reactor(s->e, index);
    int n = urk_reactor_poll(r, ev, max, wait_ms);
    if (n < 0) {
        fprintf(stderr, "poll: %s\n", urk_err_name(n));
        exit(1);
    }
    for (int i = 0; i < n; i++)
        te_echo_event(s, r, &ev[i]);
    return n;
}

static inline void *te_server_main(void *arg)
{
    te_server_thread_t *t = arg;
    te_server_t *s = t->s;
    uint32_t max = s->poll_max ? s->poll_max : 64;
    urk_event_t *ev = calloc(max, sizeof *ev);
    CHECK(ev);
    while (!atomic_load(&s->stop))
        te_server_poll(s, t->index, ev, max, 100);
    free(ev);
    return NULL;
}

/* Under valgrind a thread waiting in the ring starves every other thread,
 * so the server runs inline instead: te_clients_run and TE_WAIT poll it
 * (without waiting) between their own steps. */
static te_server_t *te_inline_server;

static inline void te_server_pump(void)
{
    te_server_t *s = te_inline_server;
    if (!s)
        return;
    urk_event_t ev[64];
    uint32_t max = s->poll_max && s->poll_max < 64 ? s->poll_max : 64;
    for (uint32_t i = 0; i < s->nreactors; i++)
        te_server_poll(s, i, ev, max, 0);
}

static inline void te_server_start(te_server_t *s, urk_engine_t *e)
{
    s->e = e;
    s->nreactors = (uint32_t)urk_engine_reactor_count(e);
    CHECK(s->nreactors >= 1 && s->nreactors <= TE_MAX_REACTORS);
    CHECK_OK(urk_engine_start(e, NULL));
    if (te_valgrind()) {
        te_inline_server = s;
        return;
    }
    for (uint32_t i = 0; i < s->nreactors; i++) {
        s->th[i].s = s;
        s->th[i].index = i;
        CHECK(pthread_create(&s->th[i].th, NULL, te_server_main, &s->th[i]) == 0);
    }
}

/* Ends the polling (the reactors are left for urk_engine_stop). */
static inline void te_server_join(te_server_t *s)
{
    atomic_store(&s->stop, 1);
    if (te_inline_server == s) {
        te_inline_server = NULL;
        return;
    }
    for (uint32_t i = 0; i < s->nreactors; i++)
        CHECK_OK(urk_reactor_wake(te_reactor(s->e, i)));
    for (uint32_t i = 0; i < s->nreactors; i++)
        pthread_join(s->th[i].th, NULL);
}

/* Waits until cond() holds, up to ms. */
#define TE_WAIT(cond, ms)                                                        \
    do {                                                                         \
        uint64_t te_deadline_ = t_now_ms() + (ms);                               \
        while (!(cond)) {                                                        \
            if (t_now_ms() > te_deadline_) {                                     \
                fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__,   \
                        __LINE__, #cond);                                        \
                exit(1);                                                         \
            }                                                                    \
            te_server_pump();                                                    \
            te_sleep_ms(te_inline_server ? 0 : 2);                               \
        }                                                                        \
    } while (0)

/* ---- clients: nonblocking sockets driven by one poll(2) loop ---- */

#define TE_HALF_CLOSE (1u << 0) /* shutdown(SHUT_WR) after sending all */
#define TE_EXPECT_EOF (1u << 1) /* done only once EOF follows the echo */

typedef struct te_client {
    int fd;
    uint32_t flags;
    uint8_t *out;   /* what is sent; the echo must match it */
    size_t len;
    size_t w, r;
    int shut, eof, done;
} te_client_t;

static inline void te_client_init(te_client_t *c, int v6, uint16_t port, size_t len,
                                  uint64_t seed, uint32_t flags)
{
    memset(c, 0, sizeof *c);
    c->fd = t_connect(v6, port);
    te_nonblock(c->fd);
    c->flags = flags;
    c->len = len;
    c->out = malloc(len ? len : 1);
    CHECK(c->out);
    t_fill(c->out, len, seed);
}

static inline void te_client_free(te_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
}

/* Drives every client until each has its whole echo back (and EOF when
 * asked), byte-exact; fails the test on a mismatch, an early EOF, a reset or
 * timeout_ms passing. */
static inline void te_clients_run(te_client_t *cs, uint32_t n, uint32_t timeout_ms)
{
    struct pollfd *pf = calloc(n, sizeof *pf);
    uint32_t *idx = calloc(n, sizeof *idx);
    uint8_t *scratch = malloc(1 << 16);
    CHECK(pf && idx && scratch);
    uint64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++) {
            te_client_t *c = &cs[i];
            if (c->done)
                continue;
            pf[m].fd = c->fd;
            pf[m].events = POLLIN | (c->w < c->len ? POLLOUT : 0);
            pf[m].revents = 0;
            idx[m++] = i;
        }
        if (m == 0)
            break;
        if (t_now_ms() > deadline) {
            uint64_t left = 0;
            for (uint32_t i = 0; i < n; i++)
                if (!cs[i].done) {
                    left++;
                    if (left < 5)
                        fprintf(stderr, "client %u: sent %zu/%zu, echoed %zu eof %d\n", i,
                                cs[i].w, cs[i].len, cs[i].r, cs[i].eof);
                }
            fprintf(stderr, "clients timed out: %llu of %u not done\n",
                    (unsigned long long)left, n);
            exit(1);
        }
        te_server_pump();
        int k = poll(pf, m, te_inline_server ? 1 : 100);
        CHECK(k >= 0 || errno == EINTR);
        for (uint32_t j = 0; j < m && k > 0; j++) {
            if (!pf[j].revents)
                continue;
            te_client_t *c = &cs[idx[j]];
            if (c->w < c->len && (pf[j].revents & (POLLOUT | POLLERR | POLLHUP))) {
                size_t want = c->len - c->w;
                if (want > (1 << 16))
                    want = 1 << 16;
                ssize_t x = write(c->fd, c->out + c->w, want);
                if (x > 0)
                    c->w += (size_t)x;
                else if (!(x < 0 && (errno == EAGAIN || errno == EINTR))) {
                    fprintf(stderr, "client %u: write: %s\n", idx[j], strerror(errno));
                    exit(1);
                }
            }
            if ((c->flags & TE_HALF_CLOSE) && c->w == c->len && !c->shut) {
                CHECK(shutdown(c->fd, SHUT_WR) == 0);
                c->shut = 1;
            }
            if (pf[j].revents & (POLLIN | POLLERR | POLLHUP)) {
                for (;;) {
                    ssize_t x = read(c->fd, scratch, 1 << 16);
                    if (x > 0) {
                        if (c->r + (size_t)x > c->w ||
                            memcmp(scratch, c->out + c->r, (size_t)x) != 0) {
                            fprintf(stderr, "client %u: echo mismatch at %zu (+%zd, sent %zu)\n",
                                    idx[j], c->r, x, c->w);
                            exit(1);
                        }
                        c->r += (size_t)x;
                        continue;
                    }
                    if (x == 0) {
                        if (c->r < c->len) {
                            fprintf(stderr, "client %u: EOF after %zu of %zu\n", idx[j], c->r,
                                    c->len);
                            exit(1);
                        }
                        c->eof = 1;
                    } else if (errno != EAGAIN && errno != EINTR) {
                        fprintf(stderr, "client %u: read: %s\n", idx[j], strerror(errno));
                        exit(1);
                    }
                    break;
                }
            }
            if (c->r == c->len && (!(c->flags & TE_EXPECT_EOF) || c->eof))
                c->done = 1;
        }
    }
    free(pf);
    free(idx);
    free(scratch);
}

/* Poll-mode helper for single-threaded tests: polls r until pred(ev) has
 * matched once, handing every event to fn first. */
typedef int (*te_event_fn)(urk_reactor_t *r, const urk_event_t *ev, void *arg);

/* Polls r (for up to timeout_ms) passing every event to fn until fn returns
 * nonzero. Returns 1 when it did, 0 on timeout. */
static inline int te_poll_until(urk_reactor_t *r, te_event_fn fn, void *arg, uint32_t timeout_ms)
{
    urk_event_t ev[64];
    uint64_t deadline = t_now_ms() + timeout_ms;
    int hit = 0;
    while (!hit && t_now_ms() < deadline) {
        int n = urk_reactor_poll(r, ev, 64, 20);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++)
            if (fn(r, &ev[i], arg))
                hit = 1;
    }
    return hit;
}

#endif

/* loadgen_server.h - a small blocking test server for the load generator
 * tests: a child process with one thread per connection on 127.0.0.1; it
 * reads fixed-size requests,
 * counts them, and answers each with a canned response, optionally late,
 * byte by byte, truncated, or not at all, optionally closing after it. */
#ifndef URK_LOADGEN_SERVER_H
#define URK_LOADGEN_SERVER_H

#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define LGS_MAX_CONNS 512

typedef struct lgs_opts {
    uint32_t request_len;     /* bytes per request */
    const void *response;     /* sent per request */
    uint32_t response_len;
    uint32_t delay_us;        /* sleep before each reply */
    uint32_t split_us;        /* >0: reply one byte per write, this far apart */
    uint32_t close_mid_every; /* every Nth request: half a reply, then close */
    uint32_t silent;          /* read requests, never reply */
    uint64_t stall_at;        /* request number (1-based) that is answered */
    uint32_t stall_ms;        /*   only after stall_ms                      */
    uint32_t close_after;     /* close the connection after each reply */
} lgs_opts_t;

typedef struct lgs {
    lgs_opts_t o;
    int lfd;
    uint16_t port;
    _Atomic int stop;
    _Atomic uint64_t requests; /* complete requests received */
    _Atomic uint64_t accepted;
    pid_t child;
    int nconns;
    int fds[LGS_MAX_CONNS];
    pthread_t tids[LGS_MAX_CONNS];
} lgs_t;

typedef struct lgs_conn_arg {
    lgs_t *s;
    int fd;
} lgs_conn_arg_t;

static inline void lgs_sleep_us(uint32_t us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline int lgs_read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static inline int lgs_write_full(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline void *lgs_conn_main(void *arg)
{
    lgs_conn_arg_t a = *(lgs_conn_arg_t *)arg;
    free(arg);
    lgs_t *s = a.s;
    int one = 1;
    setsockopt(a.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t *req = malloc(s->o.request_len);
    const uint8_t *resp = s->o.response;
    CHECK(req);
    while (!atomic_load(&s->stop)) {
        if (lgs_read_full(a.fd, req, s->o.request_len))
            break;
        uint64_t n = atomic_fetch_add(&s->requests, 1) + 1;
        if (s->o.silent)
            continue;
        if (s->o.delay_us)
            lgs_sleep_us(s->o.delay_us);
        if (s->o.stall_at && n == s->o.stall_at)
            lgs_sleep_us(s->o.stall_ms * 1000u);
        if (s->o.close_mid_every && n % s->o.close_mid_every == 0) {
            lgs_write_full(a.fd, resp, s->o.response_len / 2);
            break;
        }
        int bad = 0;
        if (s->o.split_us) {
            for (uint32_t i = 0; i < s->o.response_len && !bad; i++) {
                bad = lgs_write_full(a.fd, resp + i, 1);
                lgs_sleep_us(s->o.split_us);
            }
        } else {
            bad = lgs_write_full(a.fd, resp, s->o.response_len);
        }
        if (bad || s->o.close_after)
            break;
    }
    free(req);
    shutdown(a.fd, SHUT_RDWR);
    return NULL;
}

/* The server runs in a child process: its blocking threads never compete
 * with the generator's for a scheduler (valgrind runs one thread of a
 * process at a time and does not see io_uring_enter as blocking:
 * liburing#657), and a crash in one cannot hide in the other. */
static inline void lgs_child(lgs_t *s)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (s->nconns == LGS_MAX_CONNS) {
            close(fd);
            continue;
        }
        lgs_conn_arg_t *a = malloc(sizeof *a);
        CHECK(a);
        a->s = s;
        a->fd = fd;
        s->fds[s->nconns] = fd;
        CHECK(pthread_create(&s->tids[s->nconns], NULL, lgs_conn_main, a) == 0);
        s->nconns++;
        atomic_fetch_add(&s->accepted, 1);
    }
    close(s->lfd);
    for (int i = 0; i < s->nconns; i++)
        shutdown(s->fds[i], SHUT_RDWR); /* unblocks a read or a sleep's write */
    for (int i = 0; i < s->nconns; i++) {
        pthread_join(s->tids[i], NULL);
        close(s->fds[i]);
    }
    _exit(0);
}

/* Starts the server; the returned state is shared with the child. */
static inline lgs_t *lgs_start(const lgs_opts_t *o)
{
    lgs_t *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(s != MAP_FAILED);
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->lfd = t_listen(0, &s->port);
    fflush(NULL);
    pid_t pid = fork(); /* not written to *s by the child: it is shared */
    CHECK(pid >= 0);
    if (pid == 0)
        lgs_child(s);
    s->child = pid;
    close(s->lfd);
    return s;
}

/* Stops the server, waits for it and frees it. Returns how many complete
 * requests it received (final: the child has exited). */
static inline uint64_t lgs_stop(lgs_t *s)
{
    atomic_store(&s->stop, 1);
    int status = 0;
    CHECK(waitpid(s->child, &status, 0) == s->child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint64_t got = atomic_load(&s->requests);
    munmap(s, sizeof *s);
    return got;
}

/* Options for a run against 127.0.0.1:port. */
static inline urk_loadgen_opts_t lg_opts(uint16_t port, const char *request, uint16_t framing)
{
    urk_loadgen_opts_t o;
    CHECK_OK(urk_loadgen_opts_init(&o));
    o.host = "127.0.0.1";
    o.port = port;
    o.framing = framing;
    o.request = request;
    o.request_len = (uint32_t)strlen(request);
    o.connections = 4;
    o.threads = 1;
    return o;
}

static inline void lg_print(const char *what, const urk_loadgen_result_t *r)
{
    printf("%s: req=%llu resp=%llu in=%llu out=%llu elapsed=%.3fs errs c/r/w/t/f=%llu/%llu/%llu/%llu/%llu "
           "lat min=%.3fms p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms cpu=%.3fs\n",
           what, (unsigned long long)r->requests, (unsigned long long)r->responses,
           (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
           (double)r->elapsed_ns / 1e9, (unsigned long long)r->err_connect,
           (unsigned long long)r->err_read, (unsigned long long)r->err_write,
           (unsigned long long)r->err_timeout, (unsigned long long)r->err_framing,
           (double)r->lat_min_ns / 1e6, (double)r->lat_p50_ns / 1e6,
           (double)r->lat_p90_ns / 1e6, (double)r->lat_p99_ns / 1e6,
           (double)r->lat_max_ns / 1e6, (double)r->cpu_ns / 1e9);
}

/* Under valgrind (URK_VALGRIND=1, set by `make test-valgrind`) only one
 * thread of a process runs at a time and a thread blocked in io_uring_enter
 * keeps the others from running (liburing#657; valgrind 3.19), so runs use
 * one generator thread there. */
static inline int lg_under_valgrind(void)
{
    const char *v = getenv("URK_VALGRIND");
    return v && strcmp(v, "1") == 0;
}

/* HTTP status counts of a run (urk_loadgen_status). */
typedef struct lg_status {
    int n;
    uint32_t codes[16];
    uint64_t counts[16];
} lg_status_t;

/* Creates, runs and destroys a load generator; returns its result (the
 * whole current struct, via urk_loadgen_result_ex) and, with st, its
 * status table. */
static inline urk_loadgen_result_t lg_run_status(const urk_loadgen_opts_t *o_in,
                                                 lg_status_t *st)
{
    urk_loadgen_opts_t copy = *o_in;
    const urk_loadgen_opts_t *o = &copy;
    if (lg_under_valgrind())
        copy.threads = 1;
    urk_loadgen_t *lg = NULL;
    int rc = urk_loadgen_create(o, &lg);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    rc = urk_loadgen_run(lg);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    urk_loadgen_result_t r;
    CHECK_OK(urk_loadgen_result_ex(lg, &r, sizeof r));
    if (st) {
        st->n = urk_loadgen_status(lg, st->codes, st->counts, 16);
        CHECK(st->n >= 0 && st->n <= 16);
    }
    urk_loadgen_destroy(lg);
    return r;
}

static inline urk_loadgen_result_t lg_run(const urk_loadgen_opts_t *o_in)
{
    return lg_run_status(o_in, NULL);
}

static inline uint64_t lg_errors(const urk_loadgen_result_t *r)
{
    return r->err_connect + r->err_read + r->err_write + r->err_timeout + r->err_framing;
}

#endif

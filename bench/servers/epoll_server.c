/* Tuned epoll baseline for the uRocket benchmarks (issue 6).
 *
 * Level-triggered, one recv per readiness event, a SO_REUSEPORT listener and
 * an epoll instance per thread, TCP_NODELAY, accept4 non-blocking. Answers
 * every complete request ("\r\n\r\n") with BENCH_RESPONSE; responses owed are
 * a byte count into a prebuilt run of back-to-back responses, so a batch of
 * pipelined requests is one send() and nothing is allocated per request.
 *
 * Each connection owns a --conn-buf byte read buffer (default 4096), as a
 * server that must keep partial requests would; the idle-connection memory
 * comparison in issue 6 is defined against that. --conn-buf 0 reads into one
 * per-thread buffer instead.
 *
 * --echo turns it into a byte-exact echo server (bench/workloads.py's 16 and
 * 64 KiB messages): each readiness event is one recv of up to --echo-buf
 * bytes (default 65536) into the per-thread buffer and one send of them
 * straight back. Only what the socket does not take is copied, into a
 * per-connection buffer allocated on first need; reading stops until the
 * peer has drained it, so memory stays bounded (and an EOF is only seen
 * once every byte before it went back). The HTTP mode is untouched by this.
 *
 *   epoll_server --port P [--host 127.0.0.1] [--threads N] [--cpu C]
 *                [--conn-buf BYTES] [--echo] [--echo-buf BYTES]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "response.h"

#define MAX_EVENTS 1024
#define STREAM_COPIES 256 /* responses in the prebuilt send run */
#define LISTENER_TAG UINT64_MAX
#define SHARED_BUF 16384 /* per-thread read buffer with --conn-buf 0 */

struct conn {
    uint32_t owed;    /* response bytes not yet sent; --echo: bytes in buf */
    uint8_t state;    /* terminator bytes matched at the end of the last read */
    uint8_t want_out; /* registered for EPOLLOUT (and not EPOLLIN) */
    char *buf;        /* per-connection read buffer, or NULL; --echo: unsent bytes */
};

static struct conn *conns; /* indexed by fd; each fd belongs to one thread */
static size_t conns_cap;
static char stream[STREAM_COPIES * BENCH_RESPONSE_LEN];

static struct {
    const char *host;
    int port;
    int threads;
    int cpu;
    size_t conn_buf;
    int echo;
    size_t echo_buf;
} cfg = {"127.0.0.1", 8080, 1, -1, 4096, 0, 65536};

struct worker {
    int index;
    int listen_fd;
    int ep;
    pthread_t thread;
};

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int open_listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("setsockopt");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
    if (inet_pton(AF_INET, cfg.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bad --host %s\n", cfg.host);
        exit(2);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(fd, 4096) < 0)
        die("listen");
    return fd;
}

static void conn_close(int ep, int fd)
{
    (void)ep; /* close() drops the fd from the epoll set: no dup()s exist */
    struct conn *c = &conns[fd];
    free(c->buf);
    memset(c, 0, sizeof *c);
    close(fd);
}

static void set_interest(int ep, int fd, struct conn *c, int want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = want_out ? EPOLLOUT : EPOLLIN, .data.u64 = (uint64_t)fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    c->want_out = (uint8_t)want_out;
}

/* Sends owed bytes until done or the socket is full. -1: connection dead. */
static int flush(int fd, struct conn *c)
{
    while (c->owed) {
        size_t pos = (BENCH_RESPONSE_LEN - c->owed % BENCH_RESPONSE_LEN) % BENCH_RESPONSE_LEN;
        size_t len = sizeof stream - pos;
        if (len > c->owed)
            len = c->owed;
        ssize_t n = send(fd, stream + pos, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->owed -= (uint32_t)n;
    }
    return 0;
}

/* --echo: sends the bytes kept in c->buf. -1: connection dead. */
static int flush_echo(int fd, struct conn *c)
{
    size_t done = 0;
    while (done < c->owed) {
        ssize_t n = send(fd, c->buf + done, c->owed - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            break;
        }
        done += (size_t)n;
    }
    if (done && done < c->owed)
        memmove(c->buf, c->buf + done, c->owed - done);
    c->owed -= (uint32_t)done;
    return 0;
}

/* --echo: sends p[0..n) back; what the socket does not take is kept in
 * c->buf. -1: connection dead. */
static int echo_back(int fd, struct conn *c, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            break;
        }
        done += (size_t)k;
    }
    if (done == n)
        return 0;
    if (!c->buf && !(c->buf = malloc(cfg.echo_buf)))
        return -1;
    memcpy(c->buf, p + done, n - done); /* n <= echo_buf and owed was 0 */
    c->owed = (uint32_t)(n - done);
    return 0;
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("accept4"); /* EMFILE etc.: retry on the next event */
            return;
        }
        if ((size_t)fd >= conns_cap) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = &conns[fd];
        memset(c, 0, sizeof *c);
        if (!cfg.echo && cfg.conn_buf && !(c->buf = malloc(cfg.conn_buf))) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_close(ep, fd);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (cfg.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((cfg.cpu + w->index) % CPU_SETSIZE, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    struct epoll_event *evs = calloc(MAX_EVENTS, sizeof *evs);
    size_t shared_cap = cfg.echo ? cfg.echo_buf : SHARED_BUF;
    char *shared = malloc(shared_cap);
    if (!evs || !shared)
        die("malloc");
    int ep = w->ep;
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == LISTENER_TAG) {
                accept_all(ep, w->listen_fd);
                continue;
            }
            int fd = (int)evs[i].data.u64;
            struct conn *c = &conns[fd];
            uint32_t e = evs[i].events;
            if (c->want_out) {
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                    if ((cfg.echo ? flush_echo(fd, c) : flush(fd, c)) < 0 || (e & EPOLLERR)) {
                        conn_close(ep, fd);
                        continue;
                    }
                    if (c->owed == 0)
                        set_interest(ep, fd, c, 0);
                }
                continue;
            }
            if (cfg.echo) {
                ssize_t r = recv(fd, shared, cfg.echo_buf, 0);
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                    continue;
                if (r <= 0 || echo_back(fd, c, shared, (size_t)r) < 0) {
                    conn_close(ep, fd);
                    continue;
                }
                if (c->owed)
                    set_interest(ep, fd, c, 1);
                continue;
            }
            /* One recv per readiness event; level triggering brings us back
             * if more is buffered. */
            char *buf = c->buf ? c->buf : shared;
            size_t cap = c->buf ? cfg.conn_buf : SHARED_BUF;
            ssize_t r = recv(fd, buf, cap, 0);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                    continue;
                conn_close(ep, fd);
                continue;
            }
            unsigned st = c->state;
            size_t k = bench_count_requests(buf, (size_t)r, &st);
            c->state = (uint8_t)st;
            if (k == 0)
                continue;
            c->owed += (uint32_t)(k * BENCH_RESPONSE_LEN);
            if (flush(fd, c) < 0) {
                conn_close(ep, fd);
                continue;
            }
            /* Socket full: stop reading until the peer drains it. */
            if (c->owed)
                set_interest(ep, fd, c, 1);
        }
    }
    return NULL;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --port P [--host ADDR] [--threads N] [--cpu C] [--conn-buf BYTES]\n"
            "       [--echo] [--echo-buf BYTES]\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--echo")) {
            cfg.echo = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage(argv[0]);
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            cfg.port = atoi(v);
        else if (!strcmp(a, "--host"))
            cfg.host = v;
        else if (!strcmp(a, "--threads"))
            cfg.threads = atoi(v);
        else if (!strcmp(a, "--cpu"))
            cfg.cpu = atoi(v);
        else if (!strcmp(a, "--conn-buf"))
            cfg.conn_buf = (size_t)atol(v);
        else if (!strcmp(a, "--echo-buf"))
            cfg.echo_buf = (size_t)atol(v);
        else
            usage(argv[0]);
    }
    if (cfg.port <= 0 || cfg.port > 65535 || cfg.threads < 1 || cfg.threads > 256 ||
        cfg.echo_buf < 1 || cfg.echo_buf > (1u << 30))
        usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    conns_cap = rl.rlim_cur > (1u << 22) ? (1u << 22) : (size_t)rl.rlim_cur;
    conns = calloc(conns_cap, sizeof *conns);
    if (!conns)
        die("calloc");
    for (size_t i = 0; i < STREAM_COPIES; i++)
        memcpy(stream + i * BENCH_RESPONSE_LEN, BENCH_RESPONSE, BENCH_RESPONSE_LEN);

    struct worker *ws = calloc((size_t)cfg.threads, sizeof *ws);
    if (!ws)
        die("calloc");
    /* Every listener is bound before any thread runs, so the port is fully
     * served once the first connect succeeds. */
    for (int i = 0; i < cfg.threads; i++) {
        ws[i].index = i;
        ws[i].listen_fd = open_listener();
        ws[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (ws[i].ep < 0)
            die("epoll_create1");
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER_TAG};
        if (epoll_ctl(ws[i].ep, EPOLL_CTL_ADD, ws[i].listen_fd, &ev) < 0)
            die("epoll_ctl");
    }
    for (int i = 1; i < cfg.threads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create");
    worker_main(&ws[0]);
    return 0;
}

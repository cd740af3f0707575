/* soak - mixed churn against an in-process echo engine, byte-exact.
 *
 *   soak [--seconds 60] [--conns 64] [--restart-every 10] [--report-every 5]
 *
 * The server is the engine in native mode echoing every byte (as
 * examples/echo_server.c: no-copy sends, receive paused over the send
 * limit). The clients run on the main thread with epoll, `--conns` at a time;
 * each one is one of:
 *   - echo: sends a random amount (1 B .. 4 MiB, mostly small) in random
 *     pieces while reading, shuts down its write side (half-close), reads to
 *     EOF and checks it got back exactly what it sent;
 *   - rst: sends part of its amount, then resets (SO_LINGER 0);
 *   - quiet: connects, sends nothing, closes.
 * Every byte is generated from a per-connection seed and checked as it
 * arrives. Every --restart-every seconds the engine is stopped, destroyed
 * and created again on a new port: connections open then are cut (counted,
 * their bytes still checked as a prefix, not counted as lost).
 *
 * Every --report-every seconds a line: throughput, connections, errors, lost
 * and corrupted bytes, open fds, RSS. A final summary line. Exit status 1 on
 * any lost or corrupted byte, an unexplained error, or an fd left open after
 * the last engine is destroyed. */
#include <urocket.h>

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- server */

static int32_t on_data(urk_reactor_t *r, urk_conn_t conn, const uint8_t *data, uint32_t len,
                       uint32_t buf, void *user)
{
    (void)user;
    if (urk_send(r, conn, data, len, URK_SEND_NOCOPY, buf) == 0)
        return 1;
    if (urk_send(r, conn, data, len, URK_SEND_NOCOPY | URK_SEND_FORCE, buf) == 0) {
        urk_conn_pause_recv(r, conn, 1);
        return 1;
    }
    return 0;
}

static void on_writable(urk_reactor_t *r, urk_conn_t conn, void *user)
{
    (void)user;
    urk_conn_pause_recv(r, conn, 0);
}

static void on_send_done(urk_reactor_t *r, urk_conn_t conn, int32_t res, uint64_t tag, void *user)
{
    (void)conn;
    (void)res;
    (void)user;
    uint32_t buf = (uint32_t)tag;
    urk_reactor_release(r, &buf, 1);
}

static urk_engine_t *server_start(uint16_t *port)
{
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = 0;
    o.buf_count = 256;
    o.send_limit = 1u << 20;
    urk_engine_t *e;
    int rc = urk_engine_create(&o, &e);
    if (rc) {
        fprintf(stderr, "soak: urk_engine_create: %s\n", urk_strerror(rc));
        exit(2);
    }
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_data = on_data;
    cb.on_writable = on_writable;
    cb.on_send_done = on_send_done;
    if ((rc = urk_engine_start(e, &cb)) != 0) {
        fprintf(stderr, "soak: urk_engine_start: %s\n", urk_strerror(rc));
        exit(2);
    }
    *port = (uint16_t)urk_engine_port(e);
    return e;
}

/* ---------------------------------------------------------------- bytes */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint8_t byte_at(uint64_t seed, uint64_t pos)
{
    return (uint8_t)(mix64(seed ^ (pos >> 3)) >> ((pos & 7) * 8));
}

static void fill(uint64_t seed, uint64_t pos, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = byte_at(seed, pos + i);
}

/* Index of the first byte that differs, or n. */
static size_t check(uint64_t seed, uint64_t pos, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != byte_at(seed, pos + i))
            return i;
    return n;
}

static uint64_t rng_state = 0x5eed;
static uint64_t rnd(void) { return mix64(++rng_state); }

/* ---------------------------------------------------------------- clients */

enum kind { K_ECHO, K_RST, K_QUIET };

struct client {
    int fd;
    enum kind kind;
    int epoch; /* engine generation it connected to */
    uint64_t seed;
    uint64_t total;  /* bytes it will send */
    uint64_t sent, got;
    uint64_t rst_at; /* K_RST: reset after sending this much */
    int connected, shut;
};

static struct {
    uint64_t bytes_echoed, conns_done, conns_rst, conns_quiet, conns_cut, restarts;
    uint64_t lost, corrupted, errors;
} tot;

static int epfd;
static int epoch;
static uint16_t port;
static struct client **clients;
static int nclients, maxclients;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t pick_total(void)
{
    uint64_t r = rnd() % 100;
    if (r < 70)
        return 1 + rnd() % 16384;
    if (r < 95)
        return 1 + rnd() % (256 << 10);
    return 1 + rnd() % (4 << 20);
}

static void client_new(void)
{
    struct client *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    uint64_t r = rnd() % 100;
    c->kind = r < 80 ? K_ECHO : r < 95 ? K_RST : K_QUIET;
    c->seed = rnd();
    c->total = c->kind == K_QUIET ? 0 : pick_total();
    c->rst_at = c->kind == K_RST ? rnd() % (c->total + 1) : 0;
    c->epoch = epoch;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("soak: socket");
        exit(2);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        fprintf(stderr, "soak: connect: %s\n", strerror(errno));
        tot.errors++;
        close(c->fd);
        free(c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    clients[nclients++] = c;
}

static void client_free(struct client *c, int rst)
{
    if (rst) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    for (int i = 0; i < nclients; i++)
        if (clients[i] == c) {
            clients[i] = clients[--nclients];
            break;
        }
    free(c);
}

/* The connection ended (EOF or error): account for it. */
static void client_end(struct client *c, int err)
{
    int cut = c->epoch != epoch; /* its engine was restarted under it */
    if (cut) {
        tot.conns_cut++;
    } else if (c->kind == K_QUIET && !err && c->got == 0) {
        tot.conns_quiet++;
    } else if (err || c->got != c->total) {
        /* An echo connection must get back every byte, then EOF. */
        fprintf(stderr, "soak: conn lost bytes: kind %d sent %llu of %llu, got %llu, err %s\n",
                c->kind, (unsigned long long)c->sent, (unsigned long long)c->total,
                (unsigned long long)c->got, err ? strerror(err) : "none (EOF)");
        tot.lost += c->total > c->got ? c->total - c->got : 1;
    } else {
        tot.conns_done++;
    }
    client_free(c, 0);
}

static uint8_t iobuf[256 << 10];

static void client_io(struct client *c, uint32_t events)
{
    if (!c->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            if (c->epoch == epoch) {
                fprintf(stderr, "soak: connect failed: %s\n", strerror(err));
                tot.errors++;
            } else {
                tot.conns_cut++;
            }
            client_free(c, 0);
            return;
        }
        c->connected = 1;
    }
    if (!c->connected)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        for (;;) {
            ssize_t n = recv(c->fd, iobuf, sizeof iobuf, 0);
            if (n > 0) {
                size_t ok = check(c->seed, c->got, iobuf, (size_t)n);
                if (ok != (size_t)n || c->got + (uint64_t)n > c->sent) {
                    fprintf(stderr, "soak: corrupted byte at offset %llu\n",
                            (unsigned long long)(c->got + ok));
                    tot.corrupted += (uint64_t)n - ok + 1;
                    client_free(c, 1);
                    return;
                }
                c->got += (uint64_t)n;
                tot.bytes_echoed += (uint64_t)n;
                continue;
            }
            if (n == 0) {
                client_end(c, 0);
                return;
            }
            if (errno == EAGAIN || errno == EINTR)
                break;
            client_end(c, errno);
            return;
        }
    }
    if (events & EPOLLOUT) {
        while (c->sent < c->total) {
            uint64_t want = 1 + rnd() % (64 << 10);
            if (want > c->total - c->sent)
                want = c->total - c->sent;
            if (c->kind == K_RST && c->sent + want > c->rst_at)
                want = c->rst_at - c->sent;
            if (want == 0)
                break;
            fill(c->seed, c->sent, iobuf, (size_t)want);
            ssize_t n = send(c->fd, iobuf, (size_t)want, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                client_end(c, errno);
                return;
            }
            c->sent += (uint64_t)n;
        }
        if (c->kind == K_RST && c->sent >= c->rst_at && c->got >= c->sent / 2) {
            tot.conns_rst++;
            client_free(c, 1);
            return;
        }
        if (c->sent == c->total && !c->shut) {
            if (c->kind == K_QUIET) {
                tot.conns_quiet++;
                client_free(c, 0);
                return;
            }
            shutdown(c->fd, SHUT_WR); /* half-close: the echo must still come back */
            c->shut = 1;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
}

/* ---------------------------------------------------------------- /proc */

static int fd_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n - 1; /* the listing's own */
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    double seconds = 60, restart_every = 10, report_every = 5;
    int conns = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--restart-every") && i + 1 < argc)
            restart_every = atof(argv[++i]);
        else if (!strcmp(argv[i], "--report-every") && i + 1 < argc)
            report_every = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--conns N] [--restart-every S] "
                            "[--report-every S]\n", argv[0]);
            return 2;
        }
    }
    if (conns < 1 || conns > 4096 || seconds <= 0 || restart_every <= 0 || report_every <= 0) {
        fprintf(stderr, "soak: bad arguments\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    clients = calloc((size_t)conns, sizeof *clients);
    maxclients = conns;
    int fds0 = fd_count();
    long rss0 = rss_kib();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    urk_engine_t *e = server_start(&port);
    printf("soak: %.0f s, %d connections at a time, engine restart every %.0f s (port %u)\n",
           seconds, conns, restart_every, port);

    double t0 = now_s(), next_report = t0 + report_every, next_restart = t0 + restart_every;
    uint64_t last_bytes = 0, last_done = 0;
    double last_t = t0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now_s();
        if (t - t0 >= seconds)
            break;
        while (nclients < maxclients)
            client_new();
        int n = epoll_wait(epfd, evs, 256, 50);
        for (int i = 0; i < n; i++) {
            /* a client freed earlier in this batch is never in a later event:
             * each fd appears once per epoll_wait */
            client_io(evs[i].data.ptr, evs[i].events);
        }
        t = now_s();
        if (t >= next_restart) {
            /* Connections open now are cut: mark them, then restart. */
            epoch++;
            urk_engine_stop(e, 100);
            urk_engine_destroy(e);
            e = server_start(&port);
            tot.restarts++;
            next_restart = t + restart_every;
        }
        if (t >= next_report) {
            double dt = t - last_t;
            printf("t=%5.1fs  echoed %7.1f MiB/s  conns %6.0f/s  done %llu rst %llu quiet %llu "
                   "cut %llu  restarts %llu  errors %llu lost %llu corrupted %llu  fds %d  "
                   "rss %ld MiB\n",
                   t - t0, (double)(tot.bytes_echoed - last_bytes) / dt / (1 << 20),
                   (double)(tot.conns_done - last_done) / dt,
                   (unsigned long long)tot.conns_done, (unsigned long long)tot.conns_rst,
                   (unsigned long long)tot.conns_quiet, (unsigned long long)tot.conns_cut,
                   (unsigned long long)tot.restarts, (unsigned long long)tot.errors,
                   (unsigned long long)tot.lost, (unsigned long long)tot.corrupted, fd_count(),
                   rss_kib() >> 10);
            last_bytes = tot.bytes_echoed;
            last_done = tot.conns_done;
            last_t = t;
            next_report = t + report_every;
        }
    }
    double elapsed = now_s() - t0;
    /* Wind down: finish nothing more, close every client, stop the engine. */
    epoch++;
    while (nclients)
        client_free(clients[0], 0);
    urk_engine_stop(e, 100);
    urk_engine_destroy(e);
    close(epfd);
    free(clients);
    int fds1 = fd_count();
    long rss1 = rss_kib();
    int fd_leak = fds1 != fds0;
    int ok = !tot.lost && !tot.corrupted && !tot.errors && !fd_leak;
    printf("soak %s: %.0f s, %.1f MiB echoed (%.1f MiB/s), %llu echo conns verified, %llu rst, "
           "%llu quiet, %llu cut by %llu restarts; errors %llu, lost bytes %llu, corrupted "
           "bytes %llu; fds %d -> %d; rss %ld -> %ld MiB\n",
           ok ? "PASS" : "FAIL", elapsed, (double)tot.bytes_echoed / (1 << 20),
           (double)tot.bytes_echoed / (1 << 20) / elapsed, (unsigned long long)tot.conns_done,
           (unsigned long long)tot.conns_rst, (unsigned long long)tot.conns_quiet,
           (unsigned long long)tot.conns_cut, (unsigned long long)tot.restarts,
           (unsigned long long)tot.errors, (unsigned long long)tot.lost,
           (unsigned long long)tot.corrupted, fds0, fds1, rss0 >> 10, rss1 >> 10);
    return ok ? 0 : 1;
}

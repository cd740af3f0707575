/* urk_engine_stop while 500 connections are busy (a forked child keeps
 * every connection sending and reading). Stop returns; afterwards no
 * connection descriptor is left (/proc/self/fd), no thread (/proc/self/task),
 * no buffer held, nothing queued; after destroy the descriptor count is back
 * to where it was before create. Cases: native mode; pull mode stopped from
 * the thread that polls; pull mode stopped from another thread once polling
 * has ended. Then the lifecycle rules: destroy without start, stop without
 * start, start twice and start after stop (-URK_ESTATE), stop twice. */
#include "engine_util.h"

#include <stddef.h>

static uint32_t nconn;

/* The client process: every connection writes and reads as fast as it can
 * until the server goes away (EOF or error on each), or 30 s pass. */
static void client_main(int port_fd)
{
    uint16_t port;
    CHECK(read(port_fd, &port, sizeof port) == sizeof port);
    int *fds = calloc(nconn, sizeof *fds);
    struct pollfd *pf = calloc(nconn, sizeof *pf);
    static uint8_t buf[16384];
    CHECK(fds && pf);
    for (uint32_t i = 0; i < nconn; i++) {
        fds[i] = t_connect(0, port);
        te_nonblock(fds[i]);
    }
    uint32_t alive = nconn;
    uint64_t dl = t_now_ms() + 30000;
    while (alive && t_now_ms() < dl) {
        for (uint32_t i = 0; i < nconn; i++) {
            pf[i].fd = fds[i];
            pf[i].events = POLLIN | POLLOUT;
        }
        if (poll(pf, nconn, 100) <= 0)
            continue;
        for (uint32_t i = 0; i < nconn; i++) {
            if (fds[i] < 0 || !pf[i].revents)
                continue;
            int dead = 0;
            if (pf[i].revents & POLLIN) {
                ssize_t x = read(fds[i], buf, sizeof buf);
                dead = x == 0 || (x < 0 && errno != EAGAIN);
            }
            if (!dead && (pf[i].revents & POLLOUT)) {
                ssize_t x = send(fds[i], buf, 4096, MSG_NOSIGNAL);
                dead = x < 0 && errno != EAGAIN;
            }
            if (dead || (pf[i].revents & (POLLERR | POLLHUP))) {
                close(fds[i]);
                fds[i] = -1;
                alive--;
            }
        }
    }
    _exit(alive == 0 ? 0 : 3);
}

static pid_t spawn_clients(int *port_w)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        client_main(p[0]);
    }
    close(p[0]);
    *port_w = p[1];
    return pid;
}

static void wait_clients(pid_t pid)
{
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "client process: status %d\n", status);
        exit(1);
    }
}

static uint64_t sum_stat(urk_engine_t *e, size_t off)
{
    uint64_t t = 0;
    for (int i = 0; i < urk_engine_reactor_count(e); i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, (uint32_t)i));
        t += *(uint64_t *)((char *)&s + off);
    }
    return t;
}
#define SUM(e, field) sum_stat(e, offsetof(urk_reactor_stats_t, field))

static void check_clean(urk_engine_t *e)
{
    CHECK(SUM(e, live_conns) == 0);
    CHECK(SUM(e, bufs_held) == 0);
    CHECK(SUM(e, send_queued) == 0);
}

static int32_t echo_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n, uint32_t buf,
                         void *u)
{
    (void)buf, (void)u;
    if (urk_send(r, c, d, n, 0, 0) == -EAGAIN) {
        urk_send(r, c, d, n, URK_SEND_FORCE, 0);
        urk_conn_pause_recv(r, c, 1);
    }
    return 0;
}
static void echo_writable(urk_reactor_t *r, urk_conn_t c, void *u)
{
    (void)u;
    urk_conn_pause_recv(r, c, 0);
}

/* Starts clients against e and waits until all are connected and data
 * flows; returns the client process. */
static pid_t load(urk_engine_t *e, int port_w, pid_t pid, void (*pump)(urk_engine_t *))
{
    uint16_t port = (uint16_t)urk_engine_port(e);
    t_write_all(port_w, &port, sizeof port);
    close(port_w);
    uint64_t dl = t_now_ms() + 20000;
    while (SUM(e, accepted) < nconn) {
        CHECK(t_now_ms() < dl);
        if (pump)
            pump(e);
        else
            te_sleep_ms(5);
    }
    uint64_t in0 = SUM(e, bytes_in);
    while (SUM(e, bytes_in) < in0 + (1u << 20)) {
        CHECK(t_now_ms() < dl);
        if (pump)
            pump(e);
        else
            te_sleep_ms(5);
    }
    return pid;
}

static void native_case(void)
{
    int port_w;
    pid_t pid = spawn_clients(&port_w);
    /* port_w is closed once the port is sent: not counted */
    int fds0 = t_fd_count() - 1, th0 = te_thread_baseline();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    int fds_created = t_fd_count() - 1;
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_data = echo_data;
    cb.on_writable = echo_writable;
    CHECK_OK(urk_engine_start(e, &cb));
    load(e, port_w, pid, NULL);
    uint64_t t0 = t_now_ms();
    CHECK_OK(urk_engine_stop(e, 100));
    printf("native: stop with %u busy connections took %llu ms\n", nconn,
           (unsigned long long)(t_now_ms() - t0));
    CHECK(t_fd_count() == fds_created - 1); /* the listener went too */
    TE_WAIT(te_thread_count() == th0, 2000);
    check_clean(e);
    CHECK(SUM(e, closed) == nconn);
    CHECK_OK(urk_engine_stop(e, 100)); /* idempotent */
    CHECK_RC(urk_engine_start(e, &cb), -URK_ESTATE);
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    wait_clients(pid);
}

/* pull mode, one thread owns both reactors */
static void pump_echo(urk_engine_t *e)
{
    urk_event_t ev[64];
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_t *r = te_reactor(e, i);
        int n = urk_reactor_poll(r, ev, 64, 1);
        CHECK(n >= 0);
        for (int k = 0; k < n; k++)
            if (ev[k].type == URK_EV_DATA) {
                echo_data(r, ev[k].conn, ev[k].data, ev[k].len, 0, NULL);
                CHECK_RC(urk_reactor_release(r, &ev[k].buf, 1), 1);
            } else if (ev[k].type == URK_EV_WRITABLE) {
                echo_writable(r, ev[k].conn, NULL);
            }
    }
}

static void pull_same_thread_case(uint32_t drain_ms)
{
    int port_w;
    pid_t pid = spawn_clients(&port_w);
    /* port_w is closed once the port is sent: not counted */
    int fds0 = t_fd_count() - 1, th0 = te_thread_baseline();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    int fds_created = t_fd_count() - 1;
    CHECK_OK(urk_engine_start(e, NULL));
    load(e, port_w, pid, pump_echo);
    for (int i = 0; i < 5; i++)
        pump_echo(e);
    uint64_t t0 = t_now_ms();
    CHECK_OK(urk_engine_stop(e, drain_ms));
    printf("pull, stopped by the polling thread (drain %u ms): %llu ms\n", drain_ms,
           (unsigned long long)(t_now_ms() - t0));
    CHECK(t_fd_count() == fds_created - 1);
    TE_WAIT(te_thread_count() == th0, 2000);
    check_clean(e);
    urk_event_t ev[4];
    CHECK_RC(urk_reactor_poll(te_reactor(e, 0), ev, 4, 0), -URK_ESTATE);
    CHECK_RC(urk_engine_start(e, NULL), -URK_ESTATE);
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    wait_clients(pid);
}

static void pull_other_thread_case(void)
{
    int port_w;
    pid_t pid = spawn_clients(&port_w);
    /* port_w is closed once the port is sent: not counted */
    int fds0 = t_fd_count() - 1, th0 = te_thread_baseline();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    int fds_created = t_fd_count() - 1;
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    te_server_start(srv, e);
    load(e, port_w, pid, NULL);
    te_server_join(srv); /* polling ends with everything still open */
    uint64_t t0 = t_now_ms();
    CHECK_OK(urk_engine_stop(e, 100));
    printf("pull, stopped from another thread: %llu ms\n", (unsigned long long)(t_now_ms() - t0));
    CHECK(t_fd_count() == fds_created - 1);
    TE_WAIT(te_thread_count() == th0, 2000);
    check_clean(e);
    urk_engine_destroy(e);
    free(srv);
    CHECK(t_fd_count() == fds0);
    wait_clients(pid);
}

static void lifecycle(void)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 3;
    urk_engine_t *e = te_create(&o);
    urk_engine_destroy(e); /* never started */
    CHECK(t_fd_count() == fds0);
    urk_engine_destroy(NULL);

    e = te_create(&o);
    CHECK_OK(urk_engine_stop(e, 0)); /* never started */
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);

    e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    CHECK_RC(urk_engine_start(e, NULL), -URK_ESTATE);
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    CHECK_RC(urk_engine_start(e, &cb), -URK_ESTATE);
    urk_engine_destroy(e); /* stops first */
    CHECK(t_fd_count() == fds0);

    e = te_create(&o);
    CHECK_OK(urk_engine_start(e, &cb));
    CHECK_RC(urk_engine_start(e, &cb), -URK_ESTATE);
    urk_event_t ev[4];
    CHECK_RC(urk_reactor_poll(te_reactor(e, 0), ev, 4, 0), -URK_ESTATE); /* native */
    CHECK_OK(urk_engine_stop(e, 0));
    CHECK_RC(urk_engine_start(e, NULL), -URK_ESTATE);
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    CHECK_RC(urk_engine_start(NULL, NULL), -EINVAL);
    CHECK_RC(urk_engine_stop(NULL, 0), -EINVAL);
}

int main(void)
{
    if (te_valgrind())
        t_skip("native threads and a client process under valgrind");
    te_raise_nofile();
    nconn = te_valgrind() ? 20 : 500;
    lifecycle();
    native_case();
    pull_same_thread_case(100);
    pull_same_thread_case(0);
    pull_other_thread_case();
    printf("ok\n");
    return 0;
}

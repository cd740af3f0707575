/* Multishot accept re-armed after EMFILE. A forked child runs the engine
 * (native-mode echo) with RLIMIT_NOFILE lowered to leave room for about 16
 * connections; the parent opens 40. The first ones are served; accepting the
 * rest fails with EMFILE, which stops the multishot accept: it is re-armed
 * after a growing pause, so the process does not spin (CPU time over half a
 * second is measured, loosely). When the parent closes served clients,
 * descriptors free up and the waiting connections are accepted and echoed.
 * Engine stats show accept_errors and accept_rearms. Run for the acceptor
 * thread and for URK_ENGINE_REUSEPORT (each reactor accepts itself). */
#include "engine_util.h"

#include <sys/resource.h>

#define NCLIENT 40
#define ROOM 16

static int32_t on_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n, uint32_t buf,
                       void *u)
{
    (void)buf, (void)u;
    int rc = urk_send(r, c, d, n, 0, 0);
    CHECK(rc == 0 || rc == -URK_ECLOSING);
    return 0;
}

struct report {
    uint64_t cpu_us, wall_us;
    urk_engine_stats_t st;
    uint64_t accepted_by_reactors;
};

static uint64_t cpu_us(void)
{
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void read_full(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t x = read(fd, b, n);
        if (x < 0 && errno == EINTR)
            continue;
        CHECK(x > 0);
        b += x;
        n -= (size_t)x;
    }
}

static void report(int fd, urk_engine_t *e, uint64_t cpu, uint64_t wall)
{
    struct report rep = {cpu, wall, te_estats(e), 0};
    for (int i = 0; i < urk_engine_reactor_count(e); i++)
        rep.accepted_by_reactors += te_rstats(te_reactor(e, (uint32_t)i)).accepted;
    t_write_all(fd, &rep, sizeof rep);
}

static void child(int cmd_fd, int out_fd, uint32_t flags)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = flags;
    o.reactors = flags & URK_ENGINE_REUSEPORT ? 2 : 1;
    urk_engine_t *e = te_create(&o);
    /* Room for ROOM more descriptors: the limit bounds descriptor numbers,
     * so fill every free number below the highest in use first (an
     * inherited descriptor may sit high), then allow ROOM above it. */
    int top = 0;
    for (int fd = 0; fd < 65536; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            top = fd;
    for (;;) {
        int x = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(x >= 0);
        if (x > top) {
            close(x);
            break;
        }
    }
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = (rlim_t)top + 1 + ROOM;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    /* io_uring takes the limit when the accept is queued: at start */
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_data = on_data;
    CHECK_OK(urk_engine_start(e, &cb));
    uint16_t port = (uint16_t)urk_engine_port(e);
    t_write_all(out_fd, &port, sizeof port);
    for (;;) {
        char c;
        read_full(cmd_fd, &c, 1);
        if (c == 'c') { /* CPU used over 500 ms of wall time */
            uint64_t c0 = cpu_us(), w0 = te_now_ns();
            te_sleep_ms(500);
            report(out_fd, e, cpu_us() - c0, (te_now_ns() - w0) / 1000);
        } else if (c == 's') {
            report(out_fd, e, 0, 0);
        } else {
            CHECK_OK(urk_engine_stop(e, 0));
            urk_engine_destroy(e);
            _exit(0);
        }
    }
}

/* 1 if fd's echo of one byte comes back within ms. */
static int echoes(int fd, char b, int ms)
{
    t_write_all(fd, &b, 1);
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return 0;
    char got;
    CHECK(read(fd, &got, 1) == 1 && got == b);
    return 1;
}

static void run(uint32_t flags)
{
    int cmd[2], out[2];
    CHECK(pipe(cmd) == 0 && pipe(out) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(cmd[1]);
        close(out[0]);
        child(cmd[0], out[1], flags);
    }
    close(cmd[0]);
    close(out[1]);
    uint16_t port;
    read_full(out[0], &port, sizeof port);

    int fds[NCLIENT], served[NCLIENT];
    int nserved = 0;
    for (int i = 0; i < NCLIENT; i++)
        fds[i] = t_connect(0, port); /* the kernel completes the handshake */
    /* Every client sends a byte; those accepted echo it. Collect echoes
     * until none has come for 300 ms. */
    for (int i = 0; i < NCLIENT; i++) {
        char b = (char)('a' + i % 26);
        t_write_all(fds[i], &b, 1);
        served[i] = 0;
    }
    uint64_t quiet_since = t_now_ms(), dl = quiet_since + 5000;
    while (t_now_ms() - quiet_since < 300 && t_now_ms() < dl) {
        for (int i = 0; i < NCLIENT; i++) {
            struct pollfd p = {fds[i], POLLIN, 0};
            if (!served[i] && poll(&p, 1, 0) == 1) {
                char got;
                CHECK(read(fds[i], &got, 1) == 1 && got == (char)('a' + i % 26));
                served[i] = 1;
                nserved++;
                quiet_since = t_now_ms();
            }
        }
        te_sleep_ms(5);
    }
    printf("%s: %d of %d served with the descriptor limit\n",
           flags ? "reuseport" : "acceptor", nserved, NCLIENT);
    CHECK(nserved >= 4 && nserved <= ROOM);

    struct report rep;
    t_write_all(cmd[1], "c", 1);
    read_full(out[0], &rep, sizeof rep);
    printf("  while EMFILE persists: %llu us CPU in %llu us; accept_errors %llu "
           "accept_rearms %llu\n",
           (unsigned long long)rep.cpu_us, (unsigned long long)rep.wall_us,
           (unsigned long long)rep.st.accept_errors, (unsigned long long)rep.st.accept_rearms);
    CHECK(rep.st.accept_errors > 0 && rep.st.accept_rearms > 0);
    CHECK(rep.cpu_us * 4 < rep.wall_us); /* a spinning acceptor burns a core */

    /* Free descriptors: every served client leaves. */
    for (int i = 0; i < NCLIENT; i++)
        if (served[i]) {
            close(fds[i]);
            fds[i] = -1;
        }
    /* The waiting connections are accepted in turn (room for ROOM at a time:
     * serve them in waves, closing each after its echo). */
    int left = NCLIENT - nserved;
    dl = t_now_ms() + 20000;
    while (left) {
        CHECK(t_now_ms() < dl);
        for (int i = 0; i < NCLIENT; i++) {
            if (fds[i] < 0)
                continue;
            /* its first byte was sent long ago: the echo shows acceptance */
            struct pollfd p = {fds[i], POLLIN, 0};
            if (poll(&p, 1, 0) == 1) {
                char got;
                CHECK(read(fds[i], &got, 1) == 1 && got == (char)('a' + i % 26));
                CHECK(echoes(fds[i], 'z', 2000));
                close(fds[i]);
                fds[i] = -1;
                left--;
            }
        }
        te_sleep_ms(5);
    }
    t_write_all(cmd[1], "s", 1);
    read_full(out[0], &rep, sizeof rep);
    printf("  all %d served; engine accepted %llu, reactors %llu, rearms %llu\n", NCLIENT,
           (unsigned long long)rep.st.accepted, (unsigned long long)rep.accepted_by_reactors,
           (unsigned long long)rep.st.accept_rearms);
    CHECK(rep.st.accepted == NCLIENT && rep.accepted_by_reactors == NCLIENT);
    t_write_all(cmd[1], "q", 1);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(cmd[1]);
    close(out[0]);
}

int main(void)
{
    if (te_valgrind())
        t_skip("fork + descriptor limits under valgrind");
    run(0);
    run(URK_ENGINE_REUSEPORT);
    printf("ok\n");
    return 0;
}

/* URK_ENGINE_DIRECT_FD falls back to process descriptors, and keeps
 * working, when the kernel lacks what it needs. The capabilities are hidden
 * with the probe's test hook (URK_HIDE_CAPS, read at the first probe), each
 * setting in a child process of its own:
 *   direct_fd hidden:   both accept modes use process fds;
 *   msg_ring_fd hidden: the acceptor mode uses process fds (it cannot pass
 *                       a direct descriptor), REUSEPORT stays direct.
 * "Uses process fds" is seen in /proc/self/fd: one per open connection on
 * the server side, against none when direct. Echo works either way. */
#include "direct_util.h"

#include <sys/wait.h>

/* Server-side descriptors while n echo connections are open. */
static int server_fds(uint32_t flags, uint32_t n)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.flags = flags | URK_ENGINE_DIRECT_FD;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    te_server_start(srv, e);
    int base = t_fd_count();
    te_client_t *cs = calloc(n, sizeof *cs);
    CHECK(cs);
    for (uint32_t i = 0; i < n; i++)
        te_client_init(&cs[i], 0, port, 5000 + i, i, 0);
    TE_WAIT(atomic_load(&srv->opens) == n, 20000);
    int server_side = t_fd_count() - base - (int)n;
    te_clients_run(cs, n, 30000);
    for (uint32_t i = 0; i < n; i++)
        te_client_free(&cs[i]);
    free(cs);
    TE_WAIT(atomic_load(&srv->closes) == n, 20000);
    CHECK(atomic_load(&srv->closes_peer) == n);
    te_server_join(srv);
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0);
    }
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    return server_side;
}

static int child(const char *hide)
{
    CHECK(setenv("URK_HIDE_CAPS", hide, 1) == 0);
    uint64_t caps = 0;
    CHECK_OK(urk_probe(&caps));
    uint32_t n = 40;
    int acc = server_fds(0, n), rp = server_fds(URK_ENGINE_REUSEPORT, n);
    printf("hidden %s: server-side fds for %u connections: acceptor %d, reuseport %d\n", hide,
           n, acc, rp);
    if (strcmp(hide, "direct_fd") == 0) {
        CHECK(!(caps & URK_CAP_DIRECT_FD));
        CHECK(acc == (int)n && rp == (int)n);
    } else {
        CHECK(!(caps & URK_CAP_MSG_RING_FD) && (caps & URK_CAP_DIRECT_FD));
        CHECK(acc == (int)n && rp == 0);
    }
    fflush(stdout); /* the child leaves with _exit */
    return 0;
}

int main(void)
{
    if (te_valgrind())
        t_skip("needs polling threads");
    /* Before any probe in this process: the children probe afresh. */
    const char *hides[] = {"direct_fd", "msg_ring_fd"};
    {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) { /* the real caps, for the skip decision */
            uint64_t caps = 0;
            int rc = urk_probe(&caps);
            _exit(rc == 0 && (caps & URK_CAP_DIRECT_FD) && (caps & URK_CAP_MSG_RING_FD) ? 0 : 77);
        }
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
        if (WEXITSTATUS(st) == 77)
            t_skip("kernel lacks direct descriptors: the fallback is all there is");
    }
    for (int i = 0; i < 2; i++) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child(hides[i]));
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    printf("ok\n");
    return 0;
}

/* acceptor.c - listening sockets, the helpers every accepting loop shares
 * (TCP_NODELAY, back-off when descriptors run out) and the acceptor thread:
 * one multishot accept whose connections go to the reactors (handoff.c). */
#include "engine.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A socket file left by a process that is gone blocks bind with
 * EADDRINUSE. It is removed only if it is a socket and nobody accepts on
 * it (a connect is refused): never a regular file, never a live server's. */
static void unlink_stale_socket(const struct sockaddr_un *su, socklen_t len)
{
    struct stat st;
    if (su->sun_path[0] == '\0' || lstat(su->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return;
    if (connect(probe, (const struct sockaddr *)su, len) != 0 && errno == ECONNREFUSED)
        unlink(su->sun_path);
    close(probe);
}

int urk__listen_socket(const urk_addr_t *addr, int backlog, int reuseport)
{
    const struct sockaddr *sa = (const struct sockaddr *)addr->bytes;
    if (sa->sa_family == AF_UNIX)
        unlink_stale_socket((const struct sockaddr_un *)addr->bytes, addr->len);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (sa->sa_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        goto fail;
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, sa, addr->len) != 0 || listen(fd, backlog) != 0)
        goto fail;
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

int urk__bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    if (ss.ss_family == AF_UNIX)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void urk__listen_close(urk_engine_t *e)
{
    if (e->listen_fd >= 0) {
        close(e->listen_fd);
        e->listen_fd = -1;
    }
    struct stat st;
    if (e->unix_path[0] && lstat(e->unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        (uint64_t)st.st_dev == e->unix_dev && (uint64_t)st.st_ino == e->unix_ino)
        unlink(e->unix_path);
    e->unix_path[0] = '\0';
}

int urk__accept_backoff(int res, int *backoff_ms)
{
    if (res != -EMFILE && res != -ENFILE && res != -ENOMEM && res != -ENOBUFS) {
        *backoff_ms = 0;
        return 0;
    }
    /* No descriptors or memory now: retry after a growing pause instead of
     * spinning on an accept that fails at once (the design we replace let
     * its accept die here). */
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : 1;
    if (*backoff_ms > 100)
        *backoff_ms = 100;
    return *backoff_ms;
}

void *urk__acceptor_main(void *arg)
{
    urk_engine_t *e = arg;
    urk_ring_t *ring = e->acceptor_ring;
    if (e->opts.acceptor_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(e->opts.acceptor_cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    if (urk_ring_enable(ring) != 0)
        return NULL;
    uint64_t wake_buf = 0;
    int accept_armed = 0, wake_armed = 0, backoff_armed = 0, backoff_ms = 0;
    if (urk__prep_read(ring, e->acceptor_wake_fd, &wake_buf, sizeof wake_buf,
                       URK_UD(UD_WAKE, 0, 0)) == 0)
        wake_armed = 1;
    if (urk_prep_accept_multishot(ring, e->listen_fd, URK_UD(UD_ACCEPT, 0, 0), 0) == 0)
        accept_armed = 1;

    uint8_t *woken = e->woken; /* allocated by urk_engine_create */
    urk_cqe_t cq[128];
    int stopping = 0;
    while (!stopping || accept_armed || wake_armed || backoff_armed) {
        int n = urk_ring_complete(ring, cq, 128, 1, -1);
        if (n < 0)
            break;
        memset(woken, 0, e->nreactors);
        for (int i = 0; i < n; i++) {
            uint32_t kind = URK_UD_KIND(cq[i].user_data);
            if (kind == UD_ACCEPT) {
                if (cq[i].res >= 0) {
                    if (stopping)
                        close(cq[i].res);
                    else
                        urk__hand_off(e, cq[i].res, woken);
                } else if (cq[i].res != -ECANCELED) {
                    URK_STAT_ADD_SHARED(e->st.accept_errors, 1);
                }
                if (!(cq[i].flags & URK_CQE_F_MORE)) {
                    /* The multishot accept stopped: re-arm it, after a pause
                     * if descriptors ran out, so it neither dies (as in the
                     * design we replace) nor spins. */
                    accept_armed = 0;
                    if (stopping)
                        continue;
                    URK_STAT_ADD_SHARED(e->st.accept_rearms, 1);
                    int pause_ms = urk__accept_backoff(cq[i].res, &backoff_ms);
                    if (pause_ms) {
                        if (urk_prep_timeout(ring, (uint64_t)pause_ms * 1000000ull, 0,
                                             URK_UD(UD_ACCEPT_BACKOFF, 0, 0), 0) == 0)
                            backoff_armed = 1;
                    } else if (urk_prep_accept_multishot(ring, e->listen_fd,
                                                         URK_UD(UD_ACCEPT, 0, 0), 0) == 0) {
                        accept_armed = 1;
                    }
                } else {
                    backoff_ms = 0;
                }
            } else if (kind == UD_ACCEPT_BACKOFF) {
                backoff_armed = 0;
                if (!stopping && urk_prep_accept_multishot(ring, e->listen_fd,
                                                           URK_UD(UD_ACCEPT, 0, 0), 0) == 0)
                    accept_armed = 1;
            } else if (kind == UD_MSG_SENT) {
                if (cq[i].res < 0) {
                    /* The reactor's ring refused (not running, CQ full):
                     * fall back to its eventfd. */
                    urk__wake_fallback(e->reactors[URK_UD_GEN(cq[i].user_data)]);
                }
            } else if (kind == UD_WAKE) {
                wake_armed = 0;
                if (atomic_load(&e->stop_requested) && !stopping) {
                    stopping = 1;
                    if (accept_armed)
                        urk_prep_cancel(ring, URK_UD(UD_ACCEPT, 0, 0), URK_UD(UD_CANCEL, 0, 0), 0);
                    if (backoff_armed)
                        urk_prep_cancel(ring, URK_UD(UD_ACCEPT_BACKOFF, 0, 0),
                                        URK_UD(UD_CANCEL, 0, 0), 0);
                } else if (!stopping) {
                    if (urk__prep_read(ring, e->acceptor_wake_fd, &wake_buf, sizeof wake_buf,
                                       URK_UD(UD_WAKE, 0, 0)) == 0)
                        wake_armed = 1;
                }
            }
        }
        for (uint32_t r = 0; r < e->nreactors; r++)
            if (woken[r])
                urk__wake_reactor(e, e->reactors[r]);
    }
    return NULL;
}

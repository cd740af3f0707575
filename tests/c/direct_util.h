/* direct_util.h - helpers for the engine_direct_fd_* tests: the two accept
 * modes, a skip when the kernel cannot do direct descriptors, and waiting
 * until the server has opened a number of connections. */
#ifndef URK_DIRECT_UTIL_H
#define URK_DIRECT_UTIL_H

#include "engine_util.h"

/* The accept modes direct descriptors are tested in: the acceptor thread
 * passing them with msg_ring, and a listener per reactor. */
static const uint32_t td_modes[] = {0, URK_ENGINE_REUSEPORT};
static const char *const td_mode_names[] = {"acceptor", "reuseport"};

/* Skips (77) unless the kernel has what direct descriptors need. */
static inline void td_require(uint64_t need)
{
    uint64_t caps = 0;
    int rc = urk_probe(&caps);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_OK(rc);
    if ((caps & need) != need)
        t_skip("kernel lacks direct descriptors (URK_CAP_DIRECT_FD / MSG_RING_FD)");
}

/* Connects n nonblocking clients and waits until the server opened them
 * all; returns the process's descriptor count at that moment. */
static inline int td_open_clients(te_server_t *srv, uint16_t port, int *fds, uint32_t n,
                                  uint64_t opens_before)
{
    for (uint32_t i = 0; i < n; i++)
        fds[i] = t_connect(0, port);
    TE_WAIT(atomic_load(&srv->opens) == opens_before + n, 20000);
    return t_fd_count();
}

#endif

/* probe.c - what the running kernel supports, found by asking it: opcode
 * probes, feature bits, and setups or registrations that fail when a feature
 * is missing. Cached after the first call. */
#include "uring.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static uint64_t probe_caps;
static int probe_error;

static int try_setup(unsigned flags)
{
    struct io_uring ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = flags;
    int rc = io_uring_queue_init_params(4, &ring, &p);
    if (rc == 0)
        io_uring_queue_exit(&ring);
    return rc;
}

/* Registers a one-entry buffer ring with reg_flags; 0 if the kernel took it. */
static int try_buf_ring(struct io_uring *ring, uint16_t flags)
{
    size_t bytes = 4096;
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -ENOMEM;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = 1;
    reg.bgid = 7;
    reg.pad = flags;
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc == 0)
        io_uring_unregister_buf_ring(ring, 7);
    munmap(mem, bytes);
    return rc;
}

static void run_probe(void)
{
    struct io_uring ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int rc = io_uring_queue_init_params(8, &ring, &p);
    if (rc) {
        probe_error = rc;
        return;
    }
    uint64_t caps = 0;
    unsigned f = p.features;
    if (f & IORING_FEAT_EXT_ARG)
        caps |= URK_CAP_EXT_ARG;
    if (f & IORING_FEAT_CQE_SKIP)
        caps |= URK_CAP_CQE_SKIP;
    if (f & IORING_FEAT_NODROP)
        caps |= URK_CAP_NODROP;
    if (f & IORING_FEAT_RECVSEND_BUNDLE)
        caps |= URK_CAP_RECV_BUNDLE;

    struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
    if (pr) {
        /* Opcodes that arrived in the same release as the feature mark it:
         * SOCKET with multishot accept (5.19), SEND_ZC with multishot recv
         * and msg_ring fd passing (6.0). */
        int has_socket = io_uring_opcode_supported(pr, IORING_OP_SOCKET);
        int has_send_zc = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
        if (has_socket)
            caps |= URK_CAP_MULTISHOT_ACCEPT;
        if (has_send_zc)
            caps |= URK_CAP_MULTISHOT_RECV | URK_CAP_SEND_ZC;
        if (io_uring_opcode_supported(pr, IORING_OP_MSG_RING)) {
            caps |= URK_CAP_MSG_RING;
            if (has_send_zc)
                caps |= URK_CAP_MSG_RING_FD;
        }
        io_uring_free_probe(pr);
    }
    if (try_buf_ring(&ring, 0) == 0)
        caps |= URK_CAP_BUF_RING;
    if ((caps & URK_CAP_BUF_RING) && try_buf_ring(&ring, IOU_PBUF_RING_INC) == 0)
        caps |= URK_CAP_BUF_RING_INC;
    if (io_uring_register_ring_fd(&ring) == 1) {
        caps |= URK_CAP_REGISTERED_RING_FD;
        io_uring_unregister_ring_fd(&ring);
    }
    io_uring_queue_exit(&ring);

    if (try_setup(IORING_SETUP_SQPOLL) == 0)
        caps |= URK_CAP_SQPOLL;
    if (try_setup(IORING_SETUP_SINGLE_ISSUER) == 0)
        caps |= URK_CAP_SINGLE_ISSUER;
    if (try_setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN) == 0)
        caps |= URK_CAP_DEFER_TASKRUN;
    if (try_setup(IORING_SETUP_COOP_TASKRUN) == 0)
        caps |= URK_CAP_COOP_TASKRUN;
    probe_caps = caps;
}

int urk_probe(uint64_t *caps)
{
    if (!caps)
        return -EINVAL;
    pthread_once(&probe_once, run_probe);
    if (probe_error)
        return probe_error;
    *caps = probe_caps;
    return 0;
}

static const char *const cap_names[] = {
    "multishot_accept", "multishot_recv", "buf_ring",      "recv_bundle",
    "buf_ring_inc",     "msg_ring",       "msg_ring_fd",   "send_zc",
    "sqpoll",           "single_issuer",  "defer_taskrun", "coop_taskrun",
    "registered_ring_fd", "ext_arg",      "cqe_skip",      "nodrop",
};

const char *urk_cap_name(uint64_t cap)
{
    if (!cap || (cap & (cap - 1)))
        return NULL;
    unsigned bit = (unsigned)__builtin_ctzll(cap);
    if (bit >= sizeof cap_names / sizeof cap_names[0])
        return NULL;
    return cap_names[bit];
}

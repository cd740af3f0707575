/* probe.c - what the running kernel supports, found by asking it: opcode
 * probes, feature bits, and setups or registrations that fail when a feature
 * is missing. Cached after the first call. */
#include "uring.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Submits what is queued on ring and waits for one CQE: its res, and its
 * user_data in *ud. */
static int wait_one(struct io_uring *ring, uint64_t *ud)
{
    struct io_uring_cqe *cqe;
    io_uring_submit(ring);
    int rc = io_uring_wait_cqe(ring, &cqe);
    if (rc)
        return rc;
    rc = cqe->res;
    if (ud)
        *ud = cqe->user_data;
    io_uring_cqe_seen(ring, cqe);
    return rc;
}

/* Direct descriptors as the engine uses them: a sparse file table, a
 * socket in a slot, and getsockopt(SO_PEERNAME) on the slot through
 * IORING_OP_URING_CMD (6.7), the one way to learn a direct socket's peer.
 * An unnamed AF_UNIX peer's name is its family alone (2 bytes). */
static int probe_direct_fd(int sv0)
{
    struct io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) != 0)
        return 0;
    int ok = 0;
    if (io_uring_register_files_sparse(&ring, 2) == 0 &&
        io_uring_register_files_update(&ring, 0, &sv0, 1) == 1) {
        uint8_t name[2];
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_rw(IORING_OP_URING_CMD, sqe, 0, NULL, 0, 0);
        sqe->cmd_op = SOCKET_URING_OP_GETSOCKOPT;
        sqe->addr = (uint64_t)SOL_SOCKET | ((uint64_t)SO_PEERNAME << 32);
        sqe->file_index = sizeof name;
        sqe->addr3 = (uint64_t)(uintptr_t)name;
        sqe->flags |= IOSQE_FIXED_FILE;
        ok = wait_one(&ring, NULL) == (int)sizeof name;
    }
    io_uring_queue_exit(&ring);
    return ok;
}

/* IORING_MSG_SEND_FD with IORING_FILE_INDEX_ALLOC: the target's CQE must
 * name the slot the file went to. The target's slot 0 is taken first, so
 * the right answer is 1; kernels before the fix (6.3, stable 6.0+) post 0. */
static int probe_msg_ring_fd(int sv0, int sv1)
{
    struct io_uring a, b;
    if (io_uring_queue_init(4, &a, 0) != 0)
        return 0;
    if (io_uring_queue_init(4, &b, 0) != 0) {
        io_uring_queue_exit(&a);
        return 0;
    }
    int ok = 0;
    if (io_uring_register_files_sparse(&a, 2) == 0 && io_uring_register_files_sparse(&b, 2) == 0 &&
        io_uring_register_files_update(&a, 0, &sv0, 1) == 1 &&
        io_uring_register_files_update(&b, 0, &sv1, 1) == 1) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
        io_uring_prep_rw(IORING_OP_MSG_RING, sqe, b.ring_fd,
                         (void *)(uintptr_t)IORING_MSG_SEND_FD, 0, 0x77);
        sqe->addr3 = 0;
        sqe->file_index = IORING_FILE_INDEX_ALLOC;
        uint64_t ud = 0;
        if (wait_one(&a, NULL) == 1 && wait_one(&b, &ud) == 1 && ud == 0x77)
            ok = 1;
    }
    io_uring_queue_exit(&b);
    io_uring_queue_exit(&a);
    return ok;
}

/* Test hook: URK_HIDE_CAPS="name,name" (urk_cap_name spellings) clears
 * those bits from the probe's answer, so the fallback of a feature the
 * running kernel has can be tested. Read once, at the first probe. */
static uint64_t hidden_caps(void)
{
    const char *env = getenv("URK_HIDE_CAPS");
    if (!env || !*env)
        return 0;
    uint64_t hide = 0;
    for (uint64_t cap = 1; cap && cap <= URK_CAP_LAST; cap <<= 1) {
        const char *name = urk_cap_name(cap);
        size_t n = strlen(name);
        for (const char *p = env; (p = strstr(p, name)) != NULL; p += n) {
            int starts = p == env || p[-1] == ',';
            int ends = p[n] == '\0' || p[n] == ',';
            if (starts && ends)
                hide |= cap;
        }
    }
    return hide;
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
        if (io_uring_opcode_supported(pr, IORING_OP_MSG_RING))
            caps |= URK_CAP_MSG_RING;
        io_uring_free_probe(pr);
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        if ((caps & URK_CAP_MSG_RING) && probe_msg_ring_fd(sv[0], sv[1]))
            caps |= URK_CAP_MSG_RING_FD;
        if (probe_direct_fd(sv[0]))
            caps |= URK_CAP_DIRECT_FD;
        close(sv[0]);
        close(sv[1]);
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
    probe_caps = caps & ~hidden_caps();
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
    "direct_fd",
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

/* ring.c - ring setup with feature fallback, submission and completion
 * batching. A ring is driven by one thread (liburing#850). This file is the
 * only one that enters the kernel for a ring; buffer groups are reached
 * through the hooks bufring.c installs (uring.h). */
#include "uring.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int urk_ring_opts_init(urk_ring_opts_t *opts)
{
    if (!opts)
        return -EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->sq_entries = 256;
    opts->sqpoll_idle_ms = 1000;
    opts->sqpoll_cpu = -1;
    return 0;
}

static const char never_register;

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

#define URK_RING_KNOWN_FLAGS                                                    \
    (URK_RING_SQPOLL | URK_RING_NO_DEFER_TASKRUN | URK_RING_NO_REGISTER_FD |    \
     URK_RING_FORCE_FALLBACK | URK_RING_DISABLED)

static int register_ring_fd(urk_ring_t *ring)
{
    int rc = io_uring_register_ring_fd(&ring->io);
    if (rc == 1) {
        ring->active |= URK_RING_ACTIVE_REGISTERED_FD;
        ring->reg_fd_owner = urk__thread_self();
    }
    /* Not fatal: the plain fd works, only slower. */
    return 0;
}

int urk_ring_create(const urk_ring_opts_t *opts_in, urk_ring_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    urk_ring_opts_t opts;
    urk_ring_opts_init(&opts);
    if (opts_in) {
        int rc = urk__copy_opts(&opts, sizeof opts, opts_in);
        if (rc)
            return rc;
    }
    if (opts.flags & ~URK_RING_KNOWN_FLAGS)
        return -EINVAL;
    for (size_t i = 0; i < sizeof opts.reserved / sizeof opts.reserved[0]; i++)
        if (opts.reserved[i])
            return -EINVAL;
    if (!is_pow2(opts.sq_entries) || opts.sq_entries > 32768)
        return -EINVAL;
    uint32_t cq = opts.cq_entries;
    if (cq == 0) {
        cq = opts.sq_entries * 16;
        if (cq < 4096)
            cq = 4096; /* multishot decouples CQEs from SQEs */
        if (cq > 65536)
            cq = 65536;
    }
    if (!is_pow2(cq) || cq < opts.sq_entries || cq > 65536)
        return -EINVAL;

    urk_ring_t *ring = calloc(1, sizeof *ring);
    if (!ring)
        return -ENOMEM;

    struct io_uring_params p;
    unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    if (opts.flags & URK_RING_SQPOLL) {
        base |= IORING_SETUP_SQPOLL;
        if (opts.sqpoll_cpu >= 0)
            base |= IORING_SETUP_SQ_AFF;
    }
    if (opts.flags & URK_RING_DISABLED)
        base |= IORING_SETUP_R_DISABLED;

    /* Preferred: SINGLE_ISSUER + DEFER_TASKRUN (6.1). TASKRUN_FLAG lets a
     * non-blocking harvest skip the syscall when no task work is pending. */
    unsigned tries[3];
    int ntries = 0;
    int want_defer = !(opts.flags & (URK_RING_NO_DEFER_TASKRUN | URK_RING_SQPOLL));
    if (want_defer && !(opts.flags & URK_RING_FORCE_FALLBACK))
        tries[ntries++] = base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                          IORING_SETUP_TASKRUN_FLAG;
    if (!(opts.flags & URK_RING_SQPOLL))
        tries[ntries++] = base | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    tries[ntries++] = base;

    int rc = -EINVAL;
    for (int i = 0; i < ntries; i++) {
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        p.cq_entries = cq;
        p.sq_thread_idle = opts.sqpoll_idle_ms;
        if (opts.sqpoll_cpu >= 0)
            p.sq_thread_cpu = (uint32_t)opts.sqpoll_cpu;
        rc = io_uring_queue_init_params(opts.sq_entries, &ring->io, &p);
        if (rc == 0) {
            ring->setup_flags = tries[i];
            break;
        }
        /* Only "this flag is unknown/refused" falls through to the next. */
        if (rc != -EINVAL && rc != -EPERM && rc != -EOPNOTSUPP)
            break;
    }
    if (rc) {
        free(ring);
        return rc;
    }
    if (ring->setup_flags & IORING_SETUP_SQPOLL)
        ring->active |= URK_RING_ACTIVE_SQPOLL;
    if (ring->setup_flags & IORING_SETUP_SINGLE_ISSUER)
        ring->active |= URK_RING_ACTIVE_SINGLE_ISSUER;
    if (ring->setup_flags & IORING_SETUP_DEFER_TASKRUN)
        ring->active |= URK_RING_ACTIVE_DEFER_TASKRUN;
    if (ring->setup_flags & IORING_SETUP_COOP_TASKRUN)
        ring->active |= URK_RING_ACTIVE_COOP_TASKRUN;
    if (want_defer && !(ring->setup_flags & IORING_SETUP_DEFER_TASKRUN))
        ring->active |= URK_RING_ACTIVE_FALLBACK;
    if (!(opts.flags & URK_RING_DISABLED)) {
        ring->active |= URK_RING_ACTIVE_ENABLED;
        atomic_store_explicit(&ring->issuer, urk__thread_self(), memory_order_relaxed);
    }

    ring->sq_entries = p.sq_entries;
    ring->cq_entries = p.cq_entries;
    ring->sqe_args = calloc(p.sq_entries, sizeof *ring->sqe_args);
    if (!ring->sqe_args) {
        io_uring_queue_exit(&ring->io);
        free(ring);
        return -ENOMEM;
    }
    /* A registered ring fd belongs to the registering thread: for a disabled
     * ring that is whoever enables it. */
    if (opts.flags & URK_RING_NO_REGISTER_FD)
        ring->reg_fd_owner = &never_register;
    else if (!(opts.flags & URK_RING_DISABLED))
        register_ring_fd(ring);
    *out = ring;
    return 0;
}

int urk_ring_enable(urk_ring_t *ring)
{
    if (!ring)
        return -EINVAL;
    if (ring->active & URK_RING_ACTIVE_ENABLED)
        return -EALREADY;
    /* liburing 2.3 declares io_uring_enable_rings but does not export it. */
    if (syscall(__NR_io_uring_register, ring->io.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                NULL, 0) < 0)
        return -errno;
    ring->active |= URK_RING_ACTIVE_ENABLED;
    atomic_store_explicit(&ring->issuer, urk__thread_self(), memory_order_relaxed);
    if (ring->reg_fd_owner == NULL)
        register_ring_fd(ring);
    return 0;
}

void urk_ring_destroy(urk_ring_t *ring)
{
    if (!ring)
        return;
    if (ring->buf_hooks)
        ring->buf_hooks->release_all(ring);
    /* See compat.h: only the registering thread may unregister. */
    if ((ring->active & URK_RING_ACTIVE_REGISTERED_FD) &&
        ring->reg_fd_owner != urk__thread_self())
        ring->io.int_flags &= (uint8_t)~URK_LIBURING_INT_FLAG_REG_RING;
    io_uring_queue_exit(&ring->io);
    free(ring->sqe_args);
    free(ring);
}

int urk_ring_fd(const urk_ring_t *ring)
{
    if (!ring)
        return -EINVAL;
    return ring->io.ring_fd;
}

int urk_ring_info(const urk_ring_t *ring, urk_ring_info_t *out)
{
    if (!ring || !out)
        return -EINVAL;
    urk_ring_info_t info = {
        .struct_size = sizeof info,
        .active = ring->active,
        .sq_entries = ring->sq_entries,
        .cq_entries = ring->cq_entries,
        .features = ring->io.features,
        .setup_flags = ring->setup_flags,
    };
    *out = info;
    return 0;
}

int urk_ring_stats(const urk_ring_t *ring, urk_ring_stats_t *out)
{
    if (!ring || !out)
        return -EINVAL;
    *out = ring->stats;
    return 0;
}

int urk_ring_register_eventfd(urk_ring_t *ring, int efd)
{
    if (!ring)
        return -EINVAL;
    if (efd < 0)
        return -EBADF; /* as for every other fd argument */
    int rc = urk__ring_issuer_check(ring);
    if (rc)
        return rc;
    return io_uring_register_eventfd(&ring->io, efd);
}

int urk_ring_unregister_eventfd(urk_ring_t *ring)
{
    if (!ring)
        return -EINVAL;
    int rc = urk__ring_issuer_check(ring);
    if (rc)
        return rc;
    return io_uring_unregister_eventfd(&ring->io);
}

/* ---- submission ---- */

/* Counts the SQEs the next liburing call will publish to the kernel (every
 * call that enters first moves sqe_head up to sqe_tail). Counting here, not
 * from the enter's return value, keeps the figure exact with SQPOLL, where
 * liburing reports all unconsumed SQEs again on every submit. */
static void count_published(urk_ring_t *ring)
{
    ring->stats.submitted += ring->io.sq.sqe_tail - ring->io.sq.sqe_head;
}

struct io_uring_sqe *urk__get_sqe(urk_ring_t *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->io);
    if (URK_LIKELY(sqe != NULL))
        return sqe;
    /* SQ full: hand what is queued to the kernel and try once more. The
     * design we replace crashed when no SQE was free. */
    ring->stats.sq_full_waits++;
    count_published(ring);
    int rc = io_uring_submit(&ring->io);
    struct io_uring_sqe *sqe_after = io_uring_get_sqe(&ring->io);
    /* SQPOLL frees slots from its own thread. SQ_WAIT returns once the kernel
     * has taken entries, which can be before it publishes the new SQ head
     * (it does so after the whole batch), so wait and look again, boundedly. */
    for (int tries = 0; !sqe_after && rc >= 0 && (ring->active & URK_RING_ACTIVE_SQPOLL) &&
                        tries < 100000;
         tries++) {
        rc = io_uring_sqring_wait(&ring->io);
        sqe_after = io_uring_get_sqe(&ring->io);
        if (!sqe_after)
            sched_yield();
    }
    return sqe_after;
}

int urk__op_flags(struct io_uring_sqe *sqe, uint32_t flags)
{
    unsigned f = 0;
    if (flags & URK_OP_LINK)
        f |= IOSQE_IO_LINK;
    if (flags & URK_OP_SKIP_SUCCESS)
        f |= IOSQE_CQE_SKIP_SUCCESS;
    if (flags & URK_OP_ASYNC)
        f |= IOSQE_ASYNC;
    io_uring_sqe_set_flags(sqe, f);
    return 0;
}

int urk_ring_submit(urk_ring_t *ring)
{
    if (!ring)
        return -EINVAL;
    int rc = urk__ring_issuer_check(ring);
    if (rc)
        return rc;
    /* Same answer as the prep calls (the kernel would say -EBADFD). */
    if (!(ring->active & URK_RING_ACTIVE_ENABLED))
        return -URK_ESTATE;
    count_published(ring);
    return io_uring_submit(&ring->io);
}

/* ---- completion ---- */

int urk__ring_enter_getevents(urk_ring_t *ring)
{
    count_published(ring);
    int rc = io_uring_submit_and_get_events(&ring->io);
    return rc < 0 ? rc : 0;
}

static int needs_enter(const urk_ring_t *ring)
{
    unsigned f = IO_URING_READ_ONCE(*ring->io.sq.kflags);
    return (f & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0;
}

int urk_ring_complete(urk_ring_t *ring, urk_cqe_t *out, uint32_t max,
                      uint32_t min_complete, int64_t timeout_ns)
{
    if (!ring || (!out && max))
        return -EINVAL;
    if (min_complete > max)
        return -EINVAL;
    int rc = urk__ring_issuer_check(ring);
    if (rc)
        return rc;
    if (!(ring->active & URK_RING_ACTIVE_ENABLED))
        return -URK_ESTATE;
    if (IO_URING_READ_ONCE(*ring->io.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
        ring->stats.cq_overflows++;

    unsigned pending = io_uring_sq_ready(&ring->io);
    if (min_complete == 0 || io_uring_cq_ready(&ring->io) >= min_complete) {
        if (pending || needs_enter(ring))
            rc = urk__ring_enter_getevents(ring);
    } else {
        struct io_uring_cqe *cqe = NULL;
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        count_published(ring);
        rc = io_uring_submit_and_wait_timeout(&ring->io, &cqe, min_complete, tsp, NULL);
        if (rc == -ETIME || rc == -EINTR || rc > 0)
            rc = 0;
    }
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
        return rc;

    return (int)urk__ring_take(ring, out, max);
}

uint32_t urk__ring_take(urk_ring_t *ring, urk_cqe_t *out, uint32_t max)
{
    struct io_uring_cqe *cqes[64];
    uint32_t got = 0;
    while (got < max) {
        uint32_t want = max - got;
        if (want > 64)
            want = 64;
        unsigned n = io_uring_peek_batch_cqe(&ring->io, cqes, want);
        if (n == 0)
            break;
        for (unsigned i = 0; i < n; i++)
            urk__cqe_convert(ring, cqes[i], &out[got + i]);
        io_uring_cq_advance(&ring->io, n);
        got += n;
        ring->stats.completed += n;
    }
    return got;
}

/* ---- the engine's path to the kernel ---- */

int urk__ring_flush(urk_ring_t *ring)
{
    count_published(ring);
    return io_uring_submit(&ring->io);
}

int urk__ring_wait(urk_ring_t *ring, const struct __kernel_timespec *ts)
{
    struct io_uring_cqe *cqe;
    count_published(ring);
    int rc = io_uring_submit_and_wait_timeout(&ring->io, &cqe, 1,
                                              (struct __kernel_timespec *)ts, NULL);
    return rc > 0 ? 0 : rc;
}

void urk__ring_prepare_harvest(urk_ring_t *ring)
{
    unsigned kf = IO_URING_READ_ONCE(*ring->io.sq.kflags);
    if (kf & IORING_SQ_CQ_OVERFLOW)
        ring->stats.cq_overflows++;
    if (io_uring_sq_ready(&ring->io) || (kf & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
        urk__ring_enter_getevents(ring);
}

uint32_t urk__ring_sq_ready(const urk_ring_t *ring) { return io_uring_sq_ready(&ring->io); }

uint32_t urk__ring_cq_ready(const urk_ring_t *ring) { return io_uring_cq_ready(&ring->io); }

int urk__ring_held_back(const urk_ring_t *ring) { return needs_enter(ring); }

/* ---- completion conversion ---- */

void urk__cqe_convert(urk_ring_t *ring, const struct io_uring_cqe *cqe, urk_cqe_t *out)
{
    out->user_data = cqe->user_data;
    out->res = cqe->res;
    out->flags = cqe->flags & (URK_CQE_F_BUFFER | URK_CQE_F_MORE |
                               URK_CQE_F_SOCK_NONEMPTY | URK_CQE_F_NOTIF |
                               URK_CQE_F_BUF_MORE);
    out->buf = NULL;
    out->buf_len = 0;
    out->buf_id = 0;
    out->buf_group = 0;
    if (cqe->res == -ENOBUFS)
        ring->stats.enobufs++;
    if (ring->buf_hooks)
        ring->buf_hooks->on_cqe(ring, cqe, out);
    else
        out->flags &= ~(uint32_t)URK_CQE_F_BUFFER;
}

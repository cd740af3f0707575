/* ops.c - one urk_prep_* per request type. liburing's prep helpers are
 * static inline: they are called here, and nothing inline crosses the ABI. */
#include "uring.h"

#include <netinet/in.h>

#define OP_COMMON_FLAGS (URK_OP_LINK | URK_OP_SKIP_SUCCESS | URK_OP_ASYNC)

/* Check order in every urk_prep_*: a NULL ring first (-EINVAL, whatever
 * else is wrong), then the arguments, then the flags, the calling thread
 * (-URK_ETHREAD unless it is the ring's issuer) and the ring state.
 * urk_prep_recv_multishot checks the thread before it looks up the group. 
 * Validates the flags, then takes an SQE. The SQE is taken last so a refused
 * call never leaves a half-filled SQE behind. */
static int take_sqe(urk_ring_t *ring, uint32_t flags, uint32_t op_flags,
                    struct io_uring_sqe **out)
{
    if (!ring)
        return -EINVAL;
    if (flags & ~(OP_COMMON_FLAGS | op_flags))
        return -EINVAL;
    int rc = urk__ring_issuer_check(ring);
    if (rc)
        return rc;
    if (!(ring->active & URK_RING_ACTIVE_ENABLED))
        return -URK_ESTATE;
    struct io_uring_sqe *sqe = urk__get_sqe(ring);
    if (!sqe)
        return -EBUSY;
    *out = sqe;
    return 0;
}

static void finish(struct io_uring_sqe *sqe, uint64_t user_data, uint32_t flags)
{
    urk__op_flags(sqe, flags);
    io_uring_sqe_set_data64(sqe, user_data);
}

static urk_sqe_arg_t *sqe_arg(urk_ring_t *ring, struct io_uring_sqe *sqe)
{
    return &ring->sqe_args[sqe - ring->io.sq.sqes];
}

int urk_prep_nop(urk_ring_t *ring, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_nop(sqe);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_accept_multishot(urk_ring_t *ring, int listen_fd, uint64_t user_data,
                              uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (listen_fd < 0)
        return -EBADF;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    finish(sqe, user_data, flags);
    return 0;
}

static int prep_recv_multishot(urk_ring_t *ring, int fd, uint16_t group_id,
                               uint64_t user_data, uint32_t flags, int bundle)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    /* Before the group lookup: another thread must not read the group
     * tables the issuer is changing. */
    int trc = urk__ring_issuer_check(ring);
    if (trc)
        return trc;
    urk_bufring_t *br = urk__bufring_find(ring, group_id);
    if (!br)
        return -ENOENT;
    /* A bundle completion covers several buffers taken in ring order, but a
     * urk_cqe_t names one buffer: converting it would point buf_len bytes
     * past the first buffer's end and lose the others to the kernel. Until
     * the completion format can describe it, bundles are refused on every
     * kernel (they are off by default anyway: bundles have had kernel bugs).
     * The engine arms them through urk__prep_recv_multishot_bundle. */
    if (flags & URK_RECV_BUNDLE)
        return -URK_ENOTSUP;
    /* Bundles are not combined with incremental consumption: a bundle's
     * completion names its first buffer only, which in INC mode may be a
     * partly used one (data at an offset) while IORING_CQE_F_BUF_MORE would
     * speak for its last one, so where each buffer's data starts and which
     * buffer the kernel keeps could not be told from the completion alone
     * (and the pairing has had kernel ordering bugs). INC groups get plain
     * multishot recvs. */
    if (bundle && br->inc_off)
        return -URK_ENOTSUP;
    /* A CQE names the buffer id, not its group. While the ring has had one
     * group only, that group is implied; once two co-exist each recv records
     * its own (see urk__cqe_convert). */
    uint16_t old_group = 0;
    int had_old = 0;
    if (ring->multi_groups) {
        had_old = urk__group_map_get(&ring->group_map, user_data, &old_group) == 0;
        int mrc = urk__group_map_put(&ring->group_map, user_data, group_id);
        if (mrc)
            return mrc;
    }
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc) {
        if (had_old)
            urk__group_map_put(&ring->group_map, user_data, old_group);
        else if (ring->multi_groups)
            urk__group_map_del(&ring->group_map, user_data);
        return rc;
    }
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->buf_group = group_id;
    if (bundle)
        sqe->ioprio |= IORING_RECVSEND_BUNDLE;
    finish(sqe, user_data, flags);
    sqe->flags |= IOSQE_BUFFER_SELECT; /* after finish(), which sets flags */
    return 0;
}

int urk_prep_recv_multishot(urk_ring_t *ring, int fd, uint16_t group_id,
                            uint64_t user_data, uint32_t flags)
{
    return prep_recv_multishot(ring, fd, group_id, user_data, flags, 0);
}

int urk__prep_recv_multishot_bundle(urk_ring_t *ring, int fd, uint16_t group_id,
                                    uint64_t user_data)
{
    return prep_recv_multishot(ring, fd, group_id, user_data, 0, 1);
}

int urk_prep_recv(urk_ring_t *ring, int fd, void *buf, uint32_t len,
                  uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!buf && len)
        return -EFAULT;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_send(urk_ring_t *ring, int fd, const void *buf, uint32_t len,
                  uint32_t msg_flags, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!buf && len)
        return -EFAULT;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_send(sqe, fd, buf, len, (int)(msg_flags | MSG_NOSIGNAL));
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_sendv(urk_ring_t *ring, int fd, const urk_iovec_t *iov, uint32_t iovcnt,
                   uint32_t msg_flags, uint64_t user_data, uint32_t flags)
{
    _Static_assert(sizeof(urk_iovec_t) == sizeof(struct iovec), "iovec layout");
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!iov || iovcnt == 0 || iovcnt > 1024)
        return -EINVAL;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    /* The kernel reads the msghdr at submission: keep it in the slot's
     * storage so the caller need only keep the iovecs alive. */
    urk_sqe_arg_t *arg = sqe_arg(ring, sqe);
    struct msghdr *msg = (struct msghdr *)&arg->addr;
    _Static_assert(sizeof(struct msghdr) <= sizeof(arg->addr), "msghdr fits");
    memset(msg, 0, sizeof *msg);
    msg->msg_iov = (struct iovec *)(uintptr_t)iov;
    msg->msg_iovlen = iovcnt;
    io_uring_prep_sendmsg(sqe, fd, msg, msg_flags | MSG_NOSIGNAL);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_connect(urk_ring_t *ring, int fd, const urk_addr_t *addr,
                     uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!addr || addr->len < sizeof(sa_family_t) || addr->len > sizeof addr->bytes)
        return -EINVAL;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    urk_sqe_arg_t *arg = sqe_arg(ring, sqe);
    memcpy(&arg->addr, addr->bytes, addr->len);
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)&arg->addr, addr->len);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_close(urk_ring_t *ring, int fd, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_close(sqe, fd);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_shutdown(urk_ring_t *ring, int fd, int32_t how, uint64_t user_data,
                      uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (how < 0 || how > 2)
        return -EINVAL;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_shutdown(sqe, fd, how);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_cancel(urk_ring_t *ring, uint64_t target_user_data, uint64_t user_data,
                    uint32_t flags)
{
    struct io_uring_sqe *sqe;
    int rc = take_sqe(ring, flags, URK_CANCEL_ALL, &sqe);
    if (rc)
        return rc;
    io_uring_prep_cancel64(sqe, target_user_data,
                           (flags & URK_CANCEL_ALL) ? IORING_ASYNC_CANCEL_ALL : 0);
    finish(sqe, user_data, flags & ~(uint32_t)URK_CANCEL_ALL);
    return 0;
}

int urk_prep_cancel_fd(urk_ring_t *ring, int fd, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    int rc = take_sqe(ring, flags, URK_CANCEL_ALL, &sqe);
    if (rc)
        return rc;
    io_uring_prep_cancel_fd(sqe, fd, (flags & URK_CANCEL_ALL) ? IORING_ASYNC_CANCEL_ALL : 0);
    finish(sqe, user_data, flags & ~(uint32_t)URK_CANCEL_ALL);
    return 0;
}

int urk_prep_timeout(urk_ring_t *ring, uint64_t timeout_ns, uint32_t count,
                     uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    urk_sqe_arg_t *arg = sqe_arg(ring, sqe);
    arg->ts.tv_sec = (long long)(timeout_ns / 1000000000ull);
    arg->ts.tv_nsec = (long long)(timeout_ns % 1000000000ull);
    io_uring_prep_timeout(sqe, &arg->ts, count, 0);
    finish(sqe, user_data, flags);
    return 0;
}

int urk_prep_msg_ring(urk_ring_t *ring, int target_ring_fd, int32_t res,
                      uint64_t target_user_data, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe;
    if (!ring)
        return -EINVAL;
    if (target_ring_fd < 0)
        return -EBADF;
    int rc = take_sqe(ring, flags, 0, &sqe);
    if (rc)
        return rc;
    io_uring_prep_msg_ring(sqe, target_ring_fd, (unsigned)res, target_user_data, 0);
    finish(sqe, user_data, flags);
    return 0;
}

int urk__prep_read(urk_ring_t *ring, int fd, void *buf, uint32_t len, uint64_t user_data)
{
    struct io_uring_sqe *sqe = urk__get_sqe(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_read(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int urk__prep_poll(urk_ring_t *ring, int fd, uint32_t poll_mask, uint64_t user_data)
{
    struct io_uring_sqe *sqe = urk__get_sqe(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, poll_mask);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int urk__prep_cancel_any(urk_ring_t *ring, uint64_t user_data)
{
    struct io_uring_sqe *sqe = urk__get_sqe(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

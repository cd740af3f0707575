/* fixed.c - direct (fixed) descriptors: a ring's sparse file table and the
 * ops that name a slot of it instead of a process fd (IOSQE_FIXED_FILE).
 * The engine's private path: the public urk_prep_* calls take real fds.
 * Like urk__prep_read, these run on the issuer thread only, without the
 * public calls' argument checks. */
#include "uring.h"

#include <sys/socket.h>

int urk__ring_files_sparse(urk_ring_t *ring, uint32_t n)
{
    return io_uring_register_files_sparse(&ring->io, n);
}

int urk__ring_file_clear(urk_ring_t *ring, uint32_t idx)
{
    int fd = -1;
    int rc = io_uring_register_files_update(&ring->io, idx, &fd, 1);
    return rc < 0 ? rc : 0;
}

int urk__ring_sync_cancel_fixed(urk_ring_t *ring, uint32_t idx)
{
    struct io_uring_sync_cancel_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.fd = (int32_t)idx;
    reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL;
    reg.timeout.tv_sec = -1;
    reg.timeout.tv_nsec = -1;
    return io_uring_register_sync_cancel(&ring->io, &reg);
}

void urk__sqe_set_fixed(urk_ring_t *ring)
{
    struct io_uring_sq *sq = &ring->io.sq;
    sq->sqes[(sq->sqe_tail - 1) & *sq->kring_mask].flags |= IOSQE_FIXED_FILE;
}

static struct io_uring_sqe *take(urk_ring_t *ring)
{
    return urk__get_sqe(ring);
}

int urk__prep_accept_direct(urk_ring_t *ring, int listen_fd, uint64_t user_data)
{
    struct io_uring_sqe *sqe = take(ring);
    if (!sqe)
        return -EBUSY;
    /* Flags 0: the kernel refuses SOCK_CLOEXEC for a direct descriptor
     * (there is no process fd to mark). */
    io_uring_prep_multishot_accept_direct(sqe, listen_fd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int urk__prep_close_direct(urk_ring_t *ring, uint32_t idx, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe = take(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_close_direct(sqe, idx);
    urk__op_flags(sqe, flags);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int urk__prep_cancel_fixed(urk_ring_t *ring, uint32_t idx, uint64_t user_data)
{
    struct io_uring_sqe *sqe = take(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel_fd(sqe, (int)idx,
                            IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int urk__prep_msg_ring_fd(urk_ring_t *ring, int target_ring_fd, uint32_t src_idx,
                          uint64_t target_user_data, uint64_t user_data, uint32_t flags)
{
    struct io_uring_sqe *sqe = take(ring);
    if (!sqe)
        return -EBUSY;
    /* IORING_MSG_SEND_FD: the file in our slot src_idx goes into a slot of
     * the target's table the kernel picks (IORING_FILE_INDEX_ALLOC); the
     * target's CQE carries target_user_data and that slot's index as res
     * (kernels since 6.3 and stable 6.0+; older ones post 0, which the
     * probe detects). Our slot keeps its own reference: the caller frees
     * it. len must be 0. */
    io_uring_prep_rw(IORING_OP_MSG_RING, sqe, target_ring_fd,
                     (void *)(uintptr_t)IORING_MSG_SEND_FD, 0, target_user_data);
    sqe->addr3 = src_idx;
    sqe->file_index = IORING_FILE_INDEX_ALLOC;
    urk__op_flags(sqe, flags);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int urk__prep_sockopt(urk_ring_t *ring, uint32_t idx, uint32_t cmd_op, int optname, void *val,
                      uint32_t len, uint64_t user_data)
{
    struct io_uring_sqe *sqe = take(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, (int)idx, NULL, 0, 0);
    sqe->cmd_op = cmd_op;
    sqe->__pad1 = 0;
    sqe->addr = (uint64_t)SOL_SOCKET | ((uint64_t)(uint32_t)optname << 32); /* level, optname */
    sqe->file_index = len;                                                   /* optlen */
    sqe->addr3 = (uint64_t)(uintptr_t)val;                                   /* optval */
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

/* Every ring-layer function given bad arguments returns the documented
 * negative code and never crashes: NULL handles (checked first, whatever
 * else is wrong), NULL out pointers, negative or closed fds, unknown flags,
 * unknown buffer groups. A refused call queues nothing. */
#include "testutil.h"

#include <sys/eventfd.h>

#define ALL_BAD_FLAGS 0xFFFFFFFFu
#define OP_FLAGS_OK (URK_OP_LINK | URK_OP_SKIP_SUCCESS | URK_OP_ASYNC)

int main(void)
{
    uint8_t b[16];
    urk_iovec_t iov = {b, sizeof b};
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("127.0.0.1", 1, &a));
    urk_cqe_t c;

    /* ---- NULL ring: -EINVAL first, even with other bad arguments ---- */
    CHECK_RC(urk_ring_enable(NULL), -EINVAL);
    CHECK_RC(urk_ring_fd(NULL), -EINVAL);
    urk_ring_info_t info;
    urk_ring_stats_t st;
    CHECK_RC(urk_ring_info(NULL, &info), -EINVAL);
    CHECK_RC(urk_ring_stats(NULL, &st), -EINVAL);
    CHECK_RC(urk_ring_register_eventfd(NULL, 0), -EINVAL);
    CHECK_RC(urk_ring_register_eventfd(NULL, -1), -EINVAL);
    CHECK_RC(urk_ring_unregister_eventfd(NULL), -EINVAL);
    CHECK_RC(urk_ring_submit(NULL), -EINVAL);
    CHECK_RC(urk_ring_complete(NULL, &c, 1, 0, 0), -EINVAL);
    CHECK_RC(urk_ring_complete(NULL, NULL, 0, 0, 0), -EINVAL);
    CHECK_RC(urk_prep_nop(NULL, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_nop(NULL, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_accept_multishot(NULL, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_accept_multishot(NULL, -1, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_recv_multishot(NULL, 0, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_recv_multishot(NULL, -1, 0, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_recv(NULL, 0, b, sizeof b, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_recv(NULL, -1, NULL, 5, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_send(NULL, 0, b, sizeof b, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_send(NULL, -1, NULL, 5, 0, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_sendv(NULL, 0, &iov, 1, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_sendv(NULL, -1, NULL, 0, 0, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_connect(NULL, 0, &a, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_connect(NULL, -1, NULL, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_close(NULL, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_close(NULL, -1, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_shutdown(NULL, 0, 1, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_shutdown(NULL, -1, 7, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_cancel(NULL, 1, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_cancel_fd(NULL, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_cancel_fd(NULL, -1, 1, ALL_BAD_FLAGS), -EINVAL);
    CHECK_RC(urk_prep_timeout(NULL, 1, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_msg_ring(NULL, 0, 0, 1, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_msg_ring(NULL, -1, 0, 1, 1, ALL_BAD_FLAGS), -EINVAL);
    urk_ring_destroy(NULL); /* accepted */

    /* ---- NULL buffer ring ---- */
    void *p;
    uint16_t bid = 0;
    CHECK_RC(urk_bufring_buf(NULL, 0, &p), -EINVAL);
    CHECK_RC(urk_bufring_recycle(NULL, &bid, 1), -EINVAL);
    CHECK_RC(urk_bufring_recycle(NULL, NULL, 0), -EINVAL);
    CHECK_RC(urk_bufring_available(NULL), -EINVAL);
    CHECK_RC(urk_bufring_group(NULL), -EINVAL);
    urk_bufring_destroy(NULL);
    urk_bufring_t *br = (urk_bufring_t *)&a;
    CHECK_RC(urk_bufring_create(NULL, NULL, &br), -EINVAL);
    CHECK(br == NULL);

    urk_ring_t *r = t_ring(0);
    /* ---- NULL out pointers ---- */
    CHECK_RC(urk_ring_create(NULL, NULL), -EINVAL);
    CHECK_RC(urk_ring_info(r, NULL), -EINVAL);
    CHECK_RC(urk_ring_stats(r, NULL), -EINVAL);
    CHECK_RC(urk_bufring_create(r, NULL, NULL), -EINVAL);
    CHECK_RC(urk_probe(NULL), -EINVAL);
    CHECK_RC(urk_ring_opts_init(NULL), -EINVAL);
    CHECK_RC(urk_bufring_opts_init(NULL), -EINVAL);
    CHECK_RC(urk_ring_complete(r, NULL, 4, 0, 0), -EINVAL);
    br = t_bufring(r, 1, 4, 64, 0);
    CHECK_RC(urk_bufring_buf(br, 0, NULL), -EINVAL);
    CHECK_RC(urk_bufring_buf(br, 4, &p), -EINVAL);
    CHECK_RC(urk_bufring_buf(br, UINT32_MAX, &p), -EINVAL);
    CHECK_RC(urk_bufring_recycle(br, NULL, 1), -EINVAL);

    /* ---- negative fds: -EBADF at the call ---- */
    CHECK_RC(urk_prep_accept_multishot(r, -1, 1, 0), -EBADF);
    CHECK_RC(urk_prep_recv_multishot(r, -1, 1, 1, 0), -EBADF);
    CHECK_RC(urk_prep_recv(r, -1, b, sizeof b, 1, 0), -EBADF);
    CHECK_RC(urk_prep_send(r, -1, b, sizeof b, 0, 1, 0), -EBADF);
    CHECK_RC(urk_prep_sendv(r, -1, &iov, 1, 0, 1, 0), -EBADF);
    CHECK_RC(urk_prep_connect(r, -1, &a, 1, 0), -EBADF);
    CHECK_RC(urk_prep_close(r, -1, 1, 0), -EBADF);
    CHECK_RC(urk_prep_shutdown(r, -1, 1, 1, 0), -EBADF);
    CHECK_RC(urk_prep_cancel_fd(r, -1, 1, 0), -EBADF);
    CHECK_RC(urk_prep_msg_ring(r, -1, 0, 1, 1, 0), -EBADF);
    CHECK_RC(urk_ring_register_eventfd(r, -1), -EBADF);

    /* ---- bad buffers / groups ---- */
    CHECK_RC(urk_prep_recv(r, 0, NULL, 4, 1, 0), -EFAULT);
    CHECK_RC(urk_prep_send(r, 0, NULL, 4, 0, 1, 0), -EFAULT);
    CHECK_RC(urk_prep_recv_multishot(r, 0, 2, 1, 0), -ENOENT);
    CHECK_RC(urk_prep_recv_multishot(r, 0, 0xFFFF, 1, 0), -ENOENT);

    /* ---- unknown flags: every bit outside the allowed set ---- */
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    for (int bit = 0; bit < 32; bit++) {
        uint32_t f = 1u << bit;
        if (f & OP_FLAGS_OK)
            continue;
        CHECK_RC(urk_prep_nop(r, 1, f), -EINVAL);
        CHECK_RC(urk_prep_accept_multishot(r, sfd, 1, f), -EINVAL);
        CHECK_RC(urk_prep_recv(r, sfd, b, sizeof b, 1, f), -EINVAL);
        CHECK_RC(urk_prep_send(r, sfd, b, sizeof b, 0, 1, f), -EINVAL);
        CHECK_RC(urk_prep_sendv(r, sfd, &iov, 1, 0, 1, f), -EINVAL);
        CHECK_RC(urk_prep_connect(r, sfd, &a, 1, f), -EINVAL);
        CHECK_RC(urk_prep_close(r, sfd, 1, f), -EINVAL);
        CHECK_RC(urk_prep_shutdown(r, sfd, 1, 1, f), -EINVAL);
        CHECK_RC(urk_prep_timeout(r, 1, 0, 1, f), -EINVAL);
        CHECK_RC(urk_prep_msg_ring(r, urk_ring_fd(r), 0, 1, 1, f), -EINVAL);
        if (f != URK_RECV_BUNDLE)
            CHECK_RC(urk_prep_recv_multishot(r, sfd, 1, 1, f), -EINVAL);
        if (f != URK_CANCEL_ALL) {
            CHECK_RC(urk_prep_cancel(r, 1, 1, f), -EINVAL);
            CHECK_RC(urk_prep_cancel_fd(r, sfd, 1, f), -EINVAL);
        }
    }
    /* Nothing was queued by any refused call. */
    CHECK_RC(urk_ring_submit(r), 0);
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.submitted == 0 && st.completed == 0);
    t_expect_none(r, 10);

    /* ---- fds that are not open: the kernel's -EBADF in the completion ---- */
    int closed = dup(sfd);
    close(closed);
    struct {
        int rc;
        const char *what;
    } q[8];
    int nq = 0;
    q[nq].rc = urk_prep_recv(r, closed, b, sizeof b, 100 + (uint64_t)nq, 0), q[nq++].what = "recv";
    q[nq].rc = urk_prep_send(r, closed, b, sizeof b, 0, 100 + (uint64_t)nq, 0), q[nq++].what = "send";
    q[nq].rc = urk_prep_sendv(r, closed, &iov, 1, 0, 100 + (uint64_t)nq, 0), q[nq++].what = "sendv";
    q[nq].rc = urk_prep_connect(r, closed, &a, 100 + (uint64_t)nq, 0), q[nq++].what = "connect";
    q[nq].rc = urk_prep_shutdown(r, closed, 1, 100 + (uint64_t)nq, 0), q[nq++].what = "shutdown";
    q[nq].rc = urk_prep_accept_multishot(r, closed, 100 + (uint64_t)nq, 0), q[nq++].what = "accept";
    q[nq].rc = urk_prep_recv_multishot(r, closed, 1, 100 + (uint64_t)nq, 0), q[nq++].what = "recv_multishot";
    q[nq].rc = urk_prep_msg_ring(r, closed, 0, 1, 100 + (uint64_t)nq, 0), q[nq++].what = "msg_ring";
    for (int i = 0; i < nq; i++)
        CHECK_RC(q[i].rc, 0);
    urk_cqe_t cq[8];
    t_collect(r, cq, (uint32_t)nq, 5000);
    for (int i = 0; i < nq; i++) {
        int k = (int)(cq[i].user_data - 100);
        CHECK(k >= 0 && k < nq);
        if (cq[i].res != -EBADF) {
            fprintf(stderr, "%s on a closed fd: %d (%s)\n", q[k].what, cq[i].res,
                    urk_err_name(cq[i].res));
            return 1;
        }
        CHECK(!(cq[i].flags & URK_CQE_F_MORE));
    }
    /* Not an eventfd / not open, for eventfd registration. */
    CHECK_RC(urk_ring_register_eventfd(r, closed), -EBADF);
    CHECK_RC(urk_ring_register_eventfd(r, sfd), -EINVAL);
    CHECK_RC(urk_ring_unregister_eventfd(r), -ENXIO);
    int efd = eventfd(0, EFD_CLOEXEC);
    CHECK_OK(urk_ring_register_eventfd(r, efd));
    CHECK_RC(urk_ring_register_eventfd(r, efd), -EBUSY);
    CHECK_OK(urk_ring_unregister_eventfd(r));
    close(efd);

    /* ---- the ring is still healthy ---- */
    close(sfd);
    t_ring_end_to_end(r, 2);
    CHECK(urk_bufring_available(br) == 4);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

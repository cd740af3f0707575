/* urk_prep_close closes the descriptor (res 0, fd gone, peer sees EOF); a
 * bad fd gives -EBADF in the completion. Closing does not stop a multishot
 * recv on it (the ring holds a file reference): cancel first. */
#include "testutil.h"

enum { UD_CLOSE = 1, UD_RECV = 2, UD_CANCEL = 3 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_close(r, sfd, UD_CLOSE, 0));
    urk_cqe_t c = t_wait_for(r, UD_CLOSE);
    CHECK_RC(c.res, 0);
    CHECK(fcntl(sfd, F_GETFD) == -1 && errno == EBADF);
    char b;
    CHECK(read(cfd, &b, 1) == 0);
    close(cfd);

    /* Closing a descriptor that is not open. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    CHECK_OK(urk_prep_close(r, fd, UD_CLOSE, 0));
    c = t_wait_for(r, UD_CLOSE);
    CHECK_RC(c.res, -EBADF);

    /* A multishot recv survives close of its fd; cancel ends it. */
    urk_bufring_t *br = t_bufring(r, 1, 4, 64, 0);
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, 0));
    CHECK(urk_ring_submit(r) == 1);
    CHECK_OK(urk_prep_close(r, sfd, UD_CLOSE, 0));
    c = t_wait_for(r, UD_CLOSE);
    CHECK_RC(c.res, 0);
    t_write_all(cfd, "late", 4);
    c = t_wait_for(r, UD_RECV); /* still delivered: the file lives on */
    CHECK(c.res == 4 && (c.flags & URK_CQE_F_MORE));
    CHECK_RC(urk_bufring_recycle(br, &c.buf_id, 1), 1);
    CHECK_OK(urk_prep_cancel(r, UD_RECV, UD_CANCEL, 0));
    urk_cqe_t two[2];
    t_collect(r, two, 2, 5000);
    for (int i = 0; i < 2; i++) {
        if (two[i].user_data == UD_RECV)
            CHECK(two[i].res == -ECANCELED && !(two[i].flags & URK_CQE_F_MORE));
        else
            CHECK(two[i].user_data == UD_CANCEL && two[i].res == 0);
    }
    /* Now the socket is really closed: the peer sees EOF. */
    CHECK(read(cfd, &b, 1) == 0);
    close(cfd);
    CHECK(urk_bufring_available(br) == 4);
    CHECK_RC(urk_prep_close(r, -1, UD_CLOSE, 0), -EBADF);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

/* urk_prep_shutdown: SHUT_WR makes the peer read EOF while the other
 * direction keeps working; SHUT_RD/SHUT_RDWR are accepted; bad `how` is
 * refused; a non-connected socket gives -ENOTCONN in the completion. */
#include "testutil.h"

enum { UD_SHUT = 4, UD_RECV = 5 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    t_write_all(sfd, "bye", 3);
    CHECK_OK(urk_prep_shutdown(r, sfd, SHUT_WR, UD_SHUT, 0));
    urk_cqe_t c = t_wait_for(r, UD_SHUT);
    CHECK_RC(c.res, 0);
    char buf[8] = {0}; /* the kernel fills it later: valgrind cannot see that */
    t_read_all(cfd, buf, 3);
    CHECK(memcmp(buf, "bye", 3) == 0);
    CHECK(read(cfd, buf, 1) == 0); /* EOF */
    /* Reading on the shut-down side still works. */
    t_write_all(cfd, "more", 4);
    CHECK_OK(urk_prep_recv(r, sfd, buf, sizeof buf, UD_RECV, 0));
    c = t_wait_for(r, UD_RECV);
    CHECK(c.res == 4 && memcmp(buf, "more", 4) == 0 && c.buf == NULL);
    /* Writing on it fails. */
    CHECK(send(sfd, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);

    CHECK_OK(urk_prep_shutdown(r, sfd, SHUT_RDWR, UD_SHUT, 0));
    c = t_wait_for(r, UD_SHUT);
    CHECK_RC(c.res, 0);
    CHECK_OK(urk_prep_shutdown(r, cfd, SHUT_RD, UD_SHUT, 0));
    c = t_wait_for(r, UD_SHUT);
    CHECK_RC(c.res, 0);

    int lone = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_OK(urk_prep_shutdown(r, lone, SHUT_WR, UD_SHUT, 0));
    c = t_wait_for(r, UD_SHUT);
    CHECK_RC(c.res, -ENOTCONN);

    CHECK_RC(urk_prep_shutdown(r, sfd, -1, UD_SHUT, 0), -EINVAL);
    CHECK_RC(urk_prep_shutdown(r, sfd, 3, UD_SHUT, 0), -EINVAL);
    CHECK_RC(urk_prep_shutdown(r, -1, SHUT_WR, UD_SHUT, 0), -EBADF);
    CHECK_RC(urk_prep_shutdown(NULL, sfd, SHUT_WR, UD_SHUT, 0), -EINVAL);
    t_expect_none(r, 10);
    close(lone);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

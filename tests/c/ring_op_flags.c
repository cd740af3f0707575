/* Flags common to every op: URK_OP_LINK chains ops (a failed link cancels
 * the rest with -ECANCELED), URK_OP_SKIP_SUCCESS posts nothing on success
 * but still reports failure, URK_OP_ASYNC still completes. */
#include "testutil.h"

int main(void)
{
    urk_ring_t *r = t_ring(0);
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));

    /* LINK: connect to a closed port -> the linked send is cancelled. */
    uint16_t port;
    int lfd = t_listen(0, &port);
    close(lfd);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("127.0.0.1", port, &a));
    CHECK_OK(urk_prep_connect(r, fd, &a, 1, URK_OP_LINK));
    CHECK_OK(urk_prep_send(r, fd, "x", 1, 0, 2, 0));
    urk_cqe_t c[3];
    t_collect(r, c, 2, 5000);
    CHECK(c[0].user_data == 1 && c[0].res == -ECONNREFUSED);
    CHECK(c[1].user_data == 2 && c[1].res == -ECANCELED);
    close(fd);

    /* LINK in order: three nops complete in order. */
    CHECK_OK(urk_prep_nop(r, 10, URK_OP_LINK));
    CHECK_OK(urk_prep_nop(r, 11, URK_OP_LINK));
    CHECK_OK(urk_prep_nop(r, 12, 0));
    t_collect(r, c, 3, 5000);
    for (int i = 0; i < 3; i++)
        CHECK(c[i].user_data == 10u + (unsigned)i && c[i].res == 0);

    /* SKIP_SUCCESS: silent when it works, reported when it fails. */
    if (caps & URK_CAP_CQE_SKIP) {
        CHECK_OK(urk_prep_nop(r, 20, URK_OP_SKIP_SUCCESS));
        CHECK_OK(urk_prep_nop(r, 21, 0));
        urk_cqe_t one = t_wait_for(r, 21);
        CHECK(one.res == 0);
        t_expect_none(r, 20);
        int pfd[2];
        CHECK(pipe(pfd) == 0);
        close(pfd[1]);
        CHECK_OK(urk_prep_shutdown(r, pfd[0], SHUT_WR, 22, URK_OP_SKIP_SUCCESS));
        one = t_wait_for(r, 22);
        CHECK(one.res == -ENOTSOCK);
        close(pfd[0]);
        urk_ring_stats_t st;
        CHECK_OK(urk_ring_stats(r, &st));
        CHECK(st.submitted == st.completed + 1); /* the skipped nop */
    }

    /* ASYNC: forced to a worker, still completes. */
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_send(r, sfd, "async", 5, 0, 30, URK_OP_ASYNC));
    urk_cqe_t s = t_wait_for(r, 30);
    CHECK(s.res == 5);
    char buf[5];
    t_read_all(cfd, buf, 5);
    CHECK(memcmp(buf, "async", 5) == 0);
    CHECK_OK(urk_prep_nop(r, 31, URK_OP_ASYNC | URK_OP_LINK));
    CHECK_OK(urk_prep_nop(r, 32, URK_OP_ASYNC));
    t_collect(r, c, 2, 5000);
    CHECK(c[0].user_data == 31 && c[1].user_data == 32);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

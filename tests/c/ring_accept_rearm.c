/* A multishot accept that stops (here: cancelled) posts a final completion
 * without URK_CQE_F_MORE; re-arming it works and accepts again (the design
 * we replace never re-armed). Closing the listener alone does not stop it:
 * the ring holds a reference, so cancel comes first. */
#include "testutil.h"

enum { UD_ACCEPT = 1, UD_CANCEL = 2, UD_ACCEPT2 = 3 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    uint16_t port;
    int lfd = t_listen(0, &port);
    for (int round = 0; round < 3; round++) {
        uint64_t ud = round == 1 ? UD_ACCEPT2 : UD_ACCEPT;
        CHECK_OK(urk_prep_accept_multishot(r, lfd, ud, 0));
        for (int i = 0; i < 3; i++) {
            int cfd = t_connect(0, port);
            urk_cqe_t c = t_wait_for(r, ud);
            CHECK(c.res >= 0 && (c.flags & URK_CQE_F_MORE));
            close(c.res);
            close(cfd);
        }
        CHECK_OK(urk_prep_cancel(r, ud, UD_CANCEL, 0));
        urk_cqe_t two[2];
        t_collect(r, two, 2, 5000);
        int saw_final = 0, saw_cancel = 0;
        for (int i = 0; i < 2; i++) {
            if (two[i].user_data == ud) {
                CHECK(two[i].res == -ECANCELED && !(two[i].flags & URK_CQE_F_MORE));
                saw_final = 1;
            } else {
                CHECK(two[i].user_data == UD_CANCEL && two[i].res == 0);
                saw_cancel = 1;
            }
        }
        CHECK(saw_final && saw_cancel);
        /* Stopped: a new connection waits in the backlog, no completion. */
        int waiting = t_connect(0, port);
        t_expect_none(r, 50);
        /* Re-armed: the waiting connection is taken at once. */
        CHECK_OK(urk_prep_accept_multishot(r, lfd, ud, 0));
        urk_cqe_t c = t_wait_for(r, ud);
        CHECK(c.res >= 0 && (c.flags & URK_CQE_F_MORE));
        close(c.res);
        close(waiting);
        CHECK_OK(urk_prep_cancel(r, ud, UD_CANCEL, 0));
        t_collect(r, two, 2, 5000);
    }
    /* Cancelling what is not armed: -ENOENT. */
    CHECK_OK(urk_prep_cancel(r, UD_ACCEPT, UD_CANCEL, 0));
    urk_cqe_t c = t_wait_for(r, UD_CANCEL);
    CHECK(c.res == -ENOENT);
    /* A listener that is not listening: the accept ends at once with an
     * error and no MORE (the caller sees it must re-arm or give up). */
    int notl = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_OK(urk_prep_accept_multishot(r, notl, UD_ACCEPT, 0));
    c = t_wait_for(r, UD_ACCEPT);
    CHECK(c.res == -EINVAL && !(c.flags & URK_CQE_F_MORE));
    close(notl);
    close(lfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

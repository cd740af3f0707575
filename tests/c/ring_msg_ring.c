/* urk_prep_msg_ring between two rings: the target gets exactly
 * {user_data = target_user_data, res = res} (negative res included), the
 * sender gets its own completion with res 0; a bad target fd fails in the
 * sender's completion. Both a DEFER_TASKRUN and a COOP target. */
#include "testutil.h"

enum { UD_SENT = 1 };

static void exchange(urk_ring_t *from, urk_ring_t *to)
{
    int32_t values[] = {0, 1, -1, 12345, INT32_MAX, INT32_MIN, -ECONNRESET};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint64_t tud = 0xFEED000000000000ull | i;
        CHECK_OK(urk_prep_msg_ring(from, urk_ring_fd(to), values[i], tud, UD_SENT, 0));
        urk_cqe_t s = t_wait_for(from, UD_SENT);
        CHECK_RC(s.res, 0);
        urk_cqe_t c = t_wait_for(to, tud);
        CHECK(c.res == values[i]);
        CHECK(c.flags == 0 && c.buf == NULL);
    }
    /* A burst of 100 arrives complete and in order. */
    for (uint64_t i = 0; i < 100; i++)
        CHECK_OK(urk_prep_msg_ring(from, urk_ring_fd(to), (int32_t)i, 5000 + i, UD_SENT, 0));
    urk_cqe_t sent[100], got[100];
    t_collect(from, sent, 100, 5000);
    t_collect(to, got, 100, 5000);
    for (int i = 0; i < 100; i++) {
        CHECK(sent[i].user_data == UD_SENT && sent[i].res == 0);
        CHECK(got[i].user_data == 5000u + (unsigned)i && got[i].res == i);
    }
}

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    if (!(caps & URK_CAP_MSG_RING))
        t_skip("no IORING_OP_MSG_RING");
    urk_ring_t *a = t_ring(0);
    urk_ring_t *b = t_ring(0);
    urk_ring_t *coop = t_ring(URK_RING_NO_DEFER_TASKRUN);
    exchange(a, b);
    exchange(b, a);
    exchange(a, coop);
    exchange(coop, a);
    /* To itself. */
    CHECK_OK(urk_prep_msg_ring(a, urk_ring_fd(a), 7, 0xAB, UD_SENT, 0));
    urk_cqe_t c[2];
    t_collect(a, c, 2, 5000);
    CHECK((c[0].user_data == 0xAB && c[0].res == 7) || (c[1].user_data == 0xAB && c[1].res == 7));

    /* Not a ring: -EBADFD; not a descriptor: -EBADF; both in the sender's
     * completion. Negative fd is refused at the call. */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    CHECK_OK(urk_prep_msg_ring(a, pfd[0], 0, 1, UD_SENT, 0));
    urk_cqe_t s = t_wait_for(a, UD_SENT);
    CHECK_RC(s.res, -EBADFD);
    close(pfd[0]);
    CHECK_OK(urk_prep_msg_ring(a, pfd[0], 0, 1, UD_SENT, 0));
    s = t_wait_for(a, UD_SENT);
    CHECK_RC(s.res, -EBADF);
    close(pfd[1]);
    CHECK_RC(urk_prep_msg_ring(a, -1, 0, 1, UD_SENT, 0), -EBADF);
    CHECK_RC(urk_prep_msg_ring(a, urk_ring_fd(b), 0, 1, UD_SENT, 1u << 2), -EINVAL);
    t_expect_none(b, 10);
    urk_ring_destroy(a);
    urk_ring_destroy(b);
    urk_ring_destroy(coop);
    printf("ok\n");
    return 0;
}

/* urk_prep_timeout: a pure timer completes with -ETIME after (not before)
 * its time; a count timeout completes with 0 once `count` other completions
 * were posted; the timespec is copied at the call. urk_ring_complete's own
 * timeout returns 0 completions without an error. */
#include "testutil.h"

enum { UD_T = 100, UD_NOP = 200 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    uint64_t t0 = t_now_ms();
    CHECK_OK(urk_prep_timeout(r, 50ull * 1000000, 0, UD_T, 0));
    urk_cqe_t c = t_wait_for(r, UD_T);
    CHECK_RC(c.res, -ETIME);
    CHECK(t_now_ms() - t0 >= 49);

    /* Zero: completes at once with -ETIME. */
    CHECK_OK(urk_prep_timeout(r, 0, 0, UD_T, 0));
    c = t_wait_for(r, UD_T);
    CHECK_RC(c.res, -ETIME);

    /* Count: 3 nops satisfy it long before its 10 s. */
    CHECK_OK(urk_prep_timeout(r, 10ull * 1000000000, 3, UD_T, 0));
    CHECK(urk_ring_submit(r) == 1);
    t_expect_none(r, 20);
    for (int i = 0; i < 3; i++)
        CHECK_OK(urk_prep_nop(r, UD_NOP + (uint64_t)i, 0));
    urk_cqe_t cq[4];
    t_collect(r, cq, 4, 5000);
    int timer_seen = 0;
    for (int i = 0; i < 4; i++) {
        if (cq[i].user_data == UD_T) {
            CHECK_RC(cq[i].res, 0);
            timer_seen = 1;
        } else {
            CHECK(cq[i].user_data >= UD_NOP && cq[i].user_data < UD_NOP + 3 && cq[i].res == 0);
        }
    }
    CHECK(timer_seen);

    /* Several timers queued in one batch keep their own times (each SQE
     * has its own timespec storage). */
    CHECK_OK(urk_prep_timeout(r, 120ull * 1000000, 0, UD_T + 2, 0));
    CHECK_OK(urk_prep_timeout(r, 10ull * 1000000, 0, UD_T + 1, 0));
    CHECK_OK(urk_prep_timeout(r, 240ull * 1000000, 0, UD_T + 3, 0));
    t_collect(r, cq, 3, 5000);
    CHECK(cq[0].user_data == UD_T + 1 && cq[1].user_data == UD_T + 2 &&
          cq[2].user_data == UD_T + 3);
    for (int i = 0; i < 3; i++)
        CHECK_RC(cq[i].res, -ETIME);

    /* urk_ring_complete with nothing pending: times out with 0. */
    t0 = t_now_ms();
    CHECK_RC(urk_ring_complete(r, cq, 4, 1, 30ll * 1000000), 0);
    CHECK(t_now_ms() - t0 >= 29);
    CHECK_RC(urk_ring_complete(r, cq, 4, 0, 0), 0);
    CHECK_RC(urk_ring_complete(r, cq, 4, 2, 0), 0);
    /* min_complete > max is a caller error. */
    CHECK_RC(urk_ring_complete(r, cq, 1, 2, 0), -EINVAL);
    CHECK_RC(urk_ring_complete(r, NULL, 1, 0, 0), -EINVAL);
    CHECK_RC(urk_ring_complete(r, NULL, 0, 0, 0), 0);
    CHECK_RC(urk_prep_timeout(r, 1, 0, UD_T, 1u << 3), -EINVAL);
    /* Huge timeout values do not overflow into an immediate expiry. */
    CHECK_OK(urk_prep_timeout(r, UINT64_MAX, 0, UD_T, 0));
    t_expect_none(r, 30);
    CHECK_OK(urk_prep_cancel(r, UD_T, UD_NOP, 0));
    t_collect(r, cq, 2, 5000);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

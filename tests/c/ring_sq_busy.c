/* When can urk_prep_* return -EBUSY? Only when the SQ is full and the
 * kernel refuses to take it. CQ overflow does not cause that on NODROP
 * kernels (ring_cq_overflow queues 300 ops into a CQ of 8 without error).
 * The one way to provoke the refusal used to be a thread that is not the
 * ring's issuer filling the SQ (the kernel refuses its enter): it got 4
 * ops queued into the shared SQ, then -EBUSY. Now the shim refuses such a
 * thread at its first call with -URK_ETHREAD, before touching the SQ:
 * nothing is queued by it, nothing is published, and the issuer's own
 * requests go through untouched. */
#include "testutil.h"

#include <pthread.h>

static urk_ring_t *ring;
static int queued, busy_rc;

static void *intruder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 16; i++) {
        int rc = urk_prep_nop(ring, (uint64_t)i, 0);
        if (rc) {
            busy_rc = rc;
            break;
        }
        queued++;
    }
    return NULL;
}

int main(void)
{
    ring = t_ring_sized(4, 8, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(queued == 0);
    CHECK_RC(busy_rc, -URK_ETHREAD);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(ring, &st));
    CHECK(st.sq_full_waits == 0 && st.submitted == 0 && st.completed == 0);
    /* The issuer fills the 4-entry SQ over and over: no -EBUSY. */
    for (int i = 0; i < 10; i++)
        CHECK_OK(urk_prep_nop(ring, 100, 0));
    urk_cqe_t d[10];
    t_collect(ring, d, 10, 5000);
    for (int i = 0; i < 10; i++)
        CHECK(d[i].user_data == 100 && d[i].res == 0);
    t_expect_none(ring, 20);
    CHECK_OK(urk_ring_stats(ring, &st));
    CHECK(st.submitted == 10 && st.completed == 10 && st.sq_full_waits >= 2);
    urk_ring_destroy(ring);
    printf("ok\n");
    return 0;
}

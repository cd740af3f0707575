/* When can urk_prep_* return -EBUSY? Only when the SQ is full and the
 * kernel refuses to take it. CQ overflow does not cause that on NODROP
 * kernels (ring_cq_overflow queues 300 ops into a CQ of 8 without error),
 * so provoke the refusal another way: a thread that is not the ring's
 * issuer (the ring fd is registered in its creator's table, and the ring is
 * SINGLE_ISSUER) fills the SQ. The call fails cleanly with -EBUSY, nothing
 * crashes, nothing queued is lost: the owner submits and completes them. */
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
    CHECK(queued == 4);
    CHECK_RC(busy_rc, -EBUSY);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(ring, &st));
    /* Published to the shared SQ, though the kernel refused the enter. */
    CHECK(st.sq_full_waits == 1 && st.submitted == 4 && st.completed == 0);
    /* The owner drives the ring: the 4 queued ops go through. */
    urk_cqe_t c[4];
    t_collect(ring, c, 4, 5000);
    for (int i = 0; i < 4; i++)
        CHECK(c[i].user_data == (uint64_t)i && c[i].res == 0);
    for (int i = 0; i < 10; i++)
        CHECK_OK(urk_prep_nop(ring, 100, 0));
    urk_cqe_t d[10];
    t_collect(ring, d, 10, 5000);
    CHECK_OK(urk_ring_stats(ring, &st));
    CHECK(st.submitted == 14 && st.completed == 14);
    urk_ring_destroy(ring);
    printf("ok\n");
    return 0;
}

/* A registered ring fd is an index into the registering thread's own table,
 * so before the issuer check a call on ring A from a thread that registered
 * its own ring B used A's index in B's thread: it entered ring B. Now the
 * call is refused with -URK_ETHREAD, and ring B's queued request is neither
 * submitted nor completed by it (its issuer then gets it normally). */
#include "testutil.h"

#include <pthread.h>

static urk_ring_t *ring_a;

static void *other(void *arg)
{
    (void)arg;
    urk_ring_t *ring_b = t_ring(0); /* registered in this thread's table */
    urk_ring_info_t ia, ib;
    CHECK_OK(urk_ring_info(ring_a, &ia));
    CHECK_OK(urk_ring_info(ring_b, &ib));
    CHECK_OK(urk_prep_nop(ring_b, 42, 0));
    urk_cqe_t c[4];
    CHECK_RC(urk_ring_complete(ring_a, c, 4, 1, 100000000LL), -URK_ETHREAD);
    CHECK_RC(urk_ring_submit(ring_a), -URK_ETHREAD);
    urk_ring_stats_t sb;
    CHECK_OK(urk_ring_stats(ring_b, &sb));
    CHECK(sb.submitted == 0 && sb.completed == 0);
    CHECK(urk_ring_complete(ring_b, c, 4, 1, 2000000000LL) == 1);
    CHECK(c[0].user_data == 42);
    urk_ring_destroy(ring_b);
    if (!(ia.active & URK_RING_ACTIVE_REGISTERED_FD) || !(ib.active & URK_RING_ACTIVE_REGISTERED_FD))
        printf("note: ring fds not registered on this kernel\n");
    return NULL;
}

int main(void)
{
    ring_a = t_ring(0);
    CHECK_OK(urk_prep_nop(ring_a, 1, 0));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    urk_ring_stats_t sa;
    CHECK_OK(urk_ring_stats(ring_a, &sa));
    CHECK(sa.submitted == 0 && sa.completed == 0);
    urk_cqe_t c;
    CHECK(urk_ring_complete(ring_a, &c, 1, 1, 2000000000LL) == 1 && c.user_data == 1);
    urk_ring_destroy(ring_a);
    printf("ok\n");
    return 0;
}

/* The issuer of a ring created with URK_RING_DISABLED is the thread that
 * enables it: before that any thread may register buffer rings and the
 * eventfd (ops are -URK_ESTATE on every thread); after a second thread
 * enabled it, that thread drives it and the creating thread gets
 * -URK_ETHREAD from every issuer-only call. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

static urk_ring_t *ring;
static urk_bufring_t *br;
static _Atomic int phase; /* 1: enabled and nop queued; 2: creator checked */

static void *issuer(void *arg)
{
    (void)arg;
    CHECK_OK(urk_ring_enable(ring));
    CHECK_OK(urk_prep_nop(ring, 7, 0));
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2)
        usleep(1000);
    urk_cqe_t c;
    CHECK(urk_ring_complete(ring, &c, 1, 1, 2000000000LL) == 1);
    CHECK(c.user_data == 7 && c.res == 0);
    t_ring_end_to_end(ring, 4); /* a real echo, on a second group */
    return NULL;
}

int main(void)
{
    ring = t_ring(URK_RING_DISABLED);
    /* Not enabled: no issuer yet; ops are a state error on any thread. */
    CHECK_RC(urk_prep_nop(ring, 1, 0), -URK_ESTATE);
    CHECK_RC(urk_ring_submit(ring), -URK_ESTATE);
    br = t_bufring(ring, 3, 8, 4096, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, issuer, NULL) == 0);
    while (atomic_load(&phase) != 1)
        usleep(1000);
    /* The enabling thread is the issuer now. */
    CHECK_RC(urk_prep_nop(ring, 2, 0), -URK_ETHREAD);
    CHECK_RC(urk_ring_submit(ring), -URK_ETHREAD);
    urk_cqe_t c;
    CHECK_RC(urk_ring_complete(ring, &c, 1, 0, 0), -URK_ETHREAD);
    CHECK_RC(urk_bufring_available(br), -URK_ETHREAD);
    uint16_t bid = 0;
    CHECK_RC(urk_bufring_recycle(br, &bid, 1), -URK_ETHREAD);
    CHECK_RC(urk_ring_enable(ring), -EALREADY);
    atomic_store(&phase, 2);
    CHECK(pthread_join(t, NULL) == 0);
    urk_ring_destroy(ring);
    printf("ok\n");
    return 0;
}

/* msg_ring wakes a thread blocked in urk_ring_complete on another ring
 * (writing a registered eventfd would not wake a thread blocked in io_uring_enter). The waiter owns its
 * DEFER_TASKRUN ring and blocks with no time limit; only the message can
 * end the wait. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

static _Atomic int target_fd = -1;
static _Atomic int woke;
static urk_cqe_t seen;

static void *waiter(void *arg)
{
    (void)arg;
    urk_ring_t *r = t_ring(0); /* created here: this thread is its issuer */
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    atomic_store(&target_fd, urk_ring_fd(r));
    for (int round = 0; round < 3; round++) {
        int n = urk_ring_complete(r, &seen, 1, 1, -1); /* no time limit */
        CHECK(n == 1);
        CHECK(seen.user_data == 0xAAA0u + (unsigned)round && seen.res == round);
        atomic_fetch_add(&woke, 1);
    }
    urk_ring_destroy(r);
    return NULL;
}

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    if (!(caps & URK_CAP_MSG_RING))
        t_skip("no IORING_OP_MSG_RING");
    if (t_under_valgrind())
        t_skip("valgrind serialises threads across a blocking io_uring_enter");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, waiter, NULL) == 0);
    while (atomic_load(&target_fd) < 0)
        usleep(1000);
    int tfd = atomic_load(&target_fd);
    urk_ring_t *me = t_ring(0);
    for (int round = 0; round < 3; round++) {
        usleep(50 * 1000); /* let the waiter block */
        CHECK(atomic_load(&woke) == round);
        CHECK_OK(urk_prep_msg_ring(me, tfd, round, 0xAAA0u + (unsigned)round, 1, 0));
        urk_cqe_t s = t_wait_for(me, 1);
        CHECK_RC(s.res, 0);
        uint64_t deadline = t_now_ms() + 5000;
        while (atomic_load(&woke) == round && t_now_ms() < deadline)
            usleep(1000);
        CHECK(atomic_load(&woke) == round + 1);
    }
    CHECK(pthread_join(t, NULL) == 0);
    urk_ring_destroy(me);
    printf("ok\n");
    return 0;
}

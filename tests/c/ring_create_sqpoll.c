/* URK_RING_SQPOLL with an idle time and a CPU: the kernel thread submits
 * (no enter needed), the ring reports SQPOLL, works end to end, and goes on
 * working after the thread went idle. Skips where the kernel refuses. */
#include "testutil.h"

#include <liburing.h>

static urk_ring_t *sqpoll_ring(uint32_t idle_ms, int32_t cpu)
{
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    o.flags = URK_RING_SQPOLL;
    o.sqpoll_idle_ms = idle_ms;
    o.sqpoll_cpu = cpu;
    urk_ring_t *r = NULL;
    int rc = urk_ring_create(&o, &r);
    if (rc == -EPERM)
        t_skip("kernel refuses SQPOLL (EPERM)");
    CHECK_RC(rc, 0);
    return r;
}

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    if (!(caps & URK_CAP_SQPOLL))
        t_skip("no SQPOLL");
    urk_ring_t *r = sqpoll_ring(20, 0);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.active & URK_RING_ACTIVE_SQPOLL);
    CHECK(info.active & URK_RING_ACTIVE_ENABLED);
    /* DEFER_TASKRUN cannot go with SQPOLL; that is not a fallback. */
    CHECK(!(info.active & (URK_RING_ACTIVE_DEFER_TASKRUN | URK_RING_ACTIVE_FALLBACK)));
    CHECK(info.setup_flags & IORING_SETUP_SQPOLL);
    CHECK(info.setup_flags & IORING_SETUP_SQ_AFF);
    t_ring_end_to_end(r, 4);

    /* Let the SQ thread go idle (20 ms), then submit again: it must be
     * woken (NEED_WAKEUP path). */
    usleep(100 * 1000);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(urk_prep_nop(r, 50 + i, 0));
        CHECK(urk_ring_submit(r) >= 0);
        urk_cqe_t c = t_wait_for(r, 50 + i);
        CHECK(c.res == 0);
        usleep(60 * 1000);
    }
    urk_ring_destroy(r);

    /* Any CPU (-1): no SQ_AFF. */
    r = sqpoll_ring(1000, -1);
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.active & URK_RING_ACTIVE_SQPOLL);
    CHECK(!(info.setup_flags & IORING_SETUP_SQ_AFF));
    CHECK_OK(urk_prep_nop(r, 7, 0));
    CHECK(t_wait_for(r, 7).res == 0);
    urk_ring_destroy(r);

    /* A CPU that does not exist is refused with the kernel's code. */
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    o.flags = URK_RING_SQPOLL;
    o.sqpoll_cpu = 4095;
    r = NULL;
    int rc = urk_ring_create(&o, &r);
    CHECK(rc < 0 && r == NULL);
    printf("ok (bad cpu: %s)\n", urk_err_name(rc));
    return 0;
}

/* URK_RING_FORCE_FALLBACK takes the path used when the kernel refuses
 * SINGLE_ISSUER/DEFER_TASKRUN: active shows FALLBACK + COOP_TASKRUN, and the
 * ring still works end to end (the design we replace left dead rings). */
#include "testutil.h"

#include <liburing.h>

int main(void)
{
    urk_ring_t *r = t_ring(URK_RING_FORCE_FALLBACK);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    uint32_t want = URK_RING_ACTIVE_FALLBACK | URK_RING_ACTIVE_COOP_TASKRUN |
                    URK_RING_ACTIVE_ENABLED | URK_RING_ACTIVE_REGISTERED_FD;
    if (info.active != want) {
        fprintf(stderr, "active 0x%x, want 0x%x\n", info.active, want);
        return 1;
    }
    CHECK(!(info.setup_flags & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER)));
    t_ring_end_to_end(r, 3);
    /* Without SINGLE_ISSUER another thread may submit: not checked here
     * (one ring per thread stays the rule), but completions keep flowing
     * from task work run outside GETEVENTS. */
    CHECK_OK(urk_prep_nop(r, 9, 0));
    urk_cqe_t c = t_wait_for(r, 9);
    CHECK(c.res == 0);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

/* Default ring: SINGLE_ISSUER + DEFER_TASKRUN (6.1+, DEFER_TASKRUN requires SINGLE_ISSUER) with a
 * registered ring fd, enabled, no fallback; works end to end. */
#include "testutil.h"

#include <liburing.h>

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    if (!(caps & URK_CAP_DEFER_TASKRUN))
        t_skip("kernel lacks DEFER_TASKRUN");
    urk_ring_t *r = t_ring(0);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    uint32_t want = URK_RING_ACTIVE_SINGLE_ISSUER | URK_RING_ACTIVE_DEFER_TASKRUN |
                    URK_RING_ACTIVE_REGISTERED_FD | URK_RING_ACTIVE_ENABLED;
    if (info.active != want) {
        fprintf(stderr, "active 0x%x, want 0x%x\n", info.active, want);
        return 1;
    }
    CHECK(info.setup_flags & IORING_SETUP_SINGLE_ISSUER);
    CHECK(info.setup_flags & IORING_SETUP_DEFER_TASKRUN);
    CHECK(!(info.setup_flags & (IORING_SETUP_SQPOLL | IORING_SETUP_COOP_TASKRUN)));
    CHECK(info.features & IORING_FEAT_NODROP);
    CHECK(urk_ring_fd(r) >= 0);
    t_ring_end_to_end(r, 1);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

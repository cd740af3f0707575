/* URK_RING_NO_DEFER_TASKRUN: COOP_TASKRUN instead, without SINGLE_ISSUER and
 * without claiming a fallback (it was asked for); works end to end. */
#include "testutil.h"

#include <liburing.h>

int main(void)
{
    urk_ring_t *r = t_ring(URK_RING_NO_DEFER_TASKRUN);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.active & URK_RING_ACTIVE_COOP_TASKRUN);
    CHECK(info.active & URK_RING_ACTIVE_ENABLED);
    CHECK(!(info.active & (URK_RING_ACTIVE_DEFER_TASKRUN | URK_RING_ACTIVE_SINGLE_ISSUER |
                           URK_RING_ACTIVE_FALLBACK | URK_RING_ACTIVE_SQPOLL)));
    CHECK(info.setup_flags & IORING_SETUP_COOP_TASKRUN);
    CHECK(!(info.setup_flags & IORING_SETUP_DEFER_TASKRUN));
    t_ring_end_to_end(r, 2);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

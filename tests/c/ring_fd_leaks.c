/* Creating and destroying rings and buffer rings 100 times leaks neither
 * descriptors nor mappings: the fd count and the number of mappings return
 * to their baseline. Covers every ring flavour, rings destroyed with buffer
 * rings and pending ops still attached, and registered ring fds (a slot
 * left registered would keep the ring's memory alive). */
#include "testutil.h"

static void one_cycle(int i)
{
    static const uint32_t flavours[] = {0, URK_RING_NO_DEFER_TASKRUN, URK_RING_FORCE_FALLBACK,
                                        URK_RING_NO_REGISTER_FD, URK_RING_DISABLED};
    uint32_t flags = flavours[i % 5];
    urk_ring_t *r = t_ring_sized(8, 16, flags);
    if (flags & URK_RING_DISABLED)
        CHECK_OK(urk_ring_enable(r));
    urk_bufring_t *a = t_bufring(r, 1, 16, 512, 0);
    urk_bufring_t *b = t_bufring(r, 2, 8, 4096, (i % 3 == 0) ? URK_BUFRING_INC : 0);
    /* Some ops in flight when the ring goes. */
    CHECK_OK(urk_prep_timeout(r, 10ull * 1000000000, 0, 1, 0));
    CHECK_OK(urk_prep_nop(r, 2, 0));
    urk_cqe_t c;
    CHECK(urk_ring_complete(r, &c, 1, 1, 1000000000) == 1);
    if (i % 2)
        urk_bufring_destroy(a); /* explicitly, or by urk_ring_destroy */
    (void)b;
    urk_ring_destroy(r);
}

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    if (!(caps & URK_CAP_BUF_RING_INC))
        t_skip("test uses URK_BUFRING_INC");
    one_cycle(0); /* warm up lazily allocated process state */
    int fds = t_fd_count(), maps = t_map_count();
    for (int i = 0; i < 100; i++)
        one_cycle(i);
    int fds_after = t_fd_count(), maps_after = t_map_count();
    if (fds_after != fds || maps_after > maps) {
        fprintf(stderr, "fds %d -> %d, mappings %d -> %d\n", fds, fds_after, maps, maps_after);
        return 1;
    }
    /* A ring with a registered fd also releases the kernel ring: creating
     * many more than the registered-fd table holds (16 per thread) works. */
    for (int i = 0; i < 40; i++) {
        urk_ring_t *r = t_ring_sized(4, 8, 0);
        urk_ring_info_t info;
        CHECK_OK(urk_ring_info(r, &info));
        CHECK(info.active & URK_RING_ACTIVE_REGISTERED_FD);
        urk_ring_destroy(r);
    }
    CHECK(t_fd_count() == fds);
    printf("ok (fds %d, mappings %d)\n", fds, maps);
    return 0;
}

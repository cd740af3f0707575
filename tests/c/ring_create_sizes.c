/* Ring creation sizes: the SQ/CQ sizes asked for are the ones granted (read
 * back with urk_ring_info), defaults are 256 / max(16 x sq, 4096), and every
 * size works end to end with a no-op. */
#include "testutil.h"

#include <liburing.h> /* raw IORING_SETUP_* bits reported by urk_ring_info */

static void check_sizes(uint32_t sq, uint32_t cq, uint32_t want_sq, uint32_t want_cq)
{
    urk_ring_t *r = t_ring_sized(sq, cq, 0);
    urk_ring_info_t info;
    memset(&info, 0xAB, sizeof info);
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.struct_size == sizeof info);
    if (info.sq_entries != want_sq || info.cq_entries != want_cq) {
        fprintf(stderr, "asked sq=%u cq=%u: got sq=%u cq=%u, want %u/%u\n", sq, cq,
                info.sq_entries, info.cq_entries, want_sq, want_cq);
        exit(1);
    }
    CHECK(info.setup_flags & IORING_SETUP_CQSIZE);
    /* The ring is usable at that size: fill the whole SQ once. */
    for (uint32_t i = 0; i < want_sq; i++)
        CHECK_OK(urk_prep_nop(r, 1000 + i, 0));
    CHECK(urk_ring_submit(r) == (int)want_sq);
    urk_cqe_t *c = calloc(want_sq, sizeof *c);
    t_collect(r, c, want_sq, 5000);
    for (uint32_t i = 0; i < want_sq; i++)
        CHECK(c[i].res == 0 && c[i].user_data >= 1000 && c[i].user_data < 1000 + want_sq);
    free(c);
    urk_ring_destroy(r);
}

int main(void)
{
    /* Defaults through a NULL opts pointer and through opts_init. */
    urk_ring_t *r = NULL;
    CHECK_OK(urk_ring_create(NULL, &r));
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.sq_entries == 256 && info.cq_entries == 4096);
    urk_ring_destroy(r);

    urk_ring_opts_t o;
    memset(&o, 0x5A, sizeof o);
    CHECK_OK(urk_ring_opts_init(&o));
    CHECK(o.struct_size == sizeof o && o.flags == 0 && o.sq_entries == 256 &&
          o.cq_entries == 0 && o.sqpoll_idle_ms == 1000 && o.sqpoll_cpu == -1);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        CHECK(o.reserved[i] == 0);

    check_sizes(1, 0, 1, 4096);
    check_sizes(4, 8, 4, 8);
    check_sizes(16, 128, 16, 128);
    check_sizes(64, 64, 64, 64);         /* cq == sq is allowed */
    check_sizes(512, 0, 512, 8192);      /* 16 x sq */
    check_sizes(4096, 0, 4096, 65536);   /* 16 x sq capped at the kernel max */
    check_sizes(32768, 65536, 32768, 65536);
    printf("ok\n");
    return 0;
}

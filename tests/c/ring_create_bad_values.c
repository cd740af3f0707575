/* Bad ring and buffer-ring options are refused with -EINVAL before anything
 * is allocated, and *out is NULL afterwards. */
#include "testutil.h"

static int try_ring(uint32_t flags, uint32_t sq, uint32_t cq, int reserved_index)
{
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    o.flags = flags;
    o.sq_entries = sq;
    o.cq_entries = cq;
    if (reserved_index >= 0)
        o.reserved[reserved_index] = 1;
    urk_ring_t *r = (urk_ring_t *)&o;
    int rc = urk_ring_create(&o, &r);
    if (rc == 0)
        urk_ring_destroy(r);
    else
        CHECK(r == NULL);
    return rc;
}

static int try_bufring(urk_ring_t *r, uint32_t flags, uint32_t count, uint32_t size,
                       int reserved_index)
{
    urk_bufring_opts_t o;
    CHECK_OK(urk_bufring_opts_init(&o));
    o.flags = flags;
    o.count = count;
    o.size = size;
    o.group_id = 77;
    if (reserved_index == 0)
        o.reserved0 = 1;
    else if (reserved_index > 0)
        o.reserved[reserved_index - 1] = 1;
    urk_bufring_t *br = (urk_bufring_t *)&o;
    int rc = urk_bufring_create(r, &o, &br);
    if (rc == 0)
        urk_bufring_destroy(br);
    else
        CHECK(br == NULL);
    return rc;
}

int main(void)
{
    int fds = t_fd_count();
    /* sq: power of two, 1..32768 */
    CHECK_RC(try_ring(0, 0, 0, -1), -EINVAL);
    CHECK_RC(try_ring(0, 3, 0, -1), -EINVAL);
    CHECK_RC(try_ring(0, 100, 0, -1), -EINVAL);
    CHECK_RC(try_ring(0, 65536, 0, -1), -EINVAL);
    CHECK_RC(try_ring(0, 0x80000000u, 0, -1), -EINVAL);
    CHECK_RC(try_ring(0, 0xFFFFFFFFu, 0, -1), -EINVAL);
    /* cq: power of two, >= sq, <= 65536 */
    CHECK_RC(try_ring(0, 16, 8, -1), -EINVAL);
    CHECK_RC(try_ring(0, 16, 24, -1), -EINVAL);
    CHECK_RC(try_ring(0, 16, 131072, -1), -EINVAL);
    CHECK_RC(try_ring(0, 16, 0xFFFFFFFFu, -1), -EINVAL);
    /* unknown flags, each bit */
    for (int bit = 5; bit < 32; bit++)
        CHECK_RC(try_ring(1u << bit, 16, 0, -1), -EINVAL);
    /* reserved words must be zero */
    for (int i = 0; i < 6; i++)
        CHECK_RC(try_ring(0, 16, 0, i), -EINVAL);
    /* boundaries that are fine */
    CHECK_RC(try_ring(0, 1, 1, -1), 0);
    CHECK_RC(try_ring(0, 32768, 65536, -1), 0);
    CHECK_RC(urk_ring_create(NULL, NULL), -EINVAL);
    CHECK_RC(urk_ring_opts_init(NULL), -EINVAL);

    urk_ring_t *r = t_ring(0);
    CHECK_RC(try_bufring(r, 0, 0, 64, -1), -EINVAL);
    CHECK_RC(try_bufring(r, 0, 3, 64, -1), -EINVAL);
    CHECK_RC(try_bufring(r, 0, 65536, 64, -1), -EINVAL);
    CHECK_RC(try_bufring(r, 0, 8, 0, -1), -EINVAL);
    CHECK_RC(try_bufring(r, 0, 8, (1u << 30) + 1, -1), -EINVAL);
    for (int bit = 1; bit < 32; bit++)
        CHECK_RC(try_bufring(r, 1u << bit, 8, 64, -1), -EINVAL);
    for (int i = 0; i < 4; i++)
        CHECK_RC(try_bufring(r, 0, 8, 64, i), -EINVAL);
    CHECK_RC(try_bufring(r, 0, 1, 1, -1), 0);
    CHECK_RC(try_bufring(r, 0, 32768, 16, -1), 0);
    /* count x size beyond what can be mapped: an error, not a crash */
    int rc = try_bufring(r, 0, 32768, 1u << 30, -1);
    CHECK(rc == -ENOMEM || rc == -EINVAL);
    CHECK_RC(urk_bufring_opts_init(NULL), -EINVAL);
    t_ring_end_to_end(r, 1);
    urk_ring_destroy(r);
    CHECK(t_fd_count() == fds);
    printf("ok\n");
    return 0;
}

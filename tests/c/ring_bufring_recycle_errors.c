/* Recycling is checked and atomic: a bid the kernel owns is -EALREADY, an
 * out-of-range bid -EINVAL, a duplicate in one batch -EALREADY; in each
 * case nothing of the batch is recycled. A taken group id is -EEXIST. */
#include "testutil.h"

enum { UD_RECV = 1 };

static uint16_t take_one(urk_ring_t *r, int cfd, uint8_t tag)
{
    t_write_all(cfd, &tag, 1);
    urk_cqe_t c = t_wait_for(r, UD_RECV);
    CHECK(c.res == 1 && (c.flags & URK_CQE_F_BUFFER) && ((uint8_t *)c.buf)[0] == tag);
    return c.buf_id;
}

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_t *br = t_bufring(r, 4, 8, 32, 0);

    /* Duplicate group: refused, the first one still works. */
    urk_bufring_opts_t o;
    CHECK_OK(urk_bufring_opts_init(&o));
    o.group_id = 4;
    o.count = 2;
    urk_bufring_t *dup = (urk_bufring_t *)&o;
    CHECK_RC(urk_bufring_create(r, &o, &dup), -EEXIST);
    CHECK(dup == NULL);

    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 4, UD_RECV, 0));
    uint16_t a = take_one(r, cfd, 'a');
    uint16_t b = take_one(r, cfd, 'b');
    uint16_t c = take_one(r, cfd, 'c');
    CHECK(urk_bufring_available(br) == 5);
    uint16_t owned = 0;
    while (owned == a || owned == b || owned == c)
        owned++;

    /* Kernel-owned bid alone, and at the end of a batch of held ones. */
    CHECK_RC(urk_bufring_recycle(br, &owned, 1), -EALREADY);
    uint16_t batch1[] = {a, b, owned};
    CHECK_RC(urk_bufring_recycle(br, batch1, 3), -EALREADY);
    CHECK(urk_bufring_available(br) == 5);
    /* Out of range, after held ones. */
    uint16_t batch2[] = {a, c, 8};
    CHECK_RC(urk_bufring_recycle(br, batch2, 3), -EINVAL);
    uint16_t big = 0xFFFF;
    CHECK_RC(urk_bufring_recycle(br, &big, 1), -EINVAL);
    /* The same held bid twice in one batch. */
    uint16_t batch3[] = {b, a, b};
    CHECK_RC(urk_bufring_recycle(br, batch3, 3), -EALREADY);
    CHECK(urk_bufring_available(br) == 5);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 3);
    CHECK_RC(urk_bufring_recycle(NULL, &a, 1), -EINVAL);
    CHECK_RC(urk_bufring_recycle(br, NULL, 1), -EINVAL);

    /* All three are still held: each recycles exactly once. */
    CHECK_RC(urk_bufring_recycle(br, &a, 1), 1);
    CHECK_RC(urk_bufring_recycle(br, &a, 1), -EALREADY);
    uint16_t bc[] = {b, c};
    CHECK_RC(urk_bufring_recycle(br, bc, 2), 2);
    CHECK_RC(urk_bufring_recycle(br, bc, 2), -EALREADY);
    CHECK(urk_bufring_available(br) == 8);
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 0);

    /* Nothing was lost or duplicated: 8 more messages use 8 distinct bids. */
    int seen[8] = {0};
    uint16_t all[8];
    for (int i = 0; i < 8; i++) {
        all[i] = take_one(r, cfd, (uint8_t)('0' + i));
        CHECK(!seen[all[i]]);
        seen[all[i]] = 1;
    }
    CHECK(urk_bufring_available(br) == 0);
    CHECK_RC(urk_bufring_recycle(br, all, 8), 8);

    /* Group id free again after destroy. */
    urk_bufring_t *g9 = t_bufring(r, 9, 2, 32, 0);
    urk_bufring_destroy(g9);
    g9 = t_bufring(r, 9, 2, 32, 0);
    urk_bufring_destroy(g9);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

/* Two buffer groups on one ring: a CQE names the buffer id but not the
 * group, so the shim maps user_data -> group. Each connection's data must
 * come from its own group, including a recv armed while the ring had only
 * one group and completing after a second group was added. */
#include "testutil.h"

enum { UD_A = 0xA, UD_B = 0xB };

static void expect_msg(urk_ring_t *r, uint64_t ud, uint16_t group, uint32_t size,
                       urk_bufring_t *br, const char *msg)
{
    urk_cqe_t c = t_wait_for(r, ud);
    size_t len = strlen(msg);
    if (!(c.flags & URK_CQE_F_BUFFER) || c.res != (int)len) {
        fprintf(stderr, "ud %llx: res %d flags 0x%x (buffer lost?)\n",
                (unsigned long long)ud, c.res, c.flags);
        exit(1);
    }
    CHECK(c.buf_group == group && c.buf_len == len && c.buf_id < 4);
    void *start;
    CHECK_OK(urk_bufring_buf(br, c.buf_id, &start));
    CHECK(c.buf == start);
    CHECK(memcmp(c.buf, msg, len) == 0);
    (void)size;
    CHECK_RC(urk_bufring_recycle(br, &c.buf_id, 1), 1);
}

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_t *g1 = t_bufring(r, 1, 4, 100, 0);
    int ca, sa, cb, sb;
    t_tcp_pair(0, &ca, &sa);
    t_tcp_pair(0, &cb, &sb);
    /* Armed while g1 is the only group... */
    CHECK_OK(urk_prep_recv_multishot(r, sa, 1, UD_A, 0));
    CHECK(urk_ring_submit(r) == 1);
    t_expect_none(r, 10);
    /* ...then a second group appears before any data. */
    urk_bufring_t *g2 = t_bufring(r, 2, 4, 200, 0);
    CHECK_OK(urk_prep_recv_multishot(r, sb, 2, UD_B, 0));
    CHECK(urk_ring_submit(r) == 1);

    for (int i = 0; i < 20; i++) {
        char ma[48], mb[48];
        snprintf(ma, sizeof ma, "conn A message %d", i);
        snprintf(mb, sizeof mb, "conn B message number %d", i);
        t_write_all(ca, ma, strlen(ma));
        expect_msg(r, UD_A, 1, 100, g1, ma);
        t_write_all(cb, mb, strlen(mb));
        expect_msg(r, UD_B, 2, 200, g2, mb);
    }
    CHECK(urk_bufring_available(g1) == 4 && urk_bufring_available(g2) == 4);

    /* Interleaved: both connections' data pending in one harvest. */
    t_write_all(ca, "xa", 2);
    t_write_all(cb, "yb", 2);
    urk_cqe_t c[2];
    t_collect(r, c, 2, 5000);
    for (int i = 0; i < 2; i++) {
        CHECK(c[i].flags & URK_CQE_F_BUFFER);
        if (c[i].user_data == UD_A) {
            CHECK(c[i].buf_group == 1 && memcmp(c[i].buf, "xa", 2) == 0);
            CHECK_RC(urk_bufring_recycle(g1, &c[i].buf_id, 1), 1);
        } else {
            CHECK(c[i].user_data == UD_B);
            CHECK(c[i].buf_group == 2 && memcmp(c[i].buf, "yb", 2) == 0);
            CHECK_RC(urk_bufring_recycle(g2, &c[i].buf_id, 1), 1);
        }
    }
    /* Every user_data value works as a key, UINT64_MAX included. */
    int cm, sm;
    t_tcp_pair(0, &cm, &sm);
    CHECK_OK(urk_prep_recv_multishot(r, sm, 1, UINT64_MAX, 0));
    t_write_all(cm, "max key", 7);
    expect_msg(r, UINT64_MAX, 1, 100, g1, "max key");
    close(cm);
    urk_cqe_t m = t_wait_for(r, UINT64_MAX);
    CHECK(m.res == 0 && !(m.flags & URK_CQE_F_MORE));
    close(sm);

    /* Destroying one group leaves the other working. */
    close(ca);
    urk_cqe_t e = t_wait_for(r, UD_A);
    CHECK(e.res == 0 && !(e.flags & URK_CQE_F_MORE));
    urk_bufring_destroy(g1);
    t_write_all(cb, "still here", 10);
    expect_msg(r, UD_B, 2, 200, g2, "still here");
    CHECK(urk_bufring_available(g2) == 4);
    close(cb);
    close(sa);
    close(sb);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

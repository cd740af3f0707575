/* Buffer ring basics: buffers are count x size bytes at distinct addresses,
 * each completion takes one buffer (available drops, stats.bufs_out rises),
 * data sits at urk_cqe_t.buf, and one batched recycle gives them all back. */
#include "testutil.h"

enum { UD_RECV = 7 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_t *br = t_bufring(r, 11, 8, 64, 0);
    CHECK(urk_bufring_group(br) == 11);
    CHECK(urk_bufring_available(br) == 8);
    uint8_t *base;
    CHECK_OK(urk_bufring_buf(br, 0, (void **)&base));
    for (uint32_t i = 0; i < 8; i++) {
        void *p;
        CHECK_OK(urk_bufring_buf(br, i, &p));
        CHECK((uint8_t *)p == base + i * 64);
        memset(p, 0xEE, 64); /* writable */
    }

    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 11, UD_RECV, 0));
    CHECK(urk_ring_submit(r) == 1);

    /* One message at a time so each lands in its own buffer. */
    uint16_t held[8];
    int seen[8] = {0};
    for (int i = 0; i < 8; i++) {
        uint8_t msg[40];
        t_fill(msg, sizeof msg, (uint64_t)i + 100);
        t_write_all(cfd, msg, sizeof msg);
        urk_cqe_t c = t_wait_for(r, UD_RECV);
        CHECK(c.res == (int)sizeof msg);
        CHECK((c.flags & URK_CQE_F_BUFFER) && (c.flags & URK_CQE_F_MORE));
        CHECK(c.buf_id < 8 && !seen[c.buf_id]);
        seen[c.buf_id] = 1;
        CHECK(c.buf_group == 11 && c.buf_len == sizeof msg);
        CHECK((uint8_t *)c.buf == base + (size_t)c.buf_id * 64);
        CHECK(memcmp(c.buf, msg, sizeof msg) == 0);
        held[i] = c.buf_id;
        CHECK(urk_bufring_available(br) == 7 - i);
        urk_ring_stats_t st;
        CHECK_OK(urk_ring_stats(r, &st));
        CHECK(st.bufs_out == (uint64_t)i + 1);
    }
    /* Held buffers keep their data while held. */
    CHECK_RC(urk_bufring_recycle(br, held, 0), 0);
    CHECK_RC(urk_bufring_recycle(br, NULL, 0), 0);
    CHECK(urk_bufring_available(br) == 0);
    CHECK_RC(urk_bufring_recycle(br, held, 8), 8);
    CHECK(urk_bufring_available(br) == 8);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 0 && st.enobufs == 0);

    /* Recycled buffers are used again: 3 more rounds through all 8. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 8; i++) {
            uint8_t msg[64];
            t_fill(msg, sizeof msg, (uint64_t)(round * 8 + i));
            t_write_all(cfd, msg, sizeof msg);
            urk_cqe_t c = t_wait_for(r, UD_RECV);
            CHECK(c.res == 64 && (c.flags & URK_CQE_F_MORE));
            CHECK(memcmp(c.buf, msg, 64) == 0);
            held[i] = c.buf_id;
        }
        CHECK(urk_bufring_available(br) == 0);
        /* Recycle in a different order than received. */
        uint16_t rev[8];
        for (int i = 0; i < 8; i++)
            rev[i] = held[7 - i];
        CHECK_RC(urk_bufring_recycle(br, rev, 4), 4);
        CHECK(urk_bufring_available(br) == 4);
        CHECK_RC(urk_bufring_recycle(br, rev + 4, 4), 4);
        CHECK(urk_bufring_available(br) == 8);
    }
    close(cfd);
    urk_cqe_t c = t_wait_for(r, UD_RECV);
    CHECK(c.res == 0 && !(c.flags & URK_CQE_F_MORE) && !(c.flags & URK_CQE_F_BUFFER));
    CHECK(urk_bufring_available(br) == 8);
    close(sfd);
    urk_ring_destroy(r); /* destroys br too */
    printf("ok\n");
    return 0;
}

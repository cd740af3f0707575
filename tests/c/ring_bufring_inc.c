/* Incremental consumption (URK_BUFRING_INC, 6.12+): several small messages
 * land in one buffer at increasing offsets (URK_CQE_F_BUF_MORE while the
 * kernel keeps it), and the buffer returns to the kernel only once the
 * kernel is done with it and every piece was recycled. */
#include "testutil.h"

enum { UD_RECV = 3 };
#define SIZE 256

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    urk_ring_t *r = t_ring(0);
    if (!(caps & URK_CAP_BUF_RING_INC)) {
        urk_bufring_opts_t o;
        urk_bufring_opts_init(&o);
        o.flags = URK_BUFRING_INC;
        urk_bufring_t *br;
        CHECK_RC(urk_bufring_create(r, &o, &br), -URK_ENOTSUP);
        t_skip("kernel lacks incremental buffer consumption");
    }
    urk_bufring_t *br = t_bufring(r, 6, 2, SIZE, URK_BUFRING_INC);
    uint8_t *base0, *base1;
    CHECK_OK(urk_bufring_buf(br, 0, (void **)&base0));
    CHECK_OK(urk_bufring_buf(br, 1, (void **)&base1));
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 6, UD_RECV, 0));

    /* 5 x 40 bytes: one buffer, offsets 0, 40, 80, ... */
    uint16_t pieces[16];
    int np = 0;
    int bid = -1;
    for (int i = 0; i < 5; i++) {
        uint8_t m[40];
        t_fill(m, sizeof m, (uint64_t)i);
        t_write_all(cfd, m, sizeof m);
        urk_cqe_t c = t_wait_for(r, UD_RECV);
        CHECK(c.res == 40 && (c.flags & URK_CQE_F_BUFFER) && (c.flags & URK_CQE_F_MORE));
        CHECK(c.flags & URK_CQE_F_BUF_MORE);
        if (bid < 0)
            bid = c.buf_id;
        CHECK(c.buf_id == bid);
        uint8_t *start = bid == 0 ? base0 : base1;
        CHECK((uint8_t *)c.buf == start + 40 * i);
        CHECK(memcmp(c.buf, m, 40) == 0);
        pieces[np++] = c.buf_id;
        /* The kernel still owns the rest of the buffer. */
        CHECK(urk_bufring_available(br) == 2);
    }
    /* Recycling pieces while the kernel keeps the buffer: accepted, but
     * the buffer is not handed out twice. */
    CHECK_RC(urk_bufring_recycle(br, pieces, 2), 2);
    CHECK(urk_bufring_available(br) == 2);

    /* 56 more bytes fill the buffer exactly: no BUF_MORE, the kernel is
     * done with it; it stays out until the remaining pieces come back. */
    uint8_t fill[56];
    t_fill(fill, sizeof fill, 99);
    t_write_all(cfd, fill, sizeof fill);
    urk_cqe_t c = t_wait_for(r, UD_RECV);
    CHECK(c.res == 56 && c.buf_id == bid && !(c.flags & URK_CQE_F_BUF_MORE));
    CHECK((uint8_t *)c.buf == (bid == 0 ? base0 : base1) + 200);
    CHECK(memcmp(c.buf, fill, 56) == 0);
    pieces[np++] = c.buf_id;
    CHECK(urk_bufring_available(br) == 1);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 4);
    CHECK_RC(urk_bufring_recycle(br, pieces + 2, 3), 3);
    CHECK(urk_bufring_available(br) == 1);
    CHECK_RC(urk_bufring_recycle(br, pieces + 5, 1), 1);
    CHECK(urk_bufring_available(br) == 2);
    /* Too many recycles of the same buffer: refused. */
    CHECK_RC(urk_bufring_recycle(br, pieces, 1), -EALREADY);

    /* A message larger than what is left spills into the next buffer, and
     * the whole stream stays byte-exact across buffer reuse. */
    size_t len = 4000, got = 0;
    uint8_t out[4000], in[4000];
    t_fill(out, len, 7);
    t_write_all(cfd, out, len);
    uint64_t deadline = t_now_ms() + 5000;
    while (got < len) {
        CHECK(t_now_ms() < deadline);
        urk_cqe_t cq[8];
        int n = urk_ring_complete(r, cq, 8, 1, 100000000);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (cq[i].res == -ENOBUFS) {
                CHECK(!(cq[i].flags & URK_CQE_F_MORE));
                CHECK_OK(urk_prep_recv_multishot(r, sfd, 6, UD_RECV, 0));
                continue;
            }
            CHECK(cq[i].res > 0 && cq[i].res <= SIZE);
            memcpy(in + got, cq[i].buf, (size_t)cq[i].res);
            got += (size_t)cq[i].res;
            CHECK_RC(urk_bufring_recycle(br, &cq[i].buf_id, 1), 1);
            if (!(cq[i].flags & URK_CQE_F_MORE))
                CHECK_OK(urk_prep_recv_multishot(r, sfd, 6, UD_RECV, 0));
        }
    }
    CHECK(memcmp(in, out, len) == 0);
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 0);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

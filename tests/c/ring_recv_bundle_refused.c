/* URK_RECV_BUNDLE is refused with -URK_ENOTSUP in 0.1.0, on every kernel.
 * A bundle completion covers several provided buffers (in ring order), but
 * urk_cqe_t describes one: with bundles on, a 256-byte completion over
 * 64-byte buffers came back as one buffer with buf_len 256 (reading past
 * its end) and the other three buffers were never returned. Refusing keeps
 * the contract (buf_len <= buffer size, every buffer comes back) until the
 * completion format can describe a bundle. */
#include "testutil.h"

enum { UD_RECV = 0xB0 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_t *br = t_bufring(r, 1, 8, 64, 0);
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_RC(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, URK_RECV_BUNDLE), -URK_ENOTSUP);
    CHECK_RC(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, URK_RECV_BUNDLE | URK_OP_ASYNC),
             -URK_ENOTSUP);
    /* Argument errors still take precedence. */
    CHECK_RC(urk_prep_recv_multishot(r, sfd, 2, UD_RECV, URK_RECV_BUNDLE), -ENOENT);
    CHECK_RC(urk_prep_recv_multishot(r, -1, 1, UD_RECV, URK_RECV_BUNDLE), -EBADF);
    CHECK_RC(urk_ring_submit(r), 0); /* nothing queued */

    /* Without the flag the same burst arrives one buffer per completion. */
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, 0));
    uint8_t out[256], in[256];
    t_fill(out, sizeof out, 3);
    t_write_all(cfd, out, sizeof out);
    size_t got = 0;
    uint16_t bids[8];
    int nb = 0;
    while (got < sizeof out) {
        urk_cqe_t c = t_wait_for(r, UD_RECV);
        CHECK(c.res > 0 && c.buf_len <= 64 && (c.flags & URK_CQE_F_MORE));
        memcpy(in + got, c.buf, c.buf_len);
        got += c.buf_len;
        bids[nb++] = c.buf_id;
    }
    CHECK(memcmp(in, out, sizeof out) == 0);
    CHECK_RC(urk_bufring_recycle(br, bids, (uint32_t)nb), nb);
    CHECK(urk_bufring_available(br) == 8);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

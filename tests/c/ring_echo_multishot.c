/* Multishot accept + multishot recv with provided buffers + send: a byte-exact
 * echo for payloads from 1 byte to 4 MiB. */
#include "testutil.h"

enum { UD_ACCEPT = 1, UD_RECV = 2, UD_SEND = 3 };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_opts_t bo;
    urk_bufring_opts_init(&bo);
    bo.count = 64;
    bo.size = 16384;
    bo.group_id = 3;
    urk_bufring_t *br;
    CHECK_OK(urk_bufring_create(r, &bo, &br));

    uint16_t port;
    int lfd = t_listen(0, &port);
    CHECK_OK(urk_prep_accept_multishot(r, lfd, UD_ACCEPT, 0));
    CHECK(urk_ring_submit(r) == 1);
    int cfd = t_connect(0, port);
    urk_cqe_t c = t_wait_for(r, UD_ACCEPT);
    CHECK(c.res >= 0 && (c.flags & URK_CQE_F_MORE));
    int sfd = c.res;
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 3, UD_RECV, 0));

    int enobufs = 0;
    static const size_t sizes[] = {1, 2, 100, 4096, 16384, 16385, 65536, 1 << 20, 4 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = sizes[s];
        uint8_t *out = malloc(len), *back = malloc(len), *echo = malloc(len);
        t_fill(out, len, s + 1);
        /* Client writes from a thread-free loop: interleave writes and reads
         * so neither side's socket buffer fills up. */
        size_t written = 0, got_srv = 0, got_cli = 0, sent_srv = 0;
        int send_busy = 0, need_rearm = 0;
        fcntl(cfd, F_SETFL, O_NONBLOCK);
        while (got_cli < len) {
            if (written < len) {
                ssize_t n = write(cfd, out + written, len - written);
                if (n > 0)
                    written += (size_t)n;
            }
            if (!send_busy && sent_srv < got_srv) {
                CHECK_OK(urk_prep_send(r, sfd, echo + sent_srv, (uint32_t)(got_srv - sent_srv),
                                       0, UD_SEND, 0));
                send_busy = 1;
            }
            urk_cqe_t cq[32];
            int n = urk_ring_complete(r, cq, 32, 0, 0);
            CHECK(n >= 0);
            uint16_t bids[32];
            int nb = 0;
            for (int i = 0; i < n; i++) {
                if (cq[i].user_data == UD_RECV) {
                    if (cq[i].res == -ENOBUFS) {
                        /* Transient: every buffer sits in unharvested CQEs.
                         * Re-arm once they are recycled. */
                        CHECK(!(cq[i].flags & URK_CQE_F_MORE));
                        need_rearm = 1;
                        enobufs++;
                        continue;
                    }
                    CHECK(cq[i].res > 0);
                    CHECK(cq[i].flags & URK_CQE_F_BUFFER);
                    CHECK(cq[i].buf_group == 3 && cq[i].buf_len == (uint32_t)cq[i].res);
                    CHECK(got_srv + cq[i].buf_len <= len);
                    memcpy(echo + got_srv, cq[i].buf, cq[i].buf_len);
                    got_srv += cq[i].buf_len;
                    bids[nb++] = cq[i].buf_id;
                    if (!(cq[i].flags & URK_CQE_F_MORE))
                        need_rearm = 1;
                } else if (cq[i].user_data == UD_SEND) {
                    CHECK(cq[i].res > 0);
                    sent_srv += (size_t)cq[i].res; /* partial sends continue */
                    send_busy = 0;
                }
            }
            if (nb)
                CHECK_RC(urk_bufring_recycle(br, bids, (uint32_t)nb), nb);
            if (need_rearm && urk_bufring_available(br) > 0) {
                CHECK_OK(urk_prep_recv_multishot(r, sfd, 3, UD_RECV, 0));
                need_rearm = 0;
            }
            ssize_t m = read(cfd, back + got_cli, len - got_cli);
            if (m > 0)
                got_cli += (size_t)m;
        }
        CHECK(memcmp(out, back, len) == 0);
        CHECK(urk_bufring_available(br) == 64);
        free(out); free(back); free(echo);
    }
    close(cfd);
    close(sfd);
    close(lfd);
    urk_ring_destroy(r);
    printf("ok (%d transient ENOBUFS recovered)\n", enobufs);
    return 0;
}

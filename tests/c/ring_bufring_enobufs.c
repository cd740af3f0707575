/* Buffer exhaustion: with every buffer held, a multishot
 * recv ends with -ENOBUFS and no URK_CQE_F_MORE. It is transient: after the
 * buffers are recycled and the recv re-armed, the waiting data arrives
 * intact, no byte is lost, and available returns to count. */
#include "testutil.h"

enum { UD_RECV = 0x5EC };
#define COUNT 4
#define SIZE 256

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_t *br = t_bufring(r, 2, COUNT, SIZE, 0);
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 2, UD_RECV, 0));

    /* Part 1: fill every buffer with one message each and hold them. */
    uint16_t held[COUNT];
    for (int i = 0; i < COUNT; i++) {
        uint8_t m[10];
        memset(m, 'a' + i, sizeof m);
        t_write_all(cfd, m, sizeof m);
        urk_cqe_t c = t_wait_for(r, UD_RECV);
        CHECK(c.res == 10 && (c.flags & URK_CQE_F_MORE));
        held[i] = c.buf_id;
    }
    CHECK(urk_bufring_available(br) == 0);
    t_write_all(cfd, "overflow!", 9);
    urk_cqe_t c = t_wait_for(r, UD_RECV);
    CHECK(c.res == -ENOBUFS);
    CHECK(!(c.flags & URK_CQE_F_MORE) && !(c.flags & URK_CQE_F_BUFFER) && c.buf == NULL);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.enobufs == 1 && st.bufs_out == COUNT);
    /* The recv is over: nothing more arrives until re-armed. */
    t_expect_none(r, 50);
    CHECK_RC(urk_bufring_recycle(br, held, COUNT), COUNT);
    CHECK(urk_bufring_available(br) == COUNT);
    t_expect_none(r, 50);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 2, UD_RECV, 0));
    c = t_wait_for(r, UD_RECV);
    CHECK(c.res == 9 && memcmp(c.buf, "overflow!", 9) == 0 && (c.flags & URK_CQE_F_MORE));
    CHECK_RC(urk_bufring_recycle(br, &c.buf_id, 1), 1);

    /* Part 2: a 256 KiB stream through 4 x 256 B buffers, recycling only
     * after each ENOBUFS: every byte arrives once, in order. */
    size_t len = 256 * 1024, got = 0;
    uint8_t *out = malloc(len), *in = malloc(len);
    t_fill(out, len, 42);
    fcntl(cfd, F_SETFL, O_NONBLOCK);
    size_t written = 0;
    int enobufs = 0, armed = 1;
    uint16_t hold[COUNT];
    int nhold = 0;
    uint64_t deadline = t_now_ms() + 20000;
    while (got < len) {
        CHECK(t_now_ms() < deadline);
        if (written < len) {
            ssize_t n = write(cfd, out + written, len - written);
            if (n > 0)
                written += (size_t)n;
        }
        urk_cqe_t cq[8];
        int n = urk_ring_complete(r, cq, 8, 1, 20000000);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(cq[i].user_data == UD_RECV);
            if (cq[i].res == -ENOBUFS) {
                CHECK(!(cq[i].flags & URK_CQE_F_MORE));
                CHECK(nhold == COUNT); /* only when all are held */
                armed = 0;
                enobufs++;
                continue;
            }
            CHECK(cq[i].res > 0 && cq[i].res <= SIZE && (cq[i].flags & URK_CQE_F_BUFFER));
            CHECK(got + (size_t)cq[i].res <= len);
            memcpy(in + got, cq[i].buf, (size_t)cq[i].res);
            got += (size_t)cq[i].res;
            hold[nhold++] = cq[i].buf_id;
            if (!(cq[i].flags & URK_CQE_F_MORE))
                armed = 0;
        }
        if (!armed) {
            CHECK_RC(urk_bufring_recycle(br, hold, (uint32_t)nhold), nhold);
            nhold = 0;
            CHECK(urk_bufring_available(br) == COUNT);
            CHECK_OK(urk_prep_recv_multishot(r, sfd, 2, UD_RECV, 0));
            armed = 1;
        }
    }
    CHECK(memcmp(in, out, len) == 0);
    CHECK(enobufs > 10);
    CHECK_RC(urk_bufring_recycle(br, hold, (uint32_t)nhold), nhold);
    CHECK(urk_bufring_available(br) == COUNT);
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 0 && st.enobufs == (uint64_t)enobufs + 1);
    free(out);
    free(in);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    printf("ok (%d ENOBUFS recovered)\n", enobufs);
    return 0;
}

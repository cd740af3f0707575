/* CQ overflow: with a CQ of 8 and hundreds of completions
 * posted before any harvest, nothing is lost (the kernel has NODROP): every
 * completion is harvested exactly once, including overflowed receive
 * completions carrying provided buffers (byte-exact, every buffer back),
 * and stats.cq_overflows counts it. A multishot recv is ended by the
 * kernel when its CQE would overflow (final CQE with data, no MORE): the
 * caller re-arms as after any stop, and no byte is lost. */
#include "testutil.h"

#define NOPS 300
#define NBUF 64
#define BSZ 16
enum { UD_RECV = 0xFFFF0000u };

static void run(uint32_t flags)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    CHECK(caps & URK_CAP_NODROP);
    urk_ring_t *r = t_ring_sized(4, 8, flags);

    /* Part 1: no-ops, submitted by the SQ-full path, never harvested. */
    for (uint64_t i = 0; i < NOPS; i++)
        CHECK_OK(urk_prep_nop(r, i, 0));
    CHECK(urk_ring_submit(r) >= 0);
    static uint8_t seen[NOPS];
    memset(seen, 0, sizeof seen);
    int got = 0;
    uint64_t deadline = t_now_ms() + 5000;
    while (got < NOPS) {
        CHECK(t_now_ms() < deadline);
        urk_cqe_t c[3]; /* small batches: many harvest calls */
        int n = urk_ring_complete(r, c, 3, 0, 0);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(c[i].res == 0 && c[i].user_data < NOPS && !seen[c[i].user_data]);
            seen[c[i].user_data] = 1;
        }
        got += n;
    }
    t_expect_none(r, 10);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.completed == NOPS);
    CHECK(st.cq_overflows > 0);
    uint64_t overflows_before = st.cq_overflows;

    /* Part 2: 64 buffer completions at once into the 8-entry CQ. */
    urk_bufring_t *br = t_bufring(r, 1, NBUF, BSZ, 0);
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    CHECK_OK(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, 0));
    CHECK(urk_ring_submit(r) == 1);
    uint8_t out[NBUF * BSZ], in[NBUF * BSZ];
    t_fill(out, sizeof out, 5);
    t_write_all(cfd, out, sizeof out);
    usleep(50 * 1000); /* let the kernel post them all (or queue the work) */
    size_t have = 0;
    uint16_t bids[NBUF];
    int nb = 0, final = 0, rearms = 0;
    deadline = t_now_ms() + 5000;
    while (have < sizeof out) {
        CHECK(t_now_ms() < deadline);
        urk_cqe_t c[5];
        int n = urk_ring_complete(r, c, 5, 1, 100000000);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(c[i].user_data == UD_RECV);
            if (c[i].res == -ENOBUFS) {
                final = 1;
                continue;
            }
            CHECK(c[i].res > 0 && (c[i].flags & URK_CQE_F_BUFFER));
            CHECK(have + (size_t)c[i].res <= sizeof in);
            memcpy(in + have, c[i].buf, (size_t)c[i].res);
            have += (size_t)c[i].res;
            bids[nb++] = c[i].buf_id;
            /* The kernel ends a multishot rather than overflow its CQEs:
             * the last one has data but no MORE; the rest waits in the
             * socket for a re-arm. */
            if (!(c[i].flags & URK_CQE_F_MORE)) {
                rearms++;
                if (have < sizeof out)
                    CHECK_OK(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, 0));
                else
                    final = 1;
            }
        }
    }
    CHECK(memcmp(in, out, sizeof out) == 0);
    CHECK(nb == NBUF);
    CHECK_RC(urk_bufring_recycle(br, bids, (uint32_t)nb), nb);
    CHECK(urk_bufring_available(br) == NBUF);
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 0);
    CHECK(st.cq_overflows > overflows_before);
    /* The recv may have ended (ENOBUFS with all 64 held, or a full CQ);
     * either way it is usable again after a re-arm. */
    if (final)
        CHECK_OK(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, 0));
    t_write_all(cfd, "tail", 4);
    urk_cqe_t c = t_wait_for(r, UD_RECV);
    if (c.res == -ENOBUFS && !final) { /* posted before the recycle */
        CHECK_OK(urk_prep_recv_multishot(r, sfd, 1, UD_RECV, 0));
        c = t_wait_for(r, UD_RECV);
    }
    CHECK(c.res == 4 && memcmp(c.buf, "tail", 4) == 0);
    printf("flags 0x%x: cq_overflows %llu, recv stopped %d times\n", flags,
           (unsigned long long)st.cq_overflows, rearms);
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
}

int main(void)
{
    run(0);
    run(URK_RING_NO_DEFER_TASKRUN);
    printf("ok\n");
    return 0;
}

/* Cancellation by user_data and by fd. The cancel op completes with 0 (or
 * the count with URK_CANCEL_ALL, -ENOENT when nothing matched); each
 * cancelled op still posts its own final completion: a multishot recv ends
 * with -ECANCELED and no URK_CQE_F_MORE, and its buffers are not leaked. */
#include "testutil.h"

enum { UD_RECV_A = 10, UD_RECV_B = 11, UD_CANCEL = 12, UD_RECV1 = 13 };

/* Collects n completions and returns the one with user_data ud. */
static urk_cqe_t pick(urk_cqe_t *c, int n, uint64_t ud)
{
    for (int i = 0; i < n; i++)
        if (c[i].user_data == ud)
            return c[i];
    fprintf(stderr, "no completion for ud %llu\n", (unsigned long long)ud);
    exit(1);
}

int main(void)
{
    urk_ring_t *r = t_ring(0);
    urk_bufring_t *br = t_bufring(r, 1, 8, 64, 0);
    int ca, sa, cb, sb;
    t_tcp_pair(0, &ca, &sa);
    t_tcp_pair(0, &cb, &sb);
    urk_cqe_t c[4];

    /* By user_data: only the target ends; the other recv keeps going. */
    CHECK_OK(urk_prep_recv_multishot(r, sa, 1, UD_RECV_A, 0));
    CHECK_OK(urk_prep_recv_multishot(r, sb, 1, UD_RECV_B, 0));
    t_write_all(ca, "a1", 2);
    urk_cqe_t d = t_wait_for(r, UD_RECV_A);
    CHECK(d.res == 2 && (d.flags & URK_CQE_F_MORE));
    uint16_t held = d.buf_id; /* held across the cancel */
    CHECK_OK(urk_prep_cancel(r, UD_RECV_A, UD_CANCEL, 0));
    t_collect(r, c, 2, 5000);
    CHECK(pick(c, 2, UD_CANCEL).res == 0);
    urk_cqe_t fin = pick(c, 2, UD_RECV_A);
    CHECK(fin.res == -ECANCELED && !(fin.flags & URK_CQE_F_MORE) && !(fin.flags & URK_CQE_F_BUFFER));
    t_write_all(ca, "a2", 2); /* not received: the recv is gone */
    t_write_all(cb, "b1", 2);
    d = t_wait_for(r, UD_RECV_B);
    CHECK(d.res == 2 && memcmp(d.buf, "b1", 2) == 0 && (d.flags & URK_CQE_F_MORE));
    CHECK_RC(urk_bufring_recycle(br, &d.buf_id, 1), 1);
    /* The buffer held from before the cancel is still valid and ours. */
    CHECK_RC(urk_bufring_recycle(br, &held, 1), 1);

    /* Cancelling it again: nothing matches. */
    CHECK_OK(urk_prep_cancel(r, UD_RECV_A, UD_CANCEL, 0));
    d = t_wait_for(r, UD_CANCEL);
    CHECK_RC(d.res, -ENOENT);

    /* By fd: a single-shot recv and the multishot on sb are both on sb;
     * URK_CANCEL_ALL cancels both and reports the count. */
    uint8_t buf1[16];
    int cc, sc;
    t_tcp_pair(0, &cc, &sc);
    CHECK_OK(urk_prep_recv(r, sc, buf1, sizeof buf1, UD_RECV1, 0));
    CHECK_OK(urk_prep_cancel_fd(r, sc, UD_CANCEL, 0));
    t_collect(r, c, 2, 5000);
    CHECK(pick(c, 2, UD_CANCEL).res == 0);
    CHECK(pick(c, 2, UD_RECV1).res == -ECANCELED);

    CHECK_OK(urk_prep_recv_multishot(r, sc, 1, UD_RECV_A, 0));
    CHECK_OK(urk_prep_recv(r, sb, buf1, sizeof buf1, UD_RECV1, 0)); /* 2nd op on sb */
    CHECK(urk_ring_submit(r) == 2);
    t_expect_none(r, 10);
    CHECK_OK(urk_prep_cancel_fd(r, sb, UD_CANCEL, URK_CANCEL_ALL));
    t_collect(r, c, 3, 5000);
    CHECK_RC(pick(c, 3, UD_CANCEL).res, 2);
    fin = pick(c, 3, UD_RECV_B);
    CHECK(fin.res == -ECANCELED && !(fin.flags & URK_CQE_F_MORE));
    CHECK(pick(c, 3, UD_RECV1).res == -ECANCELED);
    /* The recv on sc was not touched. */
    t_write_all(cc, "c1", 2);
    d = t_wait_for(r, UD_RECV_A);
    CHECK(d.res == 2 && memcmp(d.buf, "c1", 2) == 0);
    CHECK_RC(urk_bufring_recycle(br, &d.buf_id, 1), 1);

    /* CANCEL_ALL by user_data: two timers with one user_data. */
    CHECK_OK(urk_prep_timeout(r, 10ull * 1000000000, 0, 77, 0));
    CHECK_OK(urk_prep_timeout(r, 10ull * 1000000000, 0, 77, 0));
    CHECK_OK(urk_prep_cancel(r, 77, UD_CANCEL, URK_CANCEL_ALL));
    t_collect(r, c, 3, 5000);
    CHECK_RC(pick(c, 3, UD_CANCEL).res, 2);
    int cancelled = 0;
    for (int i = 0; i < 3; i++)
        if (c[i].user_data == 77 && c[i].res == -ECANCELED)
            cancelled++;
    CHECK(cancelled == 2);
    CHECK_OK(urk_prep_cancel_fd(r, sb, UD_CANCEL, URK_CANCEL_ALL));
    d = t_wait_for(r, UD_CANCEL);
    CHECK(d.res == 0 || d.res == -ENOENT); /* nothing left on sb */

    CHECK_OK(urk_prep_cancel_fd(r, sc, UD_CANCEL, 0));
    t_collect(r, c, 2, 5000);
    CHECK(pick(c, 2, UD_RECV_A).res == -ECANCELED);
    CHECK(urk_bufring_available(br) == 8);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.bufs_out == 0);

    /* Flags: CANCEL_ALL is the only op-specific one. */
    CHECK_RC(urk_prep_cancel(r, 1, 2, 1u << 1), -EINVAL);
    CHECK_RC(urk_prep_cancel_fd(r, sc, 2, 1u << 1), -EINVAL);
    CHECK_RC(urk_prep_cancel_fd(r, -1, 2, 0), -EBADF);
    close(ca); close(sa); close(cb); close(sb); close(cc); close(sc);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

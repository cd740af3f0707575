/* SQ full (the design we replace crashed when no SQE was free): with
 * sq_entries 4, 1000 no-ops queued without any submit call in between all
 * succeed (the shim submits the full SQ itself), all 1000 complete exactly
 * once, and stats.sq_full_waits counts the flushes. Same on a COOP ring and
 * an SQPOLL ring. */
#include "testutil.h"

#define N 1000

static void run(uint32_t flags)
{
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    o.flags = flags;
    o.sq_entries = 4;
    o.sqpoll_idle_ms = 10;
    urk_ring_t *r = NULL;
    int rc = urk_ring_create(&o, &r);
    if (rc == -EPERM && (flags & URK_RING_SQPOLL))
        return; /* SQPOLL refused: the other variants still ran */
    CHECK_RC(rc, 0);
    for (uint64_t i = 0; i < N; i++)
        CHECK_OK(urk_prep_nop(r, i, 0));
    static urk_cqe_t c[N];
    t_collect(r, c, N, 10000);
    static uint8_t seen[N];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        CHECK(c[i].res == 0 && c[i].user_data < N && !seen[c[i].user_data]);
        seen[c[i].user_data] = 1;
    }
    t_expect_none(r, 10);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    printf("flags 0x%x: submitted %llu completed %llu sq_full_waits %llu\n", flags,
           (unsigned long long)st.submitted, (unsigned long long)st.completed,
           (unsigned long long)st.sq_full_waits);
    CHECK(st.completed == N);
    CHECK(st.sq_full_waits >= N / 4 - 1);
    CHECK(st.submitted == N); /* exact with SQPOLL too */
    urk_ring_destroy(r);
}

int main(void)
{
    run(0);
    run(URK_RING_NO_DEFER_TASKRUN);
    run(URK_RING_SQPOLL);
    printf("ok\n");
    return 0;
}

/* Every issuer-only ring-layer call made on a thread other than the ring's
 * issuer (here: the creating thread) returns -URK_ETHREAD and changes
 * nothing: each urk_prep_*, urk_ring_submit, urk_ring_complete,
 * urk_ring_register_eventfd / unregister, urk_bufring_create,
 * urk_bufring_recycle, urk_bufring_available. Checked for the three kinds of
 * ring: SINGLE_ISSUER with a registered fd (default), without the
 * registered fd, and a ring the kernel does not bind to a thread at all
 * (NO_DEFER_TASKRUN + NO_REGISTER_FD). Afterwards the issuer still gets
 * exactly its own completions, and the buffer the intruder tried to recycle
 * is still held. Thread-safe calls (urk_ring_fd, info, stats,
 * urk_bufring_buf, urk_bufring_group) work from the other thread. */
#include "testutil.h"

#include <pthread.h>
#include <sys/eventfd.h>

static urk_ring_t *ring;
static urk_bufring_t *br;
static uint16_t held_bid;
static int efd, sfd;
static int failures;

#define EXPECT_ETHREAD(expr)                                                          \
    do {                                                                              \
        int rc_ = (expr);                                                             \
        if (rc_ != -URK_ETHREAD) {                                                    \
            fprintf(stderr, "%s:%d: %s = %d (%s), want -URK_ETHREAD\n", __FILE__,     \
                    __LINE__, #expr, rc_, urk_err_name(rc_));                         \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static void *intruder(void *arg)
{
    (void)arg;
    static char buf[16];
    urk_iovec_t iov = {buf, sizeof buf};
    urk_addr_t addr;
    CHECK_OK(urk_addr_parse("127.0.0.1", 9, &addr));
    EXPECT_ETHREAD(urk_prep_nop(ring, 1, 0));
    EXPECT_ETHREAD(urk_prep_accept_multishot(ring, sfd, 1, 0));
    EXPECT_ETHREAD(urk_prep_recv_multishot(ring, sfd, 1, 1, 0));
    EXPECT_ETHREAD(urk_prep_recv_multishot(ring, sfd, 77, 1, 0)); /* group lookup not reached */
    EXPECT_ETHREAD(urk_prep_recv(ring, sfd, buf, sizeof buf, 1, 0));
    EXPECT_ETHREAD(urk_prep_send(ring, sfd, buf, sizeof buf, 0, 1, 0));
    EXPECT_ETHREAD(urk_prep_sendv(ring, sfd, &iov, 1, 0, 1, 0));
    EXPECT_ETHREAD(urk_prep_connect(ring, sfd, &addr, 1, 0));
    EXPECT_ETHREAD(urk_prep_close(ring, sfd, 1, 0));
    EXPECT_ETHREAD(urk_prep_shutdown(ring, sfd, 1, 1, 0));
    EXPECT_ETHREAD(urk_prep_cancel(ring, 5, 1, 0));
    EXPECT_ETHREAD(urk_prep_cancel_fd(ring, sfd, 1, 0));
    EXPECT_ETHREAD(urk_prep_timeout(ring, 1000, 0, 1, 0));
    EXPECT_ETHREAD(urk_prep_msg_ring(ring, urk_ring_fd(ring), 0, 1, 1, 0));
    EXPECT_ETHREAD(urk_ring_submit(ring));
    urk_cqe_t c[4];
    EXPECT_ETHREAD(urk_ring_complete(ring, c, 4, 0, 0));
    EXPECT_ETHREAD(urk_ring_complete(ring, c, 4, 1, 1000000));
    EXPECT_ETHREAD(urk_ring_register_eventfd(ring, efd));
    EXPECT_ETHREAD(urk_ring_unregister_eventfd(ring));
    urk_bufring_opts_t bo;
    CHECK_OK(urk_bufring_opts_init(&bo));
    bo.group_id = 9;
    bo.count = 4;
    urk_bufring_t *other = (urk_bufring_t *)1;
    EXPECT_ETHREAD(urk_bufring_create(ring, &bo, &other));
    CHECK(other == NULL);
    EXPECT_ETHREAD(urk_bufring_recycle(br, &held_bid, 1));
    EXPECT_ETHREAD(urk_bufring_available(br));
    /* The NULL-handle rule still comes first. */
    CHECK_RC(urk_prep_nop(NULL, 1, 0), -EINVAL);
    /* Calls any thread may make. */
    CHECK(urk_ring_fd(ring) >= 0);
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(ring, &info));
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(ring, &st));
    void *p;
    CHECK_OK(urk_bufring_buf(br, 0, &p));
    CHECK(urk_bufring_group(br) == 1);
    return NULL;
}

static void run(const char *what, uint32_t flags)
{
    ring = t_ring(flags);
    br = t_bufring(ring, 1, 4, 64, 0);
    int cfd;
    t_tcp_pair(0, &cfd, &sfd);
    efd = eventfd(0, EFD_CLOEXEC);
    CHECK(efd >= 0);
    CHECK_OK(urk_ring_register_eventfd(ring, efd)); /* so unregister has work */
    /* The issuer takes one buffer: a recv completion it holds. */
    CHECK_OK(urk_prep_recv_multishot(ring, sfd, 1, 50, 0));
    t_write_all(cfd, "x", 1);
    urk_cqe_t c = t_wait_for(ring, 50);
    CHECK(c.res == 1 && (c.flags & URK_CQE_F_BUFFER));
    held_bid = c.buf_id;
    int avail = urk_bufring_available(br);
    CHECK(avail == 3);
    CHECK_OK(urk_prep_nop(ring, 60, 0)); /* queued, not submitted */
    urk_ring_stats_t before;
    CHECK_OK(urk_ring_stats(ring, &before));

    failures = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    if (failures) {
        fprintf(stderr, "%s: %d calls not refused\n", what, failures);
        exit(1);
    }
    /* Nothing changed: no SQE queued or submitted by the intruder, the
     * buffer is still held, the eventfd still registered. */
    urk_ring_stats_t after;
    CHECK_OK(urk_ring_stats(ring, &after));
    CHECK(after.submitted == before.submitted && after.completed == before.completed);
    CHECK(after.bufs_out == 1);
    CHECK(urk_bufring_available(br) == 3);
    CHECK_RC(urk_ring_register_eventfd(ring, efd), -EBUSY);
    /* The issuer gets exactly its queued nop, then recycles its buffer. */
    urk_cqe_t got[8];
    int n = urk_ring_complete(ring, got, 8, 1, 2000000000LL);
    CHECK(n == 1 && got[0].user_data == 60 && got[0].res == 0);
    t_expect_none(ring, 50);
    CHECK_RC(urk_bufring_recycle(br, &held_bid, 1), 1);
    CHECK(urk_bufring_available(br) == 4);
    CHECK_OK(urk_ring_unregister_eventfd(ring));
    CHECK_OK(urk_prep_cancel_fd(ring, sfd, 70, URK_CANCEL_ALL));
    (void)t_wait_for(ring, 70);
    urk_ring_destroy(ring);
    close(cfd);
    close(sfd);
    close(efd);
    printf("%s: every issuer-only call refused with -URK_ETHREAD\n", what);
}

int main(void)
{
    run("default ring", 0);
    run("no registered fd", URK_RING_NO_REGISTER_FD);
    run("no DEFER_TASKRUN, no registered fd",
        URK_RING_NO_DEFER_TASKRUN | URK_RING_NO_REGISTER_FD);
    printf("ok\n");
    return 0;
}

/* urk_ring_register_eventfd: the kernel signals the eventfd when
 * completions are posted, so a host loop can poll(2) it and then harvest
 * without blocking; after unregistering it stays quiet. One per ring. */
#include "testutil.h"

#include <sys/eventfd.h>

/* A DEFER_TASKRUN ring signals when work for its thread is queued and again
 * when the completion is posted, so a signal may find nothing new to
 * harvest: the eventfd is a hint. Tests drain it before expecting quiet. */
static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) == sizeof v)
        ;
}

static int readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

int main(void)
{
    static const uint32_t flavours[] = {0, URK_RING_NO_DEFER_TASKRUN};
    for (int f = 0; f < 2; f++) {
        urk_ring_t *r = t_ring(flavours[f]);
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        CHECK(efd >= 0);
        CHECK_OK(urk_ring_register_eventfd(r, efd));
        CHECK(!readable(efd, 0));

        /* Timer completion posted while nobody is in the ring. */
        CHECK_OK(urk_prep_timeout(r, 20ull * 1000000, 0, 1, 0));
        CHECK(urk_ring_submit(r) == 1);
        CHECK(readable(efd, 5000));
        uint64_t v;
        CHECK(read(efd, &v, sizeof v) == sizeof v && v >= 1);
        urk_cqe_t c;
        CHECK_RC(urk_ring_complete(r, &c, 1, 0, 0), 1);
        CHECK(c.user_data == 1 && c.res == -ETIME);

        /* Socket data: the eventfd fires, then a non-blocking harvest gets
         * the completion. */
        int cfd, sfd;
        t_tcp_pair(0, &cfd, &sfd);
        char buf[8] = {0}; /* filled by the kernel, unseen by valgrind */
        CHECK_OK(urk_prep_recv(r, sfd, buf, sizeof buf, 2, 0));
        CHECK(urk_ring_submit(r) == 1);
        drain(efd); /* the timer may have signalled twice: see drain() */
        CHECK(!readable(efd, 20));
        t_write_all(cfd, "evt", 3);
        CHECK(readable(efd, 5000));
        CHECK(read(efd, &v, sizeof v) == sizeof v);
        int n = 0;
        uint64_t deadline = t_now_ms() + 5000;
        while (n == 0 && t_now_ms() < deadline)
            n = urk_ring_complete(r, &c, 1, 0, 0);
        CHECK(n == 1 && c.user_data == 2 && c.res == 3 && memcmp(buf, "evt", 3) == 0);

        /* Unregistered: completions no longer signal it. */
        CHECK_OK(urk_ring_unregister_eventfd(r));
        drain(efd);
        CHECK_OK(urk_prep_nop(r, 3, 0));
        CHECK(t_wait_for(r, 3).res == 0);
        CHECK(!readable(efd, 20));
        /* Re-register works; a second one is refused while one is set. */
        CHECK_OK(urk_ring_register_eventfd(r, efd));
        int efd2 = eventfd(0, EFD_CLOEXEC);
        CHECK_RC(urk_ring_register_eventfd(r, efd2), -EBUSY);
        close(efd2);
        close(cfd);
        close(sfd);
        urk_ring_destroy(r); /* with the eventfd still registered */
        close(efd);
    }
    printf("ok\n");
    return 0;
}

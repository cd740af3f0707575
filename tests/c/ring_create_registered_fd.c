/* Registered ring fd: on by default (ACTIVE_REGISTERED_FD), off with
 * URK_RING_NO_REGISTER_FD, registered by the enabling thread for a disabled
 * ring; every variant works, and urk_ring_fd is a real io_uring fd. */
#include "testutil.h"

#include <pthread.h>

static void check_ring(uint32_t flags, int want_registered)
{
    urk_ring_t *r = t_ring(flags);
    if (flags & URK_RING_DISABLED)
        CHECK_OK(urk_ring_enable(r));
    urk_ring_info_t info;
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(!!(info.active & URK_RING_ACTIVE_REGISTERED_FD) == want_registered);
    int fd = urk_ring_fd(r);
    CHECK(fd >= 0 && fcntl(fd, F_GETFD) >= 0);
    char link[64], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    CHECK(n > 0);
    target[n] = 0;
    CHECK(strstr(target, "io_uring") != NULL);
    for (int i = 0; i < 100; i++)
        CHECK_OK(urk_prep_nop(r, (uint64_t)i, 0));
    urk_cqe_t c[100];
    t_collect(r, c, 100, 5000);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.submitted == 100 && st.completed == 100);
    t_ring_end_to_end(r, 1);
    urk_ring_destroy(r);
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
}

int main(void)
{
    uint64_t caps;
    CHECK_OK(urk_probe(&caps));
    int can = !!(caps & URK_CAP_REGISTERED_RING_FD);
    check_ring(0, can);
    check_ring(URK_RING_NO_REGISTER_FD, 0);
    check_ring(URK_RING_DISABLED, can);
    check_ring(URK_RING_DISABLED | URK_RING_NO_REGISTER_FD, 0);
    check_ring(URK_RING_NO_DEFER_TASKRUN, can);
    printf("ok\n");
    return 0;
}

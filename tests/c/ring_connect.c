/* urk_prep_connect over IPv4 and IPv6 (::1): the connection is really
 * established (accepted by the listener, bytes flow); a closed port gives
 * -ECONNREFUSED in the completion. The address is copied at the call: it is
 * overwritten before submission here. */
#include "testutil.h"

enum { UD_CONNECT = 0xC0 };

static void connect_ok(urk_ring_t *r, int v6)
{
    uint16_t port;
    int lfd = t_listen(v6, &port);
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    urk_addr_t a;
    CHECK_OK(urk_addr_parse(v6 ? "::1" : "127.0.0.1", port, &a));
    CHECK_OK(urk_prep_connect(r, fd, &a, UD_CONNECT + (uint64_t)v6, 0));
    memset(&a, 0xFF, sizeof a); /* copied: scribbling on it changes nothing */
    urk_cqe_t c = t_wait_for(r, UD_CONNECT + (uint64_t)v6);
    CHECK_RC(c.res, 0);
    int sfd = accept(lfd, NULL, NULL);
    CHECK(sfd >= 0);
    t_write_all(fd, "ping", 4);
    char buf[4];
    t_read_all(sfd, buf, 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    CHECK(getpeername(fd, (struct sockaddr *)&ss, &len) == 0);
    CHECK(ss.ss_family == (v6 ? AF_INET6 : AF_INET));
    close(sfd);
    close(fd);
    close(lfd);
}

int main(void)
{
    urk_ring_t *r = t_ring(0);
    connect_ok(r, 0);
    connect_ok(r, 1);

    /* Closed port: bind a listener to learn a free port, then close it. */
    for (int v6 = 0; v6 < 2; v6++) {
        uint16_t port;
        int lfd = t_listen(v6, &port);
        close(lfd);
        int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        urk_addr_t a;
        CHECK_OK(urk_addr_parse(v6 ? "[::1]" : "127.0.0.1", port, &a));
        CHECK_OK(urk_prep_connect(r, fd, &a, UD_CONNECT, 0));
        urk_cqe_t c = t_wait_for(r, UD_CONNECT);
        CHECK_RC(c.res, -ECONNREFUSED);
        close(fd);
    }

    /* Family mismatch and a non-socket fd: errors in the completion. */
    int fd4 = socket(AF_INET, SOCK_STREAM, 0);
    urk_addr_t a6;
    CHECK_OK(urk_addr_parse("::1", 80, &a6));
    CHECK_OK(urk_prep_connect(r, fd4, &a6, UD_CONNECT, 0));
    urk_cqe_t c = t_wait_for(r, UD_CONNECT);
    CHECK(c.res < 0);
    close(fd4);
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    CHECK_OK(urk_prep_connect(r, pfd[0], &a6, UD_CONNECT, 0));
    c = t_wait_for(r, UD_CONNECT);
    CHECK_RC(c.res, -ENOTSOCK);
    close(pfd[0]);
    close(pfd[1]);

    /* Bad addresses are refused at the call. */
    urk_addr_t bad;
    memset(&bad, 0, sizeof bad);
    CHECK_RC(urk_prep_connect(r, 3, NULL, 1, 0), -EINVAL);
    bad.len = 1;
    CHECK_RC(urk_prep_connect(r, 3, &bad, 1, 0), -EINVAL);
    bad.len = 129;
    CHECK_RC(urk_prep_connect(r, 3, &bad, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_connect(r, -1, &a6, 1, 0), -EBADF);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

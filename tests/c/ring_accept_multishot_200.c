/* One multishot accept takes 200 connections: one submission, 200
 * completions, every fd distinct and valid, every completion keeps
 * URK_CQE_F_MORE, and each accepted fd is connected to its own client. */
#include "testutil.h"

#define N 200
enum { UD_ACCEPT = 0xACC };

int main(void)
{
    urk_ring_t *r = t_ring(0);
    uint16_t port;
    int lfd = t_listen(0, &port);
    CHECK_OK(urk_prep_accept_multishot(r, lfd, UD_ACCEPT, 0));
    CHECK(urk_ring_submit(r) == 1);
    int clients[N], servers[N];
    int nserv = 0;
    urk_cqe_t c[N];
    for (int i = 0; i < N; i++) {
        clients[i] = t_connect(0, port);
        /* Harvest as we go so both batching paths are exercised. */
        if (i % 50 == 49) {
            int n = urk_ring_complete(r, c, N, 0, 0);
            CHECK(n >= 0);
            for (int k = 0; k < n; k++) {
                CHECK(c[k].user_data == UD_ACCEPT && c[k].res >= 0);
                CHECK(c[k].flags & URK_CQE_F_MORE);
                servers[nserv++] = c[k].res;
            }
        }
    }
    while (nserv < N) {
        int n = urk_ring_complete(r, c, (uint32_t)(N - nserv), 1, 5000000000ll);
        CHECK(n > 0);
        for (int k = 0; k < n; k++) {
            CHECK(c[k].user_data == UD_ACCEPT && c[k].res >= 0);
            CHECK(c[k].flags & URK_CQE_F_MORE);
            servers[nserv++] = c[k].res;
        }
    }
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.submitted == 1 && st.completed == N);
    /* Distinct, open, and not a client fd. */
    for (int i = 0; i < N; i++) {
        CHECK(fcntl(servers[i], F_GETFD) & FD_CLOEXEC);
        for (int j = 0; j < i; j++)
            CHECK(servers[i] != servers[j]);
        for (int j = 0; j < N; j++)
            CHECK(servers[i] != clients[j]);
    }
    /* Pair them up by local/peer port and check a byte goes each way. */
    for (int i = 0; i < N; i++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        CHECK(getpeername(servers[i], (struct sockaddr *)&peer, &len) == 0);
        int match = -1;
        for (int j = 0; j < N; j++) {
            struct sockaddr_in me;
            socklen_t l2 = sizeof me;
            CHECK(getsockname(clients[j], (struct sockaddr *)&me, &l2) == 0);
            if (me.sin_port == peer.sin_port)
                match = j;
        }
        CHECK(match >= 0);
        uint8_t b = (uint8_t)i, got;
        t_write_all(servers[i], &b, 1);
        t_read_all(clients[match], &got, 1);
        CHECK(got == b);
    }
    /* Still armed after 200. */
    int extra = t_connect(0, port);
    urk_cqe_t e = t_wait_for(r, UD_ACCEPT);
    CHECK(e.res >= 0 && (e.flags & URK_CQE_F_MORE));
    close(e.res);
    close(extra);
    for (int i = 0; i < N; i++) {
        close(clients[i]);
        close(servers[i]);
    }
    close(lfd);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

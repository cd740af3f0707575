/* Partial sends: a 4 MiB send to a peer with a small receive buffer that
 * reads slowly completes with res < len; continuing from the offset
 * delivers every byte exactly once, in order. The buffer is the caller's
 * until each send's completion. */
#include "testutil.h"

#include <pthread.h>

#define LEN (4u << 20)
enum { UD_SEND = 5 };

static uint8_t *out;
static int peer_fd;

static void *slow_reader(void *arg)
{
    uint8_t *in = arg;
    size_t got = 0;
    int reads = 0;
    while (got < LEN) {
        ssize_t n = read(peer_fd, in + got, LEN - got < 65536 ? LEN - got : 65536);
        CHECK(n > 0);
        got += (size_t)n;
        if (++reads < 20)
            usleep(20 * 1000); /* slow at first: the sender must see partials */
    }
    return NULL;
}

int main(void)
{
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    int small = 32768; /* below the 64 KiB loopback MSS TCP crawls */
    CHECK(setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    CHECK(setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    urk_ring_t *r = t_ring(0);
    out = malloc(LEN);
    uint8_t *in = malloc(LEN);
    t_fill(out, LEN, 1234);
    peer_fd = cfd;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_reader, in) == 0);

    size_t off = 0;
    int sends = 0, partial = 0;
    while (off < LEN) {
        CHECK_OK(urk_prep_send(r, sfd, out + off, (uint32_t)(LEN - off), 0, UD_SEND, 0));
        /* Polling, not blocking: the reader thread must run meanwhile. */
        urk_cqe_t c = t_wait_for_polling(r, UD_SEND, 30000);
        CHECK(c.res > 0 && (size_t)c.res <= LEN - off);
        if ((size_t)c.res < LEN - off)
            partial++;
        off += (size_t)c.res;
        sends++;
    }
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(memcmp(in, out, LEN) == 0);
    CHECK(partial >= 1);
    /* Nothing more on the wire. */
    fcntl(cfd, F_SETFL, O_NONBLOCK);
    uint8_t extra;
    CHECK(read(cfd, &extra, 1) == -1 && errno == EAGAIN);
    /* A send to a peer that is gone: -EPIPE in the completion, no SIGPIPE
     * (MSG_NOSIGNAL is always added). */
    close(cfd);
    int epipe = 0;
    for (int i = 0; i < 50 && !epipe; i++) {
        CHECK_OK(urk_prep_send(r, sfd, out, 65536, 0, UD_SEND, 0));
        urk_cqe_t c = t_wait_for(r, UD_SEND);
        CHECK(c.res > 0 || c.res == -EPIPE || c.res == -ECONNRESET);
        epipe = c.res < 0;
    }
    CHECK(epipe);
    close(sfd);
    urk_ring_destroy(r);
    free(out);
    free(in);
    printf("ok (%d sends, %d partial)\n", sends, partial);
    return 0;
}

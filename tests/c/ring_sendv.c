/* urk_prep_sendv: an iovec array is sent as one ordered byte stream; a
 * partial result continues from the right iovec and offset; empty iovecs are
 * fine; bad counts are refused. The iovec array may live on the stack of a
 * function that returned after submission (the kernel copies it at submit),
 * though the contract asks callers to keep it until completion. */
#include "testutil.h"

#include <pthread.h>

enum { UD_SENDV = 9 };

typedef struct {
    int fd;
    uint8_t *buf;
    size_t len;
} reader_arg_t;

static void *reader(void *p)
{
    reader_arg_t *a = p;
    size_t got = 0;
    int reads = 0;
    while (got < a->len) {
        ssize_t n = read(a->fd, a->buf + got, a->len - got < 16384 ? a->len - got : 16384);
        CHECK(n > 0);
        got += (size_t)n;
        if (++reads < 30)
            usleep(5000); /* slow at first so the sender sees partials */
    }
    return NULL;
}

static void queue_from_stack(urk_ring_t *r, int fd, uint8_t *a, uint8_t *b, uint8_t *c)
{
    urk_iovec_t iov[4] = {{a, 1000}, {b, 0}, {b, 3000}, {c, 50000}};
    CHECK_OK(urk_prep_sendv(r, fd, iov, 4, 0, UD_SENDV, 0));
    CHECK(urk_ring_submit(r) == 1);
}

int main(void)
{
    urk_ring_t *r = t_ring(0);
    int cfd, sfd;
    t_tcp_pair(0, &cfd, &sfd);
    uint8_t *a = malloc(1000), *b = malloc(3000), *c = malloc(50000);
    t_fill(a, 1000, 1);
    t_fill(b, 3000, 2);
    t_fill(c, 50000, 3);
    uint8_t *want = malloc(54000), *got = malloc(54000);
    memcpy(want, a, 1000);
    memcpy(want + 1000, b, 3000);
    memcpy(want + 4000, c, 50000);

    queue_from_stack(r, sfd, a, b, c);
    urk_cqe_t done = t_wait_for(r, UD_SENDV);
    CHECK(done.res == 54000);
    t_read_all(cfd, got, 54000);
    CHECK(memcmp(got, want, 54000) == 0);

    /* 256 one-byte iovecs. */
    urk_iovec_t many[256];
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (uint8_t)(255 - i);
        many[i].base = &bytes[i];
        many[i].len = 1;
    }
    CHECK_OK(urk_prep_sendv(r, sfd, many, 256, 0, UD_SENDV, 0));
    done = t_wait_for(r, UD_SENDV);
    CHECK(done.res == 256);
    t_read_all(cfd, got, 256);
    CHECK(memcmp(got, bytes, 256) == 0);

    /* Partial: small send buffer, a peer reading in small slow steps, a
     * large vector; continue by hand from the offset. */
    int small = 32768, nodelay = 1;
    CHECK(setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    CHECK(setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay) == 0);
    CHECK(setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    size_t total = 4u << 20;
    uint8_t *big = malloc(total), *back = malloc(total);
    t_fill(big, total, 77);
    reader_arg_t ra = {cfd, back, total};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader, &ra) == 0);
    size_t sent = 0;
    int partial = 0, busy = 0;
    while (sent < total) {
        /* Three iovecs over what is left; the array is on this loop's
         * stack and the call is submitted and completed within it. */
        size_t left = total - sent, third = left / 3;
        urk_iovec_t v[3] = {{big + sent, third},
                            {big + sent + third, third},
                            {big + sent + 2 * third, left - 2 * third}};
        CHECK_OK(urk_prep_sendv(r, sfd, v, 3, 0, UD_SENDV, 0));
        urk_cqe_t cq = t_wait_for_polling(r, UD_SENDV, 30000); /* reader runs */
        CHECK(cq.res > 0 && (size_t)cq.res <= left);
        if ((size_t)cq.res < left)
            partial++;
        sent += (size_t)cq.res;
    }
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(!busy && sent == total);
    CHECK(memcmp(back, big, total) == 0);
    CHECK(partial >= 1);

    /* Bad arguments. */
    urk_iovec_t one = {a, 10};
    CHECK_RC(urk_prep_sendv(r, sfd, NULL, 1, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_sendv(r, sfd, &one, 0, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_sendv(r, sfd, many, 1025, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_sendv(r, -1, &one, 1, 0, 1, 0), -EBADF);
    CHECK_RC(urk_prep_sendv(NULL, sfd, &one, 1, 0, 1, 0), -EINVAL);
    CHECK_RC(urk_prep_sendv(r, sfd, &one, 1, 0, 1, 1u << 15), -EINVAL);
    urk_ring_stats_t st;
    CHECK_OK(urk_ring_stats(r, &st));
    CHECK(st.submitted == st.completed); /* refused calls queued nothing */
    close(cfd);
    close(sfd);
    urk_ring_destroy(r);
    free(a); free(b); free(c); free(want); free(got); free(big); free(back);
    printf("ok (%d partial)\n", partial);
    return 0;
}

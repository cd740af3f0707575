/* A slow reader: the client does not read, so the server's sends back up.
 * urk_send queues up to send_limit and then answers -EAGAIN (nothing
 * queued): memory stays bounded (send_queued <= send_limit + one message)
 * however often the caller retries. No WRITABLE arrives while the client
 * does not read; once it reads, WRITABLE arrives, sending resumes, and the
 * client gets every byte in order. URK_SEND_FORCE queues past the limit and
 * WRITABLE still follows. */
#include "engine_util.h"

#define MSG (64u << 10)
#define LIMIT (256u << 10)

static uint8_t pattern(uint64_t off) { return (uint8_t)(off * 31 + (off >> 11)); }

static uint64_t sent_off; /* stream offset of the next byte queued */

static int send_next(urk_reactor_t *r, urk_conn_t c, uint32_t flags)
{
    static uint8_t msg[MSG];
    for (uint32_t i = 0; i < MSG; i++)
        msg[i] = pattern(sent_off + i);
    int rc = urk_send(r, c, msg, MSG, flags, 0);
    if (rc == 0)
        sent_off += MSG;
    return rc;
}

static int drain_client(int fd, uint64_t *read_off)
{
    uint8_t buf[65536];
    int got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            CHECK(n < 0 && errno == EAGAIN);
            return got;
        }
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(*read_off + (uint64_t)i)) {
                fprintf(stderr, "stream mismatch at %llu\n", (unsigned long long)(*read_off + i));
                exit(1);
            }
        *read_off += (uint64_t)n;
        got = 1;
    }
}

/* Polls r for ms; returns how many WRITABLE events came (no others allowed). */
static int poll_writable(urk_reactor_t *r, urk_conn_t c, uint32_t ms)
{
    urk_event_t ev[16];
    int w = 0;
    uint64_t end = t_now_ms() + ms;
    while (t_now_ms() < end) {
        int n = urk_reactor_poll(r, ev, 16, 10);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].type == URK_EV_WRITABLE && ev[i].conn == c);
            w++;
        }
    }
    return w;
}

int main(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.send_limit = LIMIT;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    int small = 16384; /* keep the kernel's buffering modest */
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    te_nonblock(cfd);
    urk_event_t ev[16];
    urk_conn_t c = 0;
    uint64_t dl = t_now_ms() + 5000;
    while (!c && t_now_ms() < dl) {
        int n = urk_reactor_poll(r, ev, 16, 50);
        for (int i = 0; i < n; i++)
            if (ev[i].type == URK_EV_OPEN)
                c = ev[i].conn;
    }
    CHECK(c);

    /* Send until the engine refuses. */
    int rc;
    dl = t_now_ms() + 10000;
    while ((rc = send_next(r, c, 0)) == 0) {
        CHECK(t_now_ms() < dl);
        CHECK(poll_writable(r, c, 1) == 0);
    }
    CHECK_RC(rc, -EAGAIN);
    urk_reactor_stats_t s = te_rstats(r);
    printf("refused after %llu bytes queued; send_queued %llu (limit %u)\n",
           (unsigned long long)sent_off, (unsigned long long)s.send_queued, LIMIT);
    CHECK(s.send_queued <= LIMIT + MSG);
    /* Retrying changes nothing: bounded, no WRITABLE while nobody reads. */
    for (int i = 0; i < 50; i++) {
        CHECK_RC(send_next(r, c, 0), -EAGAIN);
        CHECK(poll_writable(r, c, 4) == 0);
        CHECK(te_rstats(r).send_queued <= LIMIT + MSG);
    }

    /* The reader wakes up. */
    uint64_t read_off = 0;
    int writable = 0;
    dl = t_now_ms() + 10000;
    while (!writable) {
        CHECK(t_now_ms() < dl);
        drain_client(cfd, &read_off);
        writable = poll_writable(r, c, 5);
    }
    CHECK(writable == 1);
    printf("WRITABLE after the client read %llu bytes\n", (unsigned long long)read_off);
    CHECK(te_rstats(r).send_queued < LIMIT);

    /* FORCE goes past the limit; WRITABLE still follows. */
    while ((rc = send_next(r, c, 0)) == 0)
        CHECK(poll_writable(r, c, 1) == 0);
    CHECK_RC(rc, -EAGAIN);
    for (int i = 0; i < 4; i++)
        CHECK_OK(send_next(r, c, URK_SEND_FORCE));
    s = te_rstats(r);
    CHECK(s.send_queued > LIMIT);
    printf("forced: send_queued %llu\n", (unsigned long long)s.send_queued);
    writable = 0;
    dl = t_now_ms() + 10000;
    while (!writable) {
        CHECK(t_now_ms() < dl);
        drain_client(cfd, &read_off);
        writable = poll_writable(r, c, 5);
    }
    /* Everything queued arrives, in order. */
    dl = t_now_ms() + 10000;
    while (read_off < sent_off) {
        CHECK(t_now_ms() < dl);
        drain_client(cfd, &read_off);
        poll_writable(r, c, 2);
    }
    CHECK(read_off == sent_off);
    CHECK(te_rstats(r).send_queued == 0);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("ok\n");
    return 0;
}

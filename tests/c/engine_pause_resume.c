/* urk_conn_pause_recv: while paused no DATA arrives (the peer's bytes wait
 * in the kernel); after resuming every byte arrives, in order. Resuming
 * right after pausing (before the cancelled receive has finished) must not
 * leave the connection deaf. A storm of pause/resume toggles during a 2 MiB
 * transfer loses nothing. */
#include "engine_util.h"

static urk_reactor_t *r;
static urk_conn_t conn;
static uint64_t got;
static uint8_t *expect_buf;

/* Polls for ms; checks and counts DATA; returns how many DATA events. */
static int pump(uint32_t ms, int max)
{
    urk_event_t ev[64];
    int data = 0;
    uint64_t end = t_now_ms() + ms;
    do {
        int n = urk_reactor_poll(r, ev, (uint32_t)max, 5);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == URK_EV_OPEN) {
                conn = ev[i].conn;
                continue;
            }
            CHECK(ev[i].type == URK_EV_DATA && ev[i].conn == conn);
            CHECK(memcmp(ev[i].data, expect_buf + got, ev[i].len) == 0);
            got += ev[i].len;
            CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
            data++;
        }
    } while (t_now_ms() < end);
    return data;
}

int main(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    r = te_reactor(e, 0);
    size_t total = 2u << 20;
    expect_buf = malloc(total);
    CHECK(expect_buf);
    t_fill(expect_buf, total, 5);
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    uint64_t dl = t_now_ms() + 5000;
    while (!conn) {
        CHECK(t_now_ms() < dl);
        pump(5, 64);
    }
    size_t sent = 0;
    t_write_all(cfd, expect_buf, 1000), sent = 1000;
    pump(50, 64);
    CHECK(got == 1000);

    /* paused: nothing arrives */
    CHECK_OK(urk_conn_pause_recv(r, conn, 1));
    CHECK_OK(urk_conn_pause_recv(r, conn, 1)); /* again: no-op */
    pump(20, 64);
    t_write_all(cfd, expect_buf + sent, 1000), sent += 1000;
    CHECK(pump(100, 64) == 0);
    CHECK(got == 1000);
    CHECK_OK(urk_conn_pause_recv(r, conn, 0));
    pump(100, 64);
    CHECK(got == sent);

    /* pause and resume back to back, before any poll */
    CHECK_OK(urk_conn_pause_recv(r, conn, 1));
    CHECK_OK(urk_conn_pause_recv(r, conn, 0));
    pump(20, 64);
    t_write_all(cfd, expect_buf + sent, 1000), sent += 1000;
    pump(100, 64);
    if (got != sent) {
        fprintf(stderr, "deaf after pause+resume: got %llu of %zu\n", (unsigned long long)got,
                sent);
        return 1;
    }
    /* the same with a poll in between (the cancel submitted, its
     * completion not yet seen) */
    CHECK_OK(urk_conn_pause_recv(r, conn, 1));
    CHECK(urk_reactor_flush(r) >= 1);
    CHECK_OK(urk_conn_pause_recv(r, conn, 0));
    t_write_all(cfd, expect_buf + sent, 1000), sent += 1000;
    pump(100, 64);
    CHECK(got == sent);

    /* toggle storm while data streams in */
    te_nonblock(cfd);
    uint64_t x = 99;
    dl = t_now_ms() + 20000;
    int paused = 0;
    while (got < total) {
        CHECK(t_now_ms() < dl);
        if (sent < total) {
            ssize_t k = write(cfd, expect_buf + sent, total - sent < 8192 ? total - sent : 8192);
            if (k > 0)
                sent += (size_t)k;
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int want = (x & 3) == 0;
        if (want != paused) {
            CHECK_OK(urk_conn_pause_recv(r, conn, (uint32_t)want));
            paused = want;
        }
        pump(1, (int)(1 + (x >> 8) % 8));
        if (sent == total && paused) {
            CHECK_OK(urk_conn_pause_recv(r, conn, 0));
            paused = 0;
        }
    }
    CHECK(got == total);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    free(expect_buf);
    printf("ok\n");
    return 0;
}

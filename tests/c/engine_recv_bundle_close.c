/* Closing while bundles arrive: 16 clients each stream 256 KiB into 64-byte
 * buffers; the server closes every connection at its first DATA event (half
 * gracefully, half with RST) while receive completions covering several
 * buffers keep coming. Completions that land after the close are released
 * by the engine (the bytes counted in bytes_in were never delivered), and
 * in the end no buffer is held or lost: bufs_held 0, live_conns 0, every
 * buffer back in the ring, no descriptor left. */
#include "engine_util.h"
#include "engine/engine.h"

#define CONNS 16
#define PER_CONN (256u << 10)
#define BUF_COUNT 512u

int main(void)
{
    te_raise_nofile();
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 1;
    o.buf_size = 64;
    o.buf_count = BUF_COUNT;
    urk_engine_t *e = te_create(&o);
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));

    int fds[CONNS];
    size_t sent[CONNS];
    uint8_t *src = malloc(PER_CONN);
    CHECK(src);
    t_fill(src, PER_CONN, 7);
    for (int i = 0; i < CONNS; i++) {
        fds[i] = t_connect(0, port);
        te_nonblock(fds[i]);
        sent[i] = 0;
    }
    static urk_conn_t closed_by_us[CONNS * 4];
    int nclosed_by_us = 0, nclosed = 0, nopen = 0;
    uint64_t delivered = 0;
    urk_event_t ev[8];
    uint32_t held[8];
    uint64_t deadline = t_now_ms() + 60000;
    while (nclosed < CONNS) {
        CHECK(t_now_ms() < deadline);
        for (int i = 0; i < CONNS; i++) {
            if (fds[i] < 0 || sent[i] == PER_CONN)
                continue;
            ssize_t x = send(fds[i], src + sent[i], PER_CONN - sent[i], MSG_NOSIGNAL);
            if (x > 0)
                sent[i] += (size_t)x;
            else if (x < 0 && errno != EAGAIN && errno != EINTR) {
                close(fds[i]); /* EPIPE / ECONNRESET: the server closed */
                fds[i] = -1;
            }
        }
        int n = urk_reactor_poll(r, ev, 8, 2);
        CHECK(n >= 0);
        uint32_t nh = 0;
        for (int k = 0; k < n; k++) {
            if (ev[k].type == URK_EV_OPEN) {
                nopen++;
            } else if (ev[k].type == URK_EV_DATA) {
                CHECK(ev[k].len > 0 && ev[k].len <= 64);
                delivered += ev[k].len;
                held[nh++] = ev[k].buf;
                int seen = 0;
                for (int j = 0; j < nclosed_by_us; j++)
                    seen |= closed_by_us[j] == ev[k].conn;
                if (!seen) {
                    int rc = urk_close(r, ev[k].conn, (uint32_t)(nclosed_by_us & 1));
                    CHECK(rc == 0 || rc == -URK_ECLOSING);
                    closed_by_us[nclosed_by_us++] = ev[k].conn;
                }
            } else if (ev[k].type == URK_EV_CLOSED) {
                CHECK(ev[k].res == 1 || ev[k].res == 0 || ev[k].res == -ECONNRESET);
                nclosed++;
            }
        }
        /* reversed: buffers go back out of id order */
        for (uint32_t k = nh; k-- > 0;)
            CHECK_RC(urk_reactor_release(r, &held[k], 1), 1);
    }
    CHECK(nopen == CONNS);
    urk_reactor_stats_t st = te_rstats(r);
    printf("%d connections closed by us; %llu bytes received, %llu delivered; "
           "%llu bundles over %llu buffers\n",
           nclosed_by_us, (unsigned long long)st.bytes_in, (unsigned long long)delivered,
           (unsigned long long)atomic_load(&r->st.recv_bundles),
           (unsigned long long)atomic_load(&r->st.recv_bundle_bufs));
    CHECK(st.bytes_in >= delivered);
    CHECK(st.bufs_held == 0);
    CHECK(st.live_conns == 0);
    CHECK(r->bufs->held == 0 && r->bufs->bundle_broken == 0);
    CHECK(r->bufs->available == BUF_COUNT);
    CHECK(urk_bufring_available(r->bufs) == (int)BUF_COUNT);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    for (int i = 0; i < CONNS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(src);
    CHECK(t_fd_count() == fds0);
    printf("ok\n");
    return 0;
}

/* A bundle that empties the buffer ring ends its recv with data; the
 * connection then waits for buffers like one stopped by -ENOBUFS, and is
 * re-armed as soon as they come back, also when the -ENOBUFS completion is
 * harvested after they did. With 4 buffers of 64 bytes, 256 KiB stream
 * through in 256-byte steps without any poll waiting out its timeout (each
 * poll may wait 2 s: a lost wake-up costs 2 s a step, and the test's 60 s
 * would run out), with bundles and without, releasing by hand and with
 * URK_ENGINE_RELEASE_ON_POLL. */
#include "engine_util.h"
#include "engine/engine.h"

#define TOTAL (256u << 10)

static void run(uint32_t flags)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.buf_count = 4;
    o.buf_size = 64;
    o.flags |= flags;
    urk_engine_t *e = te_create(&o);
    urk_reactor_t *r = te_reactor(e, 0);
    CHECK_OK(urk_engine_start(e, NULL));
    int fd = t_connect(0, (uint16_t)urk_engine_port(e));
    te_nonblock(fd);
    uint8_t *src = malloc(TOTAL), *got = malloc(TOTAL);
    CHECK(src && got);
    t_fill(src, TOTAL, 11);
    size_t w = 0, n = 0;
    uint32_t polls = 0, slow = 0;
    uint64_t deadline = t_now_ms() + 60000;
    urk_event_t ev[64];
    while (n < TOTAL) {
        CHECK(t_now_ms() < deadline);
        if (w < TOTAL) {
            ssize_t x = write(fd, src + w, TOTAL - w);
            if (x > 0)
                w += (size_t)x;
            else
                CHECK(errno == EAGAIN);
        }
        uint64_t t0 = t_now_ms();
        int k = urk_reactor_poll(r, ev, 64, 2000);
        CHECK(k >= 0);
        polls++;
        if (t_now_ms() - t0 >= 1900)
            slow++;
        for (int i = 0; i < k; i++) {
            if (ev[i].type != URK_EV_DATA)
                continue;
            CHECK(ev[i].len <= 64 && n + ev[i].len <= TOTAL);
            memcpy(got + n, ev[i].data, ev[i].len);
            n += ev[i].len;
            if (!(flags & URK_ENGINE_RELEASE_ON_POLL))
                CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
        }
    }
    CHECK(memcmp(src, got, TOTAL) == 0);
    printf("flags %#x: %u bytes in %u polls, %u waited out their timeout; %llu bundles\n",
           flags, TOTAL, polls, slow, (unsigned long long)atomic_load(&r->st.recv_bundles));
    CHECK(slow == 0);
    close(fd);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(src);
    free(got);
    CHECK(t_fd_count() == fds0);
}

int main(void)
{
    run(0);
    run(URK_ENGINE_RELEASE_ON_POLL);
    run(URK_ENGINE_NO_RECV_BUNDLE);
    run(URK_ENGINE_NO_RECV_BUNDLE | URK_ENGINE_RELEASE_ON_POLL);
    printf("ok\n");
    return 0;
}

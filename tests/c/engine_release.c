/* Buffer release rules (pull mode).
 *   - urk_reactor_release of a handle not held (never delivered, already
 *     released, 0, out of range), alone or in a batch with held ones, gives
 *     -EINVAL and releases nothing; a valid batch releases all (n returned).
 *   - Held buffers stay valid and unchanged across polls until released.
 *   - URK_ENGINE_RELEASE_ON_POLL: a DATA buffer is given back by the next
 *     poll (bufs_held drops to 0 without a release call); releasing such a
 *     handle explicitly after that poll gives -EINVAL. */
#include "engine_util.h"

static urk_engine_t *engine(uint32_t flags, urk_reactor_t **r, int *cfd)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = flags;
    o.buf_count = 16;
    o.buf_size = 256;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    *r = te_reactor(e, 0);
    *cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    urk_event_t ev;
    uint64_t dl = t_now_ms() + 5000;
    do {
        CHECK(t_now_ms() < dl);
    } while (urk_reactor_poll(*r, &ev, 1, 20) != 1);
    CHECK(ev.type == URK_EV_OPEN);
    return e;
}

/* Sends n separate 100-byte messages and collects n DATA events (each its
 * own buffer: the next is written only once the previous arrived). */
static void collect(urk_reactor_t *r, int cfd, urk_event_t *out, int n, int seed)
{
    for (int i = 0; i < n; i++) {
        uint8_t msg[100];
        t_fill(msg, sizeof msg, (uint64_t)(seed + i));
        t_write_all(cfd, msg, sizeof msg);
        uint64_t dl = t_now_ms() + 5000;
        int got = 0;
        while (!got) {
            CHECK(t_now_ms() < dl);
            int k = urk_reactor_poll(r, &out[i], 1, 20);
            CHECK(k >= 0);
            got = k == 1;
        }
        CHECK(out[i].type == URK_EV_DATA && out[i].len == 100 && out[i].buf != 0);
        CHECK(memcmp(out[i].data, msg, 100) == 0);
    }
}

static void release_rules(void)
{
    urk_reactor_t *r;
    int cfd;
    urk_engine_t *e = engine(0, &r, &cfd);
    urk_event_t ev[6];
    collect(r, cfd, ev, 6, 10);
    CHECK(te_rstats(r).bufs_held == 6);
    /* held data stays valid across polls */
    urk_event_t none;
    CHECK(urk_reactor_poll(r, &none, 1, 20) == 0);
    for (int i = 0; i < 6; i++) {
        uint8_t msg[100];
        t_fill(msg, sizeof msg, (uint64_t)(10 + i));
        CHECK(memcmp(ev[i].data, msg, 100) == 0);
    }

    /* a handle never delivered: one not among ev[].buf, in range */
    uint32_t free_handle = 0;
    for (uint32_t h = 1; h <= 16 && !free_handle; h++) {
        int used = 0;
        for (int i = 0; i < 6; i++)
            used |= ev[i].buf == h;
        if (!used)
            free_handle = h;
    }
    CHECK(free_handle);
    uint32_t bad[][3] = {
        {ev[0].buf, ev[1].buf, free_handle},
        {ev[0].buf, 0, ev[1].buf},
        {17, ev[0].buf, ev[1].buf},
        {ev[0].buf, ev[1].buf, 0xFFFFFFFFu},
        {ev[0].buf, ev[0].buf, ev[1].buf}, /* the same handle twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(urk_reactor_release(r, bad[i], 3), -EINVAL);
        CHECK(te_rstats(r).bufs_held == 6); /* nothing released */
    }
    CHECK_RC(urk_reactor_release(r, NULL, 1), -EINVAL);
    CHECK_RC(urk_reactor_release(NULL, &ev[0].buf, 1), -EINVAL);
    CHECK_RC(urk_reactor_release(r, NULL, 0), 0);

    uint32_t two[2] = {ev[0].buf, ev[1].buf};
    CHECK_RC(urk_reactor_release(r, two, 2), 2);
    CHECK(te_rstats(r).bufs_held == 4);
    CHECK_RC(urk_reactor_release(r, two, 2), -EINVAL); /* already released */
    CHECK_RC(urk_reactor_release(r, &ev[1].buf, 1), -EINVAL);
    CHECK(te_rstats(r).bufs_held == 4);
    uint32_t rest[4] = {ev[2].buf, ev[3].buf, ev[4].buf, ev[5].buf};
    CHECK_RC(urk_reactor_release(r, rest, 4), 4);
    CHECK(te_rstats(r).bufs_held == 0);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

static void release_on_poll(void)
{
    urk_reactor_t *r;
    int cfd;
    urk_engine_t *e = engine(URK_ENGINE_RELEASE_ON_POLL, &r, &cfd);
    urk_event_t ev[40];
    /* more messages than buffers: only works if polls give them back */
    collect(r, cfd, ev, 40, 100);
    CHECK(te_rstats(r).bufs_held == 1); /* the last one, until the next poll */
    uint32_t last = ev[39].buf;
    urk_event_t none;
    CHECK(urk_reactor_poll(r, &none, 1, 0) == 0);
    CHECK(te_rstats(r).bufs_held == 0);
    CHECK_RC(urk_reactor_release(r, &last, 1), -EINVAL);
    CHECK(te_rstats(r).bufs_held == 0);

    /* released explicitly before the next poll: fine, and the poll's own
     * release of it does no harm */
    collect(r, cfd, ev, 1, 200);
    CHECK_RC(urk_reactor_release(r, &ev[0].buf, 1), 1);
    CHECK(te_rstats(r).bufs_held == 0);
    CHECK(urk_reactor_poll(r, &none, 1, 0) == 0);
    CHECK(te_rstats(r).bufs_held == 0);
    collect(r, cfd, ev, 20, 300);
    CHECK(urk_reactor_poll(r, &none, 1, 0) == 0);
    CHECK(te_rstats(r).bufs_held == 0);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

int main(void)
{
    release_rules();
    release_on_poll();
    printf("ok\n");
    return 0;
}

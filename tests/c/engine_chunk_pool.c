/* Send chunks: small copied sends and NOCOPY sends take blocks from the
 * reactor's pool arena (more small sends than the arena holds fall back to
 * malloc), large copied sends are malloc'd; every byte arrives in order
 * across all kinds; blocks come back as sends complete, are reused, and stop
 * unmaps the arena (under ASan, LeakSanitizer checks nothing else is left).
 * With URK_ENGINE_NO_SEND_POOL the same stream arrives and no arena exists. */
#include "engine_util.h"
#include "engine/engine.h"

static const uint8_t nocopy_msg[] = "static-nocopy-payload";

static void run(uint32_t flags)
{
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags |= flags;
    o.reactors = 1;
    o.buf_count = 64;
    o.buf_size = 4096;
    urk_engine_t *e = te_create(&o);
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);
    CHECK_OK(urk_engine_start(e, NULL));
    CHECK(r->chunk_arena == NULL && r->chunk_out == 0);

    int fd = t_connect(0, port);
    te_nonblock(fd);
    urk_event_t ev[64];
    urk_conn_t conn = 0;
    uint64_t deadline = t_now_ms() + 20000;
    while (!conn) {
        CHECK(t_now_ms() < deadline);
        int n = urk_reactor_poll(r, ev, 64, 10);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++)
            if (ev[i].type == URK_EV_OPEN)
                conn = ev[i].conn;
    }

    /* Rounds of: many small copied sends, a NOCOPY send, one large send.
     * The expected stream is built alongside. */
    /* SMALL x 8 bytes: more 128-byte blocks than the arena's 2048 */
    enum { ROUNDS = 20, SMALL = 3000, BIG = 70000 };
    size_t total = 0, cap = (size_t)ROUNDS * (SMALL * 8 + sizeof nocopy_msg + BIG);
    uint8_t *want = malloc(cap), *got = malloc(cap), *big = malloc(BIG);
    CHECK(want && got && big);
    size_t have = 0;
    uint32_t done_nocopy = 0, max_out = 0, fresh_after_first = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < SMALL; i++) {
            uint8_t msg[8];
            memset(msg, 'a' + (round + i) % 26, sizeof msg);
            CHECK_OK(urk_send(r, conn, msg, sizeof msg, URK_SEND_FORCE, 0));
            memcpy(want + total, msg, sizeof msg);
            total += sizeof msg;
        }
        CHECK_OK(urk_send(r, conn, nocopy_msg, sizeof nocopy_msg,
                          URK_SEND_NOCOPY | URK_SEND_FORCE, (uint64_t)round));
        memcpy(want + total, nocopy_msg, sizeof nocopy_msg);
        total += sizeof nocopy_msg;
        t_fill(big, BIG, (uint64_t)round + 1);
        CHECK_OK(urk_send(r, conn, big, BIG, URK_SEND_FORCE, 0));
        memcpy(want + total, big, BIG);
        total += BIG;
        /* drain what was sent so far */
        while (have < total) {
            CHECK(t_now_ms() < deadline);
            int n = urk_reactor_poll(r, ev, 64, 1);
            CHECK(n >= 0);
            for (int i = 0; i < n; i++)
                if (ev[i].type == URK_EV_SEND_DONE) {
                    CHECK(ev[i].res == (int32_t)sizeof nocopy_msg);
                    done_nocopy++;
                }
            ssize_t m = read(fd, got + have, total - have);
            if (m > 0)
                have += (size_t)m;
            CHECK(m != 0);
        }
        if (r->chunk_out > max_out)
            max_out = r->chunk_out;
        if (round == 0)
            fresh_after_first = r->chunk_fresh[0];
        /* later rounds reuse blocks: the arena's high-water mark holds */
        CHECK(r->chunk_fresh[0] == fresh_after_first);
    }
    while (done_nocopy < ROUNDS) {
        CHECK(t_now_ms() < deadline);
        int n = urk_reactor_poll(r, ev, 64, 10);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++)
            if (ev[i].type == URK_EV_SEND_DONE)
                done_nocopy++;
    }
    CHECK(memcmp(want, got, total) == 0);
    printf("flags %#x: sent %zu bytes, blocks used %u, out after a round %u\n", flags, total,
           fresh_after_first, max_out);
    CHECK(r->chunk_out == 0); /* every block came back */
    if (flags & URK_ENGINE_NO_SEND_POOL) {
        CHECK(r->chunk_arena == NULL && fresh_after_first == 0);
    } else {
        CHECK(r->chunk_arena != NULL);
        /* all 2048 small blocks in use at once; the rest went to malloc */
        CHECK(fresh_after_first == URK_CHUNK_CLASS_BYTES / 128);
    }

    CHECK_OK(urk_engine_stop(e, 100));
    CHECK(r->chunk_arena == NULL && r->chunk_out == 0);
    urk_engine_destroy(e);
    close(fd);
    CHECK(t_fd_count() == fds0);
    free(want);
    free(got);
    free(big);
}

int main(void)
{
    run(0);
    run(URK_ENGINE_NO_SEND_POOL);
    printf("ok\n");
    return 0;
}

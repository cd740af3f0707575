/* Tiny rings under load: SQ of 2 or 4 entries (the engine must flush and
 * retry for a free SQE all the time) and a CQ of 4 or 8 entries (multishot
 * recvs overflow it constantly; the kernel keeps the overflow and the engine
 * must flush it). 100 connections echo 64 KiB each, byte-exact, in pull and
 * native mode; stats show the SQ-full waits and the CQ overflows. Overflows
 * are asserted with receive bundles off (one completion per buffer); with
 * them on a completion may cover many buffers, so the small CQ runs are
 * checked for the echo and the accounting only. */
#include "engine_util.h"

static int32_t on_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n, uint32_t buf,
                       void *u)
{
    (void)buf, (void)u;
    int rc = urk_send(r, c, d, n, 0, 0);
    CHECK(rc == 0);
    return 0;
}

static _Atomic uint64_t native_closes;
static void on_close(urk_reactor_t *r, urk_conn_t c, int32_t reason, void *u)
{
    (void)r, (void)c, (void)u;
    CHECK(reason == 0);
    atomic_fetch_add(&native_closes, 1);
}

static void run(uint32_t sq, uint32_t cq, int native, uint32_t nconn, uint32_t flags)
{
    if (native && te_valgrind())
        return; /* a native thread blocked in the ring starves the others */
    int fds0 = t_fd_count();
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    o.sq_entries = sq;
    o.cq_entries = cq;
    o.buf_count = 64;
    o.flags |= flags;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    te_server_t *srv = calloc(1, sizeof *srv);
    CHECK(srv);
    atomic_store(&native_closes, 0);
    if (native) {
        urk_callbacks_t cb;
        urk_callbacks_init(&cb);
        cb.on_data = on_data;
        cb.on_close = on_close;
        CHECK_OK(urk_engine_start(e, &cb));
    } else {
        te_server_start(srv, e);
    }
    te_client_t *cs = calloc(nconn, sizeof *cs);
    CHECK(cs);
    for (uint32_t i = 0; i < nconn; i++)
        te_client_init(&cs[i], 0, port, 64u << 10, 77 + i, TE_HALF_CLOSE | TE_EXPECT_EOF);
    te_clients_run(cs, nconn, 60000);
    for (uint32_t i = 0; i < nconn; i++)
        te_client_free(&cs[i]);
    free(cs);
    if (native) {
        TE_WAIT(atomic_load(&native_closes) == nconn, 10000);
    } else {
        TE_WAIT(atomic_load(&srv->closes) == nconn, 10000);
        CHECK(atomic_load(&srv->closes_peer) == nconn && atomic_load(&srv->send_errors) == 0);
        te_server_join(srv);
    }
    uint64_t sqw = 0, cqo = 0;
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
        CHECK(s.bytes_in == s.bytes_out);
        sqw += s.sq_full_waits;
        cqo += s.cq_overflows;
    }
    int bundles = !(flags & URK_ENGINE_NO_RECV_BUNDLE);
    printf("%s sq %u cq %u%s: %u connections echoed; sq_full_waits %llu cq_overflows %llu\n",
           native ? "native" : "pull", sq, cq, bundles ? "" : " (no bundles)", nconn,
           (unsigned long long)sqw, (unsigned long long)cqo);
    if (sq <= 4)
        CHECK(sqw > 0);
    if (cq && cq <= 8 && !bundles)
        CHECK(cqo > 0);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    free(srv);
    CHECK(t_fd_count() == fds0);
}

int main(void)
{
    te_raise_nofile();
    uint32_t n = te_valgrind() ? 10 : 100;
    run(2, 0, 0, n, 0);
    run(4, 0, 1, n, 0);
    run(4, 4, 0, n, URK_ENGINE_NO_RECV_BUNDLE);
    run(4, 8, 1, n, URK_ENGINE_NO_RECV_BUNDLE);
    run(2, 4, 0, n, URK_ENGINE_NO_RECV_BUNDLE);
    run(4, 4, 0, n, 0);
    run(4, 8, 1, n, 0);
    printf("ok\n");
    return 0;
}

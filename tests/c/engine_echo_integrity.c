/* Pull mode: echo across 2 reactors x 500 connections with random payloads
 * up to 1 MiB (half uniform, half log-uniform so small ones are common too),
 * byte-exact; every connection closed by its peer ends with CLOSED res 0;
 * byte counters agree; stop leaves no descriptor behind. */
#include "engine_util.h"

int main(void)
{
    te_raise_nofile();
    uint32_t nconn = te_valgrind() ? 20 : 500;
    size_t maxlen = te_valgrind() ? (64u << 10) : (1u << 20);
    int fds0 = t_fd_count();

    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    uint16_t port = (uint16_t)urk_engine_port(e);
    static te_server_t srv;
    te_server_start(&srv, e);

    te_client_t *cs = calloc(nconn, sizeof *cs);
    CHECK(cs);
    uint64_t total = 0, x = 12345;
    size_t biggest = 0;
    for (uint32_t i = 0; i < nconn; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* half the connections: uniform in [1, maxlen]; the others log-uniform
         * (a power-of-two range, then uniform in it), so small payloads are
         * common too; the first one is exactly maxlen */
        size_t lo = (size_t)1 << (x % 20);
        size_t len = i == 0 ? maxlen
                     : ((x >> 40) & 1) ? 1 + (size_t)((x >> 8) % maxlen)
                               : lo + (size_t)((x >> 8) % lo);
        if (len > maxlen)
            len = maxlen;
        if (len > biggest)
            biggest = len;
        total += len;
        te_client_init(&cs[i], 0, port, len, i + 1, 0);
    }
    uint64_t t0 = t_now_ms();
    te_clients_run(cs, nconn, 60000);
    printf("%u connections, %llu bytes each way (largest %zu) in %llu ms\n", nconn,
           (unsigned long long)total, biggest, (unsigned long long)(t_now_ms() - t0));
    for (uint32_t i = 0; i < nconn; i++)
        te_client_free(&cs[i]);
    free(cs);
    TE_WAIT(atomic_load(&srv.closes) == nconn, 10000);
    CHECK(atomic_load(&srv.opens) == nconn);
    CHECK(atomic_load(&srv.closes_peer) == nconn);
    CHECK(atomic_load(&srv.send_errors) == 0);
    CHECK(atomic_load(&srv.bytes) == total);

    uint64_t in = 0, out = 0, acc = 0;
    for (uint32_t i = 0; i < 2; i++) {
        urk_reactor_stats_t s = te_rstats(te_reactor(e, i));
        printf("reactor %u: accepted %llu closed %llu in %llu out %llu enobufs_rearms %llu\n", i,
               (unsigned long long)s.accepted, (unsigned long long)s.closed,
               (unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out,
               (unsigned long long)s.enobufs_rearms);
        if (!te_valgrind()) /* (valgrind: a listener per reactor instead) */
            CHECK(s.accepted == nconn / 2); /* round-robin, one connection at a time */
        CHECK(s.closed == s.accepted);
        CHECK(s.live_conns == 0 && s.bufs_held == 0 && s.send_queued == 0);
        in += s.bytes_in, out += s.bytes_out, acc += s.accepted;
    }
    CHECK(in == total && out == total && acc == nconn);
    CHECK(te_estats(e).accepted == nconn);
    te_server_join(&srv);
    CHECK_OK(urk_engine_stop(e, 100));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    printf("ok\n");
    return 0;
}

/* The echo example's backpressure path (URK_SEND_FORCE + urk_conn_pause_recv,
 * resumed on URK_EV_WRITABLE): a client sends 16 MiB without reading. The
 * server keeps every byte it received (forced past send_limit) but stops
 * receiving, so its queue stays bounded (send_limit plus at most two receive
 * rings' worth: the buffers handed out in the batch that crossed the limit,
 * and, with receive bundles, the buffers given back in that batch, which
 * the kernel may fill in one pass before the cancel reaches it) and the
 * client's writes block. When
 * the client reads, everything comes back byte-exact. */
#include "engine_util.h"

#define LIMIT (256u << 10)
#define BUFS 64u
#define BUFSZ 4096u

int main(void)
{
    if (te_valgrind())
        t_skip("blocking client writes need a polling thread");
    urk_engine_opts_t o;
    te_opts(&o);
    o.send_limit = LIMIT;
    o.buf_count = BUFS;
    o.buf_size = BUFSZ;
    urk_engine_t *e = te_create(&o);
    static te_server_t srv;
    te_server_start(&srv, e);
    urk_reactor_t *r = te_reactor(e, 0);

    te_client_t c;
    size_t len = te_valgrind() ? (2u << 20) : (16u << 20);
    te_client_init(&c, 0, (uint16_t)urk_engine_port(e), len, 42, 0);
    /* write without reading until the socket refuses for 200 ms */
    uint64_t last_progress = t_now_ms();
    while (c.w < c.len && t_now_ms() - last_progress < 200) {
        ssize_t x = write(c.fd, c.out + c.w, c.len - c.w);
        if (x > 0) {
            c.w += (size_t)x;
            last_progress = t_now_ms();
        } else {
            CHECK(errno == EAGAIN);
            te_sleep_ms(5);
        }
    }
    CHECK(c.w < c.len); /* the server stopped taking data */
    urk_reactor_stats_t s = te_rstats(r);
    printf("client wrote %zu of %zu before blocking; server send_queued %llu (limit %u)\n", c.w,
           c.len, (unsigned long long)s.send_queued, LIMIT);
    CHECK(s.send_queued <= LIMIT + 2 * BUFS * BUFSZ);
    te_sleep_ms(100);
    CHECK(te_rstats(r).send_queued == s.send_queued); /* stays put */

    te_clients_run(&c, 1, 30000);
    CHECK(c.r == c.len);
    te_client_free(&c);
    TE_WAIT(atomic_load(&srv.closes) == 1, 5000);
    CHECK(atomic_load(&srv.closes_peer) == 1 && atomic_load(&srv.send_errors) == 0);
    te_server_join(&srv);
    s = te_rstats(r);
    CHECK(s.bufs_held == 0 && s.send_queued == 0 && s.bytes_out == len);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("ok\n");
    return 0;
}

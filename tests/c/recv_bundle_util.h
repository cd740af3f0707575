/* recv_bundle_util.h - the receive-bundle workload shared by the
 * engine_recv_bundle_* tests: 2 reactors with 256-byte buffers echo, in pull
 * mode, for 64 loopback connections: half send one large message (tens to
 * hundreds of KiB, up to 64 KiB per write), half pipeline hundreds of small
 * ones (1..64 bytes, one write each, never waiting for the echo). Every echo
 * is checked byte for byte. The server releases each poll's buffers in a
 * scrambled order (reversed, or odd then even), so buffers go back to the
 * ring out of id order and "consecutive ring entries" is not "consecutive
 * ids". Afterwards nothing is held: bufs_held 0, live_conns 0, every buffer
 * back in the kernel's ring, no descriptor left. */
#ifndef URK_RECV_BUNDLE_UTIL_H
#define URK_RECV_BUNDLE_UTIL_H

#include "engine_util.h"
#include "engine/engine.h"

#define RB_BUF_SIZE 256u
#define RB_BUF_COUNT 256u
#define RB_REACTORS 2u

typedef struct rb_result {
    uint64_t bundles;     /* completions that covered several buffers */
    uint64_t bundle_bufs; /* buffers those covered */
    uint64_t data_events; /* DATA events (one per buffer) */
    uint64_t full_events; /* of those, events of exactly RB_BUF_SIZE bytes */
    uint64_t bytes;
    uint64_t enobufs_rearms;
} rb_result_t;

typedef struct rb_server {
    urk_engine_t *e;
    _Atomic int stop;
    _Atomic uint64_t data_events, full_events, bytes, closes, bad;
    pthread_t th[RB_REACTORS];
    uint32_t index[RB_REACTORS];
} rb_server_t;

static rb_server_t *rb_srv;

static void *rb_server_main(void *arg)
{
    uint32_t index = *(uint32_t *)arg;
    rb_server_t *s = rb_srv;
    urk_reactor_t *r = te_reactor(s->e, index);
    urk_event_t ev[64];
    uint32_t held[64], order[64];
    uint64_t turn = 0;
    while (!atomic_load(&s->stop)) {
        int n = urk_reactor_poll(r, ev, 64, 100);
        CHECK(n >= 0);
        uint32_t nh = 0;
        for (int i = 0; i < n; i++) {
            const urk_event_t *x = &ev[i];
            switch (x->type) {
            case URK_EV_DATA: {
                /* The event format is unchanged by bundles: one buffer each. */
                if (x->len == 0 || x->len > RB_BUF_SIZE || x->res != (int32_t)x->len ||
                    x->buf == 0 || x->buf > RB_BUF_COUNT) {
                    fprintf(stderr, "bad DATA event: len %u res %d buf %u\n", x->len, x->res,
                            x->buf);
                    atomic_fetch_add(&s->bad, 1);
                }
                int rc = urk_send(r, x->conn, x->data, x->len, 0, 0);
                if (rc == -EAGAIN) {
                    rc = urk_send(r, x->conn, x->data, x->len, URK_SEND_FORCE, 0);
                    if (rc == 0)
                        CHECK_OK(urk_conn_pause_recv(r, x->conn, 1));
                }
                CHECK(rc == 0 || rc == -URK_ECLOSING);
                atomic_fetch_add(&s->data_events, 1);
                if (x->len == RB_BUF_SIZE)
                    atomic_fetch_add(&s->full_events, 1);
                atomic_fetch_add(&s->bytes, x->len);
                held[nh++] = x->buf;
                break;
            }
            case URK_EV_WRITABLE: {
                int rc = urk_conn_pause_recv(r, x->conn, 0);
                CHECK(rc == 0 || rc == -URK_ECLOSING);
                break;
            }
            case URK_EV_CLOSED:
                if (x->res != 0) {
                    fprintf(stderr, "CLOSED with %d\n", x->res);
                    atomic_fetch_add(&s->bad, 1);
                }
                atomic_fetch_add(&s->closes, 1);
                break;
            default:
                break;
            }
        }
        /* Give the buffers back out of order (the data was copied by the
         * send): reversed on even turns, odd slots then even slots on odd
         * ones. */
        uint32_t k = 0;
        if (turn++ & 1) {
            for (uint32_t i = 1; i < nh; i += 2)
                order[k++] = held[i];
            for (uint32_t i = 0; i < nh; i += 2)
                order[k++] = held[i];
        } else {
            for (uint32_t i = nh; i-- > 0;)
                order[k++] = held[i];
        }
        if (nh)
            CHECK_RC(urk_reactor_release(r, order, nh), (int)nh);
    }
    return NULL;
}

typedef struct rb_client {
    int fd;
    uint8_t *out;
    size_t len, w, r;
    uint32_t max_write; /* 0: small messages of 1..64 bytes, one write each */
    uint64_t rng;
    int done;
} rb_client_t;

static size_t rb_next_write(rb_client_t *c)
{
    size_t left = c->len - c->w;
    size_t want;
    if (c->max_write) {
        want = c->max_write;
    } else {
        c->rng ^= c->rng << 13, c->rng ^= c->rng >> 7, c->rng ^= c->rng << 17;
        want = 1 + (size_t)(c->rng % 64);
    }
    return want < left ? want : left;
}

/* Drives every client until its whole echo is back, byte-exact. */
static void rb_clients_run(rb_client_t *cs, uint32_t n, uint32_t timeout_ms)
{
    struct pollfd pf[64];
    uint32_t idx[64];
    uint8_t *scratch = malloc(1 << 16);
    CHECK(n <= 64 && scratch);
    uint64_t deadline = t_now_ms() + timeout_ms;
    for (;;) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (cs[i].done)
                continue;
            pf[m].fd = cs[i].fd;
            pf[m].events = POLLIN | (cs[i].w < cs[i].len ? POLLOUT : 0);
            pf[m].revents = 0;
            idx[m++] = i;
        }
        if (m == 0)
            break;
        if (t_now_ms() > deadline) {
            for (uint32_t j = 0; j < m && j < 4; j++)
                fprintf(stderr, "client %u: sent %zu/%zu, echoed %zu\n", idx[j], cs[idx[j]].w,
                        cs[idx[j]].len, cs[idx[j]].r);
            fprintf(stderr, "clients timed out: %u not done\n", m);
            exit(1);
        }
        int k = poll(pf, m, 100);
        CHECK(k >= 0 || errno == EINTR);
        for (uint32_t j = 0; j < m && k > 0; j++) {
            if (!pf[j].revents)
                continue;
            rb_client_t *c = &cs[idx[j]];
            /* Small messages: up to 64 writes per wake-up, each its own
             * segment on the wire (TCP_NODELAY), none waiting for an echo. */
            for (int burst = 0; c->w < c->len && (pf[j].revents & POLLOUT) && burst < 64;
                 burst++) {
                size_t want = rb_next_write(c);
                ssize_t x = write(c->fd, c->out + c->w, want);
                if (x > 0) {
                    c->w += (size_t)x;
                    if (c->max_write)
                        break;
                    continue;
                }
                if (x < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                fprintf(stderr, "client %u: write: %s\n", idx[j], strerror(errno));
                exit(1);
            }
            if (pf[j].revents & (POLLIN | POLLERR | POLLHUP)) {
                for (;;) {
                    ssize_t x = read(c->fd, scratch, 1 << 16);
                    if (x > 0) {
                        if (c->r + (size_t)x > c->w ||
                            memcmp(scratch, c->out + c->r, (size_t)x) != 0) {
                            fprintf(stderr, "client %u: echo mismatch at %zu (+%zd, sent %zu)\n",
                                    idx[j], c->r, x, c->w);
                            exit(1);
                        }
                        c->r += (size_t)x;
                        continue;
                    }
                    if (x == 0) {
                        fprintf(stderr, "client %u: EOF after %zu of %zu\n", idx[j], c->r,
                                c->len);
                        exit(1);
                    }
                    if (errno != EAGAIN && errno != EINTR) {
                        fprintf(stderr, "client %u: read: %s\n", idx[j], strerror(errno));
                        exit(1);
                    }
                    break;
                }
            }
            if (c->r == c->len)
                c->done = 1;
        }
    }
    free(scratch);
}

/* Runs the workload with engine flags `flags`; hide_bundle_cap: as on a
 * kernel without bundles (the engine chooses from e->caps when it arms a
 * recv, so clearing the bit before start is the whole pretence). */
static rb_result_t rb_run(uint32_t flags, int hide_bundle_cap)
{
    /* Pull-mode threads blocked in the ring starve each other under
     * valgrind (see engine_util.h). */
    if (te_valgrind())
        t_skip("needs polling threads (valgrind)");
    te_raise_nofile();
    int fds0 = t_fd_count();
    uint32_t nconn = 64;
    urk_engine_opts_t o;
    te_opts(&o);
    o.reactors = RB_REACTORS;
    o.buf_size = RB_BUF_SIZE;
    o.buf_count = RB_BUF_COUNT;
    o.flags |= flags;
    urk_engine_t *e = te_create(&o);
    if (hide_bundle_cap)
        e->caps &= ~(uint64_t)URK_CAP_RECV_BUNDLE;
    uint16_t port = (uint16_t)urk_engine_port(e);

    static rb_server_t srv;
    memset(&srv, 0, sizeof srv);
    srv.e = e;
    rb_srv = &srv;
    CHECK_OK(urk_engine_start(e, NULL));
    for (uint32_t i = 0; i < RB_REACTORS; i++) {
        srv.index[i] = i;
        CHECK(pthread_create(&srv.th[i], NULL, rb_server_main, &srv.index[i]) == 0);
    }

    rb_client_t *cs = calloc(nconn, sizeof *cs);
    CHECK(cs);
    uint64_t total = 0, x = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < nconn; i++) {
        rb_client_t *c = &cs[i];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i % 2 == 0) {
            /* large: 32 KiB .. 544 KiB, in writes of up to 64 KiB */
            c->len = (32u << 10) + (size_t)(x % (512u << 10));
            c->max_write = 1u << 16;
        } else {
            /* pipelined small messages, about 700 of them */
            c->len = (20u << 10) + (size_t)(x % (4u << 10));
            c->max_write = 0;
        }
        c->rng = x | 1;
        c->out = malloc(c->len);
        CHECK(c->out);
        t_fill(c->out, c->len, i + 1);
        c->fd = t_connect(0, port);
        int one = 1;
        CHECK(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
        te_nonblock(c->fd);
        total += c->len;
    }
    rb_clients_run(cs, nconn, 120000);
    for (uint32_t i = 0; i < nconn; i++) {
        close(cs[i].fd);
        free(cs[i].out);
    }
    free(cs);
    TE_WAIT(atomic_load(&srv.closes) == nconn, 20000);
    atomic_store(&srv.stop, 1);
    for (uint32_t i = 0; i < RB_REACTORS; i++)
        CHECK_OK(urk_reactor_wake(te_reactor(e, i)));
    for (uint32_t i = 0; i < RB_REACTORS; i++)
        pthread_join(srv.th[i], NULL);

    rb_result_t res = {0};
    for (uint32_t i = 0; i < RB_REACTORS; i++) {
        urk_reactor_t *r = te_reactor(e, i);
        urk_reactor_stats_t st = te_rstats(r);
        /* Nothing held, nothing lost: every buffer is back in the ring. */
        CHECK(st.bufs_held == 0);
        CHECK(st.live_conns == 0);
        CHECK(r->bufs->held == 0);
        CHECK(r->bufs->bundle_broken == 0);
        CHECK(r->bufs->available == RB_BUF_COUNT); /* the owner thread is gone */
        res.bundles += atomic_load(&r->st.recv_bundles);
        res.bundle_bufs += atomic_load(&r->st.recv_bundle_bufs);
        res.enobufs_rearms += st.enobufs_rearms;
        CHECK(r->bufs->bundles == atomic_load(&r->st.recv_bundles));
    }
    res.data_events = atomic_load(&srv.data_events);
    res.full_events = atomic_load(&srv.full_events);
    res.bytes = atomic_load(&srv.bytes);
    CHECK(atomic_load(&srv.bad) == 0);
    CHECK(res.bytes == total);
    printf("flags %#x%s: %u connections, %llu bytes echoed in %llu DATA events (%llu full); "
           "%llu bundles over %llu buffers; %llu ENOBUFS re-arms\n",
           flags, hide_bundle_cap ? " (bundle capability hidden)" : "", nconn,
           (unsigned long long)total, (unsigned long long)res.data_events,
           (unsigned long long)res.full_events, (unsigned long long)res.bundles,
           (unsigned long long)res.bundle_bufs, (unsigned long long)res.enobufs_rearms);

    CHECK_OK(urk_engine_stop(e, 1000));
    urk_engine_destroy(e);
    CHECK(t_fd_count() == fds0);
    return res;
}

#endif

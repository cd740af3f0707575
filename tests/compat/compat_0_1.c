/* A program written against the 0.1.0 header runs unchanged against this
 * library. Built with -Itests/compat/0.1 only: <urocket.h> is the verbatim
 * 0.1.0 header, so every struct is 0.1's size (callbacks 64 bytes, engine
 * options 112, ...) and every call binds to name@UROCKET_0.1. It exercises
 * the ring layer (accept, recv with provided buffers, send), the engine in
 * pull mode and in native mode, and the load generator against that native
 * engine, and checks that no call writes past a struct of 0.1's size. Exit
 * 0 pass, 1 fail, 77 skip (io_uring unavailable). Nothing here may use
 * anything newer than 0.1.0. */
#include <urocket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);  \
            exit(1);                                                               \
        }                                                                          \
    } while (0)
#define CHECK_RC(expr, want)                                                       \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        if (rc_ != (want)) {                                                       \
            fprintf(stderr, "%s:%d: %s = %d (%s), want %d\n", __FILE__, __LINE__,  \
                    #expr, rc_, urk_err_name(rc_), (int)(want));                   \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int unavailable(int rc)
{
    return rc == -ENOSYS || rc == -EPERM || rc == -URK_ENOTSUP;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    CHECK(send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n);
}

/* The binary's own imports: every urk_ function is bound to UROCKET_0.1. */
static void check_imports(void)
{
    char exe[4096], cmd[4200];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(len > 0);
    exe[len] = 0;
    snprintf(cmd, sizeof cmd, "nm -D --undefined-only '%s' 2>/dev/null", exe);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char line[512];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, p)) {
        char *s = strstr(line, "urk_");
        if (!s)
            continue;
        n++;
        if (!strstr(s, "@UROCKET_0.1\n")) {
            fprintf(stderr, "import not bound to UROCKET_0.1: %s", s);
            bad++;
        }
    }
    int st = pclose(p);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        CHECK(bad == 0);
        CHECK(n >= 30);
        printf("imports: %d urk_ functions, all @UROCKET_0.1\n", n);
    }
}

/* ---- no write past a 0.1 struct ----
 * Every call that fills a caller's struct is given the 0.1 size (this
 * header's) followed by guard bytes; a library whose struct grew must not
 * touch them (it must keep a 0.1 version of the call, or write only what
 * struct_size says). */

#define GUARD 64
#define GUARDED(T) struct { T v; uint8_t guard[GUARD]; }

static void guard_set(uint8_t *g) { memset(g, 0xA5, GUARD); }

static void guard_check(const uint8_t *g, const char *what)
{
    for (int i = 0; i < GUARD; i++)
        if (g[i] != 0xA5) {
            fprintf(stderr, "%s wrote past the 0.1 struct (guard byte %d)\n", what, i);
            exit(1);
        }
}

#define FILL(T, call, what)                       \
    do {                                          \
        GUARDED(T) g_;                            \
        memset(&g_.v, 0, sizeof g_.v);            \
        guard_set(g_.guard);                      \
        CHECK_RC(call(&g_.v), 0);                 \
        guard_check(g_.guard, what);              \
    } while (0)

static urk_ring_t *g_ring;
static urk_engine_t *g_engine;
static urk_reactor_t *g_reactor;
static urk_loadgen_t *g_lg;
static int ring_info_(urk_ring_info_t *o) { return urk_ring_info(g_ring, o); }
static int ring_stats_(urk_ring_stats_t *o) { return urk_ring_stats(g_ring, o); }
static int engine_stats_(urk_engine_stats_t *o) { return urk_engine_stats(g_engine, o); }
static int reactor_stats_(urk_reactor_stats_t *o) { return urk_reactor_stats(g_reactor, o); }
static int lg_result_(urk_loadgen_result_t *o) { return urk_loadgen_result(g_lg, o); }
static int addr_parse_(urk_addr_t *o) { return urk_addr_parse("::1", 1, o); }

static void no_overwrite(void)
{
    FILL(urk_ring_opts_t, urk_ring_opts_init, "urk_ring_opts_init");
    FILL(urk_bufring_opts_t, urk_bufring_opts_init, "urk_bufring_opts_init");
    FILL(urk_engine_opts_t, urk_engine_opts_init, "urk_engine_opts_init");
    FILL(urk_callbacks_t, urk_callbacks_init, "urk_callbacks_init");
    FILL(urk_loadgen_opts_t, urk_loadgen_opts_init, "urk_loadgen_opts_init");
    FILL(urk_addr_t, addr_parse_, "urk_addr_parse");

    CHECK_RC(urk_ring_create(NULL, &g_ring), 0);
    FILL(urk_ring_info_t, ring_info_, "urk_ring_info");
    FILL(urk_ring_stats_t, ring_stats_, "urk_ring_stats");
    urk_ring_destroy(g_ring);

    urk_engine_opts_t o;
    CHECK_RC(urk_engine_opts_init(&o), 0);
    o.flags = URK_ENGINE_NO_LISTEN;
    o.buf_count = 16;
    CHECK_RC(urk_engine_create(&o, &g_engine), 0);
    CHECK_RC(urk_engine_reactor(g_engine, 0, &g_reactor), 0);
    FILL(urk_engine_stats_t, engine_stats_, "urk_engine_stats");
    FILL(urk_reactor_stats_t, reactor_stats_, "urk_reactor_stats");
    urk_engine_destroy(g_engine);

    urk_loadgen_opts_t lo;
    CHECK_RC(urk_loadgen_opts_init(&lo), 0);
    lo.host = "127.0.0.1";
    lo.port = 9;
    lo.request = "x";
    lo.request_len = 1;
    lo.max_requests = 1;
    CHECK_RC(urk_loadgen_create(&lo, &g_lg), 0);
    FILL(urk_loadgen_result_t, lg_result_, "urk_loadgen_result");
    struct { urk_loadgen_second_t v[2]; uint8_t guard[GUARD]; } secs;
    guard_set(secs.guard);
    CHECK(urk_loadgen_timeline(g_lg, secs.v, 2) >= 0);
    guard_check(secs.guard, "urk_loadgen_timeline");
    urk_loadgen_destroy(g_lg);
    printf("no call wrote past a 0.1 struct\n");
}

/* ---- ring layer: accept, recv into a provided buffer, send it back ---- */

static void ring_echo(void)
{
    urk_ring_opts_t ro;
    CHECK_RC(urk_ring_opts_init(&ro), 0);
    CHECK(ro.struct_size == sizeof ro && sizeof ro == 48);
    ro.sq_entries = 64;
    urk_ring_t *ring = NULL;
    int rc = urk_ring_create(&ro, &ring);
    if (unavailable(rc)) {
        printf("skip: io_uring unavailable (%s)\n", urk_err_name(rc));
        exit(77);
    }
    CHECK_RC(rc, 0);
    urk_ring_info_t info = {.struct_size = sizeof info};
    CHECK_RC(urk_ring_info(ring, &info), 0);
    CHECK(info.sq_entries == 64);

    urk_bufring_opts_t bo;
    CHECK_RC(urk_bufring_opts_init(&bo), 0);
    bo.count = 8;
    bo.size = 4096;
    bo.group_id = 7;
    urk_bufring_t *br = NULL;
    CHECK_RC(urk_bufring_create(ring, &bo, &br), 0);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0);
    urk_addr_t la;
    CHECK_RC(urk_addr_parse("127.0.0.1", 0, &la), 0);
    CHECK(bind(lfd, (struct sockaddr *)la.bytes, la.len) == 0 && listen(lfd, 16) == 0);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    CHECK(getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0);

    CHECK_RC(urk_prep_accept_multishot(ring, lfd, 1, 0), 0);
    CHECK_RC(urk_prep_nop(ring, 9, 0), 0);
    CHECK(urk_ring_submit(ring) == 2);
    int cfd = connect_to(ntohs(sin.sin_port));
    write_all(cfd, "ring-0.1", 8);

    int sfd = -1, nop = 0, echoed = 0, sent = 0;
    uint64_t deadline = now_ms() + 10000;
    while (!sent) {
        CHECK(now_ms() < deadline);
        urk_cqe_t c[8];
        int n = urk_ring_complete(ring, c, 8, 1, 100 * 1000000LL);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (c[i].user_data == 9) {
                nop = 1;
            } else if (c[i].user_data == 1) {
                CHECK(c[i].res >= 0);
                sfd = c[i].res;
                CHECK_RC(urk_prep_recv_multishot(ring, sfd, 7, 2, 0), 0);
            } else if (c[i].user_data == 2) {
                CHECK(c[i].res == 8 && (c[i].flags & URK_CQE_F_BUFFER));
                CHECK(memcmp(c[i].buf, "ring-0.1", 8) == 0);
                static char copy[8];
                memcpy(copy, c[i].buf, 8);
                CHECK_RC(urk_bufring_recycle(br, &c[i].buf_id, 1), 1);
                CHECK_RC(urk_prep_send(ring, sfd, copy, 8, 0, 3, 0), 0);
                echoed = 1;
            } else if (c[i].user_data == 3) {
                CHECK(c[i].res == 8);
                sent = 1;
            }
        }
    }
    CHECK(nop && echoed);
    char back[8];
    CHECK(recv(cfd, back, 8, MSG_WAITALL) == 8 && memcmp(back, "ring-0.1", 8) == 0);
    urk_ring_stats_t st;
    CHECK_RC(urk_ring_stats(ring, &st), 0);
    CHECK(st.completed >= 4);
    close(cfd);
    /* cancel the multishots before closing their fds, then tear down */
    CHECK_RC(urk_prep_cancel_fd(ring, sfd, 0, 0), 0);
    CHECK_RC(urk_prep_cancel_fd(ring, lfd, 0, 0), 0);
    CHECK(urk_ring_submit(ring) >= 0);
    urk_cqe_t drain[16];
    CHECK(urk_ring_complete(ring, drain, 16, 0, 0) >= 0);
    urk_bufring_destroy(br);
    urk_ring_destroy(ring);
    close(sfd);
    close(lfd);
    printf("ring: echo ok\n");
}

/* ---- engine, pull mode ---- */

static void pull_echo(void)
{
    urk_engine_opts_t o;
    CHECK_RC(urk_engine_opts_init(&o), 0);
    CHECK(o.struct_size == 112 && sizeof o == 112);
    o.buf_count = 64;
    o.max_conns = 64;
    if (getenv("URK_VALGRIND") && getenv("URK_VALGRIND")[0] == '1')
        o.flags |= URK_ENGINE_REUSEPORT; /* no acceptor thread under valgrind */
    urk_engine_t *e = NULL;
    CHECK_RC(urk_engine_create(&o, &e), 0);
    CHECK_RC(urk_engine_start(e, NULL), 0);
    int port = urk_engine_port(e);
    CHECK(port > 0);
    CHECK(urk_engine_reactor_count(e) == 1);
    urk_reactor_t *r = NULL;
    CHECK_RC(urk_engine_reactor(e, 0, &r), 0);
    CHECK(urk_reactor_fd(r) >= 0);

    int cfd = connect_to((uint16_t)port);
    write_all(cfd, "pull-0.1", 8);
    int opened = 0, closed = 0, got = 0, shut = 0;
    char back[8];
    uint64_t deadline = now_ms() + 10000;
    while (!closed) {
        CHECK(now_ms() < deadline);
        urk_event_t ev[16];
        int n = urk_reactor_poll(r, ev, 16, 50);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            switch (ev[i].type) {
            case URK_EV_OPEN:
                CHECK(ev[i].len > 0 && ev[i].len <= sizeof(urk_addr_t));
                CHECK_RC(urk_conn_set_user(r, ev[i].conn, 42), 0);
                opened++;
                break;
            case URK_EV_DATA:
                CHECK_RC(urk_send(r, ev[i].conn, ev[i].data, ev[i].len, 0, 0), 0);
                CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
                break;
            case URK_EV_CLOSED: /* polled after the echo, so after set_user */
                CHECK(ev[i].user == 42);
                closed++;
                break;
            default:
                break;
            }
        }
        CHECK(urk_reactor_flush(r) >= 0);
        if (got < 8) {
            ssize_t m = recv(cfd, back + got, (size_t)(8 - got), MSG_DONTWAIT);
            if (m > 0)
                got += (int)m;
        } else if (!shut) {
            CHECK(memcmp(back, "pull-0.1", 8) == 0);
            close(cfd);
            shut = 1;
        }
    }
    CHECK(opened == 1 && closed == 1);
    urk_reactor_stats_t rs;
    CHECK_RC(urk_reactor_stats(r, &rs), 0);
    CHECK(rs.bytes_in == 8 && rs.bytes_out == 8 && rs.live_conns == 0);
    CHECK_RC(urk_engine_stop(e, 1000), 0);
    urk_engine_destroy(e);
    printf("engine pull: echo ok\n");
}

/* ---- engine, native mode with the 64-byte 0.1 callbacks ---- */

static _Atomic int n_open, n_close;

static void cb_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *peer, uint64_t tag,
                    void *user)
{
    (void)r; (void)c; (void)tag;
    CHECK(user == (void *)&n_open);
    CHECK(peer && peer->len > 0);
    atomic_fetch_add(&n_open, 1);
}

static int32_t cb_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n,
                       uint32_t buf, void *user)
{
    (void)buf; (void)user;
    int rc = urk_send(r, c, d, n, URK_SEND_FORCE, 0);
    CHECK(rc == 0 || rc == -URK_ECLOSING);
    return 0;
}

static void cb_close(urk_reactor_t *r, urk_conn_t c, int32_t reason, void *user)
{
    (void)r; (void)c; (void)reason; (void)user;
    atomic_fetch_add(&n_close, 1);
}

static void native_and_loadgen(void)
{
    urk_callbacks_t cbs;
    CHECK_RC(urk_callbacks_init(&cbs), 0);
    CHECK(cbs.struct_size == 64 && sizeof cbs == 64);
    cbs.user = (void *)&n_open;
    cbs.on_open = cb_open;
    cbs.on_data = cb_data;
    cbs.on_close = cb_close;

    urk_engine_opts_t o;
    CHECK_RC(urk_engine_opts_init(&o), 0);
    o.reactors = 2;
    o.buf_count = 256;
    urk_engine_t *e = NULL;
    CHECK_RC(urk_engine_create(&o, &e), 0);
    CHECK_RC(urk_engine_start(e, &cbs), 0); /* a 64-byte callbacks struct is accepted */
    uint16_t port = (uint16_t)urk_engine_port(e);

    int cfd = connect_to(port);
    write_all(cfd, "native-0.1", 10);
    char back[10];
    CHECK(recv(cfd, back, 10, MSG_WAITALL) == 10 && memcmp(back, "native-0.1", 10) == 0);
    close(cfd);
    uint64_t deadline = now_ms() + 10000;
    while (atomic_load(&n_close) < 1) {
        CHECK(now_ms() < deadline);
        usleep(1000);
    }
    CHECK(atomic_load(&n_open) == 1);
    printf("engine native: echo ok\n");

    /* The load generator against it: fixed 8-byte echo responses. */
    urk_loadgen_opts_t lo;
    CHECK_RC(urk_loadgen_opts_init(&lo), 0);
    CHECK(lo.struct_size == 120 && sizeof lo == 120);
    lo.host = "127.0.0.1";
    lo.port = port;
    lo.framing = URK_FRAME_FIXED;
    lo.request = "12345678";
    lo.request_len = 8;
    lo.response_len = 8;
    lo.connections = 4;
    lo.max_requests = 200;
    urk_loadgen_t *lg = NULL;
    CHECK_RC(urk_loadgen_create(&lo, &lg), 0);
    CHECK_RC(urk_loadgen_run(lg), 0);
    urk_loadgen_result_t res;
    CHECK_RC(urk_loadgen_result(lg, &res), 0);
    CHECK(res.responses == 200 && res.requests == 200);
    CHECK(res.err_connect + res.err_read + res.err_write + res.err_timeout + res.err_framing == 0);
    uint64_t p50 = 0;
    CHECK_RC(urk_loadgen_percentile(lg, 500000, &p50), 0);
    CHECK(p50 > 0);
    urk_loadgen_second_t secs[4];
    CHECK(urk_loadgen_timeline(lg, secs, 4) >= 0);
    CHECK_RC(urk_loadgen_stop(lg), 0);
    urk_loadgen_destroy(lg);
    printf("loadgen: 200 requests ok, p50 %llu ns\n", (unsigned long long)p50);

    urk_engine_stats_t es;
    CHECK_RC(urk_engine_stats(e, &es), 0);
    CHECK(es.accepted == 5);
    CHECK_RC(urk_engine_stop(e, 1000), 0);
    urk_engine_destroy(e);
    CHECK(atomic_load(&n_open) == 5 && atomic_load(&n_close) == 5);
}

int main(void)
{
    CHECK(urk_abi_version() == URK_ABI_VERSION);
    CHECK(urk_version() >> 16 == URK_VERSION_MAJOR);
    CHECK(urk_version() >= URK_VERSION_NUMBER);
    CHECK(urk_strerror(-URK_ESTALE_ID) != NULL);
    uint64_t caps = 0;
    int rc = urk_probe(&caps);
    if (unavailable(rc)) {
        printf("skip: io_uring unavailable (%s)\n", urk_err_name(rc));
        return 77;
    }
    CHECK_RC(rc, 0);
    check_imports();
    no_overwrite();
    ring_echo();
    pull_echo();
    /* Native reactor threads and the acceptor block in io_uring_enter,
     * which valgrind does not treat as blocking: they would starve. */
    if (getenv("URK_VALGRIND") && getenv("URK_VALGRIND")[0] == '1') {
        printf("native engine and load generator skipped under valgrind\n");
        return 0;
    }
    native_and_loadgen();
    printf("ok\n");
    return 0;
}

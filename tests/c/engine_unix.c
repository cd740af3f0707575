/* The engine on a Unix-domain stream socket, pull mode: host "unix:/path"
 * (port ignored: urk_engine_port is 0). A plain AF_UNIX client's bytes are
 * echoed byte-exact (1 MiB, so the send queue and buffers cycle); OPEN
 * carries the peer's sockaddr_un and urk_conn_peer returns it; an outgoing
 * urk_reactor_connect to the same path opens (OPEN with its tag, peer =
 * the path) and echoes through the engine's own listener. A stale socket
 * file at the path is replaced; a regular file, or a socket someone
 * listens on, is left alone and create fails with -EADDRINUSE. The
 * listener's file is removed when the engine is destroyed. Abstract names
 * ("unix:@name") work and leave no file. REUSEPORT with a path: -EINVAL. */
#include "engine_util.h"

#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

static char dir[] = "/tmp/urk_engine_unix_XXXXXX";
static char path[256], spec[300];

static int unix_connect(const char *p)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    snprintf(su.sun_path, sizeof su.sun_path, "%s", p);
    if (p[0] == '@')
        su.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p) + (p[0] != '@'));
    CHECK(connect(fd, (struct sockaddr *)&su, len) == 0);
    return fd;
}

typedef struct state {
    urk_reactor_t *r;
    urk_conn_t server_side, out_conn;
    int opened, out_opened, closed;
    size_t out_got;
    uint8_t *out_back;
} state_t;

static void on_event(state_t *st, const urk_event_t *ev)
{
    urk_reactor_t *r = st->r;
    switch (ev->type) {
    case URK_EV_OPEN: {
        const struct sockaddr_un *su = (const struct sockaddr_un *)ev->data;
        CHECK(ev->len >= sizeof(sa_family_t) && su->sun_family == AF_UNIX);
        if (ev->user == 77) { /* our outgoing connection */
            CHECK(ev->conn == st->out_conn);
            st->out_opened = 1;
            urk_addr_t peer;
            CHECK_OK(urk_conn_peer(r, ev->conn, &peer));
            char buf[300];
            CHECK(urk_addr_format(&peer, buf, sizeof buf) > 0);
            CHECK(strcmp(buf, spec) == 0);
        } else {
            st->opened++;
            st->server_side = ev->conn;
            urk_addr_t peer;
            CHECK_OK(urk_conn_peer(r, ev->conn, &peer));
            CHECK(peer.len == ev->len && memcmp(peer.bytes, ev->data, ev->len) == 0);
            char buf[300];
            CHECK(urk_addr_format(&peer, buf, sizeof buf) >= 5); /* "unix:" unnamed */
        }
        break;
    }
    case URK_EV_DATA:
        if (ev->conn == st->out_conn) {
            memcpy(st->out_back + st->out_got, ev->data, ev->len);
            st->out_got += ev->len;
        } else {
            int rc = urk_send(r, ev->conn, ev->data, ev->len, URK_SEND_FORCE, 0);
            CHECK(rc == 0 || rc == -URK_ECLOSING);
        }
        CHECK_RC(urk_reactor_release(r, &ev->buf, 1), 1);
        break;
    case URK_EV_CLOSED:
        st->closed++;
        break;
    case URK_EV_CONNECT_FAILED:
        fprintf(stderr, "connect failed: %s\n", urk_err_name(ev->res));
        exit(1);
    default:
        break;
    }
}

static void pump(state_t *st, int32_t timeout_ms)
{
    urk_event_t ev[64];
    int n = urk_reactor_poll(st->r, ev, 64, timeout_ms);
    CHECK(n >= 0);
    for (int i = 0; i < n; i++)
        on_event(st, &ev[i]);
}

static urk_engine_t *make_engine(const char *host)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.host = host;
    o.port = 4321; /* ignored */
    o.buf_count = 64;
    urk_engine_t *e = NULL;
    int rc = urk_engine_create(&o, &e);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    return e;
}

static void echo_through(urk_engine_t *e, const char *connect_to)
{
    CHECK(urk_engine_port(e) == 0);
    CHECK_OK(urk_engine_start(e, NULL));
    state_t st = {.r = te_reactor(e, 0)};
    const size_t len = 1 << 20;
    uint8_t *out = malloc(len), *back = malloc(len);
    t_fill(out, len, 5);
    int fd = unix_connect(connect_to);
    te_nonblock(fd);
    size_t w = 0, got = 0;
    uint64_t deadline = t_now_ms() + 30000;
    while (got < len) {
        CHECK(t_now_ms() < deadline);
        if (w < len) {
            ssize_t n = write(fd, out + w, len - w > 65536 ? 65536 : len - w);
            if (n > 0)
                w += (size_t)n;
        }
        pump(&st, 5);
        ssize_t m = read(fd, back + got, len - got);
        if (m > 0)
            got += (size_t)m;
        CHECK(m != 0);
    }
    CHECK(memcmp(out, back, len) == 0);
    CHECK(st.opened == 1);

    /* Outgoing connection to the same address, through the engine. */
    urk_addr_t a;
    CHECK_OK(urk_addr_parse(spec, 0, &a));
    CHECK_OK(urk_reactor_connect(st.r, &a, 77, &st.out_conn));
    while (!st.out_opened) {
        CHECK(t_now_ms() < deadline);
        pump(&st, 10);
    }
    st.out_back = malloc(65536);
    CHECK_OK(urk_send(st.r, st.out_conn, out, 65536, 0, 0));
    while (st.out_got < 65536) {
        CHECK(t_now_ms() < deadline);
        pump(&st, 10);
    }
    CHECK(memcmp(st.out_back, out, 65536) == 0);
    CHECK(st.opened == 2); /* the engine accepted its own connect */
    close(fd);
    CHECK_OK(urk_close(st.r, st.out_conn, 0));
    while (st.closed < 3) {
        CHECK(t_now_ms() < deadline);
        pump(&st, 10);
    }
    free(out);
    free(back);
    free(st.out_back);
    CHECK_OK(urk_engine_stop(e, 1000));
}

int main(void)
{
    if (te_valgrind())
        t_skip("the acceptor thread starves under valgrind");
    CHECK(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/echo.sock", dir);
    snprintf(spec, sizeof spec, "unix:%s", path);
    struct stat sb;

    /* A stale socket file (its process is gone) is replaced. */
    urk_addr_t a;
    CHECK_OK(urk_addr_parse(spec, 0, &a));
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(stale, (struct sockaddr *)a.bytes, a.len) == 0);
    close(stale);
    CHECK(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode));

    urk_engine_t *e = make_engine(spec);
    echo_through(e, path);
    CHECK(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)); /* still there while it lives */
    urk_engine_destroy(e);
    CHECK(lstat(path, &sb) != 0 && errno == ENOENT); /* removed */
    printf("path socket: echo, connect, peer, stale file replaced, file removed\n");

    /* A socket someone listens on is not taken over. */
    int live = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(live, (struct sockaddr *)a.bytes, a.len) == 0 && listen(live, 4) == 0);
    urk_engine_opts_t o;
    te_opts(&o);
    o.host = spec;
    urk_engine_t *e2 = NULL;
    CHECK_RC(urk_engine_create(&o, &e2), -EADDRINUSE);
    CHECK(e2 == NULL);
    CHECK(lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode));
    int c = unix_connect(path); /* it still reaches the live listener */
    close(c);
    close(live);
    unlink(path);

    /* Nor is a regular file. */
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs("keep me", f);
    fclose(f);
    CHECK_RC(urk_engine_create(&o, &e2), -EADDRINUSE);
    CHECK(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 7);
    unlink(path);

    /* One path, one listener. */
    o.flags = URK_ENGINE_REUSEPORT;
    CHECK_RC(urk_engine_create(&o, &e2), -EINVAL);
    CHECK(lstat(path, &sb) != 0);
    printf("live socket and regular file kept; REUSEPORT refused\n");

    /* Abstract namespace: no file at all. */
    char abs_name[64];
    snprintf(abs_name, sizeof abs_name, "@urk-engine-unix-%d", (int)getpid());
    snprintf(spec, sizeof spec, "unix:%s", abs_name);
    e = make_engine(spec);
    echo_through(e, abs_name);
    urk_engine_destroy(e);
    printf("abstract socket: echo, connect\n");
    rmdir(dir);
    printf("ok\n");
    return 0;
}

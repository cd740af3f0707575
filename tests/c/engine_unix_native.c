/* Native mode on a Unix-domain socket ("unix:/path"): 2 reactors echo 16
 * concurrent AF_UNIX clients byte-exact (256 KiB each); on_open gets an
 * AF_UNIX peer; every connection gets on_close; the socket file is gone
 * after destroy and no descriptor is left behind. */
#include "engine_util.h"

#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

#define NCLIENT 16
#define LEN (256 * 1024)

static char path[100];
static _Atomic int opens, closes, bad_peer;

static void on_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *peer, uint64_t tag,
                    void *u)
{
    (void)r; (void)c; (void)tag; (void)u;
    if (peer->len < sizeof(sa_family_t) || ((const struct sockaddr *)peer->bytes)->sa_family != AF_UNIX)
        atomic_fetch_add(&bad_peer, 1);
    atomic_fetch_add(&opens, 1);
}

static int32_t on_data(urk_reactor_t *r, urk_conn_t c, const uint8_t *d, uint32_t n,
                       uint32_t buf, void *u)
{
    (void)buf; (void)u;
    int rc = urk_send(r, c, d, n, URK_SEND_FORCE, 0);
    CHECK(rc == 0 || rc == -URK_ECLOSING);
    return 0;
}

static void on_close(urk_reactor_t *r, urk_conn_t c, int32_t reason, void *u)
{
    (void)r; (void)c; (void)reason; (void)u;
    atomic_fetch_add(&closes, 1);
}

static void *client(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    uint8_t *out = malloc(LEN), *back = malloc(LEN);
    t_fill(out, LEN, seed);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
    CHECK(connect(fd, (struct sockaddr *)&su, sizeof su) == 0);
    te_nonblock(fd);
    size_t w = 0, got = 0;
    uint64_t deadline = t_now_ms() + 30000;
    while (got < LEN) {
        CHECK(t_now_ms() < deadline);
        if (w < LEN) {
            ssize_t n = write(fd, out + w, LEN - w);
            if (n > 0)
                w += (size_t)n;
        }
        ssize_t m = read(fd, back + got, LEN - got);
        if (m > 0) {
            got += (size_t)m;
        } else {
            CHECK(m != 0);
            struct pollfd p = {fd, POLLIN | (w < LEN ? POLLOUT : 0), 0};
            poll(&p, 1, 50);
        }
    }
    CHECK(memcmp(out, back, LEN) == 0);
    close(fd);
    free(out);
    free(back);
    return NULL;
}

int main(void)
{
    if (te_valgrind())
        t_skip("native reactor threads starve under valgrind");
    char dir[] = "/tmp/urk_engine_unix_native_XXXXXX";
    CHECK(mkdtemp(dir));
    CHECK(snprintf(path, sizeof path, "%s/native.sock", dir) < (int)sizeof path);
    char spec[300];
    snprintf(spec, sizeof spec, "unix:%s", path);
    int fds0 = t_fd_count();

    urk_engine_opts_t o;
    te_opts(&o);
    o.host = spec;
    o.reactors = 2;
    urk_engine_t *e = te_create(&o);
    CHECK(urk_engine_port(e) == 0);
    urk_callbacks_t cbs;
    CHECK_OK(urk_callbacks_init(&cbs));
    cbs.on_open = on_open;
    cbs.on_data = on_data;
    cbs.on_close = on_close;
    CHECK_OK(urk_engine_start(e, &cbs));

    pthread_t th[NCLIENT];
    for (int i = 0; i < NCLIENT; i++)
        CHECK(pthread_create(&th[i], NULL, client, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < NCLIENT; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    uint64_t deadline = t_now_ms() + 10000;
    while (atomic_load(&closes) < NCLIENT) {
        CHECK(t_now_ms() < deadline);
        te_sleep_ms(5);
    }
    CHECK(atomic_load(&opens) == NCLIENT && atomic_load(&bad_peer) == 0);
    urk_reactor_stats_t s0 = te_rstats(te_reactor(e, 0)), s1 = te_rstats(te_reactor(e, 1));
    CHECK(s0.accepted + s1.accepted == NCLIENT);
    CHECK(s0.bytes_in + s1.bytes_in == (uint64_t)NCLIENT * LEN);
    CHECK_OK(urk_engine_stop(e, 1000));
    urk_engine_destroy(e);
    struct stat sb;
    CHECK(lstat(path, &sb) != 0 && errno == ENOENT);
    CHECK(t_fd_count() == fds0);
    rmdir(dir);
    printf("ok (%d clients, %llu + %llu accepted)\n", NCLIENT, (unsigned long long)s0.accepted,
           (unsigned long long)s1.accepted);
    return 0;
}

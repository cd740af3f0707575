/* A pull-mode reactor stopped from a thread that is not its owner cannot
 * drive its ring, so the kernel may still be reading a send in flight: stop
 * must not free that send's memory (the copy the engine made) before the
 * ring is gone at destroy. The send is large and the peer does not read, so
 * it stays in flight; the allocation is watched through the test's own
 * malloc/free. */
#include "engine_util.h"
#include "alloc_hook.h"

#define BIG (4u << 20)

static urk_engine_t *eng;
static _Atomic urk_conn_t conn;

static void *owner(void *arg)
{
    (void)arg;
    urk_reactor_t *r = te_reactor(eng, 0);
    urk_event_t ev;
    uint64_t dl = t_now_ms() + 5000;
    while (t_now_ms() < dl) {
        int n = urk_reactor_poll(r, &ev, 1, 20);
        CHECK(n >= 0);
        if (n == 1 && ev.type == URK_EV_OPEN)
            break;
    }
    CHECK(ev.type == URK_EV_OPEN);
    uint8_t *big = malloc(BIG);
    CHECK(big);
    memset(big, 'z', BIG);
    CHECK_OK(urk_send(r, ev.conn, big, BIG, 0, 0)); /* copied */
    free(big);
    for (int i = 0; i < 20; i++) /* the send goes to the kernel and stays */
        CHECK(urk_reactor_poll(r, &ev, 1, 5) >= 0);
    CHECK(te_rstats(r).send_queued > 0);
    atomic_store(&conn, ev.conn);
    return NULL; /* this thread polls no more */
}

int main(void)
{
    if (!ALLOC_HOOK || te_valgrind())
        t_skip("needs the test's own malloc");
    urk_engine_opts_t o;
    te_opts(&o);
    eng = te_create(&o);
    CHECK_OK(urk_engine_start(eng, NULL));
    int fd = t_connect(0, (uint16_t)urk_engine_port(eng));
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* the engine's chunk: its header (40 bytes) and the copy */
    atomic_store(&ah_watch_size, (size_t)40 + BIG);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, owner, NULL) == 0);
    pthread_join(t, NULL);
    CHECK(atomic_load(&ah_watched) != NULL);
    CHECK_OK(urk_engine_stop(eng, 0)); /* not the owner: cannot drive the ring */
    if (atomic_load(&ah_watched_freed)) {
        fprintf(stderr, "stop freed a send the kernel may still read\n");
        return 1;
    }
    urk_engine_destroy(eng);
    CHECK(atomic_load(&ah_watched_freed));
    close(fd);
    printf("ok\n");
    return 0;
}

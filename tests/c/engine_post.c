/* urk_reactor_post. Pull mode: posts from another thread come back as
 * URK_EV_POST events (conn 0, user the arg, data the fn's bits, NULL fn
 * allowed), in order, none lost, and each makes urk_reactor_fd readable for
 * a loop that waits only on it. Native mode: fn runs on the reactor's own
 * thread, so an engine with URK_ENGINE_NO_LISTEN can open an outgoing
 * connection from outside its callbacks. Stop: posts still queued (in the
 * post queue, or as events a small poll left behind) are run by stop, in
 * both modes; a post after stop is refused (-URK_ESTATE); an engine
 * destroyed without start runs its posts too. */
#include "engine_util.h"

#define POSTS 2000

static _Atomic uint64_t ran, ran_sum;

static void count_fn(urk_reactor_t *r, void *arg)
{
    (void)r;
    atomic_fetch_add(&ran, 1);
    atomic_fetch_add(&ran_sum, (uint64_t)(uintptr_t)arg);
}

static void *poster(void *arg)
{
    urk_reactor_t *r = arg;
    for (uintptr_t i = 1; i <= POSTS; i++)
        CHECK_OK(urk_reactor_post(r, (i % 100) ? count_fn : NULL, (void *)i));
    return NULL;
}

static void pull_case(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_NO_LISTEN;
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    CHECK_RC(urk_reactor_post(NULL, count_fn, NULL), -EINVAL);
    int fd = urk_reactor_fd(r);
    urk_event_t ev[16];
    CHECK_RC(urk_reactor_poll(r, ev, 16, 0), 0); /* this thread owns r */
    atomic_store(&ran, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, poster, r) == 0);
    uintptr_t next = 1;
    while (next <= POSTS) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, 5000);
        CHECK(ready >= 0);
        if (ready == 0) {
            fprintf(stderr, "lost wake-up after %lu posts\n", (unsigned long)next - 1);
            exit(1);
        }
        int n = urk_reactor_poll(r, ev, 16, 0);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].type == URK_EV_POST && ev[i].conn == 0 && ev[i].res == 0);
            CHECK(ev[i].user == next); /* in order */
            urk_post_fn fn = (urk_post_fn)(uintptr_t)ev[i].data;
            CHECK(fn == ((next % 100) ? count_fn : NULL));
            if (fn)
                fn(r, (void *)(uintptr_t)ev[i].user);
            next++;
        }
    }
    pthread_join(t, NULL);
    CHECK(atomic_load(&ran) == POSTS - POSTS / 100);

    /* Left over at stop: two never polled and two behind a poll of one. */
    atomic_store(&ran, 0);
    atomic_store(&ran_sum, 0);
    for (uintptr_t i = 1; i <= 3; i++)
        CHECK_OK(urk_reactor_post(r, count_fn, (void *)i));
    CHECK_RC(urk_reactor_poll(r, ev, 1, 0), 1);
    CHECK(ev[0].type == URK_EV_POST && ev[0].user == 1);
    CHECK_OK(urk_reactor_post(r, count_fn, (void *)(uintptr_t)10));
    CHECK_OK(urk_engine_stop(e, 0));
    CHECK(atomic_load(&ran) == 3 && atomic_load(&ran_sum) == 2 + 3 + 10);
    CHECK_RC(urk_reactor_post(r, count_fn, NULL), -URK_ESTATE);
    urk_engine_destroy(e);
}

/* ---- native mode ---- */

static uint16_t lport;
static urk_addr_t target;
static _Atomic int native_connect_rc = 1, opened;
static _Atomic urk_conn_t native_conn;

static void connect_fn(urk_reactor_t *r, void *arg)
{
    CHECK(arg == &target);
    urk_conn_t id = 0;
    atomic_store(&native_connect_rc, urk_reactor_connect(r, &target, 42, &id));
    atomic_store(&native_conn, id);
}

static void n_on_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *peer, uint64_t tag,
                      void *u)
{
    (void)peer, (void)u;
    CHECK(tag == 42 && c == atomic_load(&native_conn));
    CHECK_OK(urk_send(r, c, "hi", 2, 0, 0));
    atomic_store(&opened, 1);
}

static void native_case(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_NO_LISTEN;
    urk_engine_t *e = te_create(&o);
    urk_callbacks_t cb;
    CHECK_OK(urk_callbacks_init(&cb));
    cb.on_open = n_on_open;
    CHECK_OK(urk_engine_start(e, &cb));
    urk_reactor_t *r = te_reactor(e, 0);
    int lfd = t_listen(0, &lport);
    CHECK_OK(urk_addr_parse("127.0.0.1", lport, &target));
    /* from this thread the reactor is not ours */
    urk_conn_t id;
    CHECK_RC(urk_reactor_connect(r, &target, 42, &id), -URK_ETHREAD);
    CHECK_OK(urk_reactor_post(r, connect_fn, &target));
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1);
    int cfd = accept(lfd, NULL, NULL);
    CHECK(cfd >= 0);
    char buf[2];
    t_read_all(cfd, buf, 2);
    CHECK(memcmp(buf, "hi", 2) == 0);
    CHECK(atomic_load(&native_connect_rc) == 0 && atomic_load(&opened) == 1);

    /* posts made just before stop all run */
    atomic_store(&ran, 0);
    for (uintptr_t i = 0; i < 500; i++)
        CHECK_OK(urk_reactor_post(r, count_fn, (void *)i));
    CHECK_OK(urk_engine_stop(e, 0));
    CHECK(atomic_load(&ran) == 500);
    CHECK_RC(urk_reactor_post(r, count_fn, NULL), -URK_ESTATE);
    close(cfd);
    close(lfd);
    urk_engine_destroy(e);
}

static void never_started_case(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.flags = URK_ENGINE_NO_LISTEN;
    urk_engine_t *e = te_create(&o);
    atomic_store(&ran, 0);
    CHECK_OK(urk_reactor_post(te_reactor(e, 0), count_fn, NULL));
    urk_engine_destroy(e);
    CHECK(atomic_load(&ran) == 1);
}

int main(void)
{
    pull_case();
    never_started_case();
    if (!te_valgrind())
        native_case();
    printf("ok\n");
    return 0;
}

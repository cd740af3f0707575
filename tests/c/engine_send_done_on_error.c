/* Every send queued with URK_SEND_NOCOPY or URK_SEND_NOTIFY gets exactly one
 * SEND_DONE, also when the send fails: the caller's buffer lifetime depends
 * on it. A client that never reads makes the sends back up, then:
 *   1. it resets the connection (SO_LINGER 0): the in-flight and queued
 *      sends all complete with a negative result, then CLOSED;
 *   2. we close abortively (urk_close abort 1): the same;
 *   3. native mode: urk_engine_stop(e, 0) with sends queued: on_send_done
 *      runs for each before stop returns.
 * By tag, results are full lengths up to the first failure, then only
 * errors (completions of queued sends may come before the in-flight one's). */
#include "engine_util.h"

#define N 200
#define LEN (64u << 10)
static uint8_t payload[LEN];
static int seen[N];
static int32_t result[N];

static urk_conn_t open_one(urk_reactor_t *r, int *cfd, uint16_t port)
{
    *cfd = t_connect(0, port);
    int small = 8192;
    setsockopt(*cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    urk_event_t ev[8];
    uint64_t dl = t_now_ms() + 5000;
    while (t_now_ms() < dl) {
        int n = urk_reactor_poll(r, ev, 8, 20);
        CHECK(n >= 0 && n <= 1);
        if (n == 1 && ev[0].type == URK_EV_OPEN)
            return ev[0].conn;
    }
    CHECK(0);
    return 0;
}

static void queue_all(urk_reactor_t *r, urk_conn_t c)
{
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        uint32_t flags = i % 2 ? URK_SEND_NOCOPY : URK_SEND_NOTIFY;
        CHECK_OK(urk_send(r, c, payload, LEN, flags | URK_SEND_FORCE, (uint64_t)i));
    }
}

/* Polls until CLOSED for c; checks the SEND_DONE set is complete and in
 * order, and that none follows CLOSED. Returns how many had succeeded. */
static int collect(urk_reactor_t *r, urk_conn_t c, void (*trigger)(void), int trigger_after)
{
    urk_event_t ev[64];
    int done = 0, closed = 0, first_err = -1, polls = 0;
    uint64_t dl = t_now_ms() + 10000;
    while (!closed) {
        CHECK(t_now_ms() < dl);
        if (++polls == trigger_after)
            trigger();
        int n = urk_reactor_poll(r, ev, 64, 10);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].conn == c);
            if (ev[i].type == URK_EV_SEND_DONE) {
                CHECK(!closed);
                CHECK(ev[i].user < N && !seen[ev[i].user]);
                seen[ev[i].user] = 1;
                result[ev[i].user] = ev[i].res;
                CHECK(ev[i].res < 0 || ev[i].res == (int32_t)LEN);
                done++;
            } else if (ev[i].type == URK_EV_CLOSED) {
                CHECK(ev[i].res < 0 || ev[i].res == 1);
                closed = 1;
            } else {
                CHECK(0);
            }
        }
    }
    CHECK(done == N);
    /* the stream stops at the first failure: no success after it */
    for (int i = 0; i < N; i++) {
        if (result[i] < 0 && first_err < 0)
            first_err = i;
        if (first_err >= 0)
            CHECK(result[i] < 0);
    }
    CHECK(first_err >= 0);
    return first_err;
}

static int victim = -1;
static void reset_victim(void)
{
    struct linger lg = {1, 0};
    CHECK(setsockopt(victim, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    close(victim);
    victim = -1;
}

static urk_reactor_t *close_r;
static urk_conn_t close_c;
static void abort_close(void) { CHECK_OK(urk_close(close_r, close_c, 1)); }

static void pull_cases(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);

    int cfd;
    urk_conn_t c = open_one(r, &cfd, port);
    queue_all(r, c);
    victim = cfd;
    int ok = collect(r, c, reset_victim, 20);
    printf("reset: %d sends completed, %d failed (first error %s)\n", ok, N - ok,
           urk_err_name(result[ok]));

    c = open_one(r, &cfd, port);
    queue_all(r, c);
    close_r = r, close_c = c;
    ok = collect(r, c, abort_close, 20);
    printf("abortive close: %d completed, %d failed (first error %s)\n", ok, N - ok,
           urk_err_name(result[ok]));
    CHECK(te_rstats(r).send_queued == 0 && te_rstats(r).live_conns == 0);
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
}

static _Atomic int native_done, native_failed, native_closed;
static void on_open(urk_reactor_t *r, urk_conn_t c, const urk_addr_t *peer, uint64_t tag, void *u)
{
    (void)peer, (void)tag, (void)u;
    for (int i = 0; i < N; i++)
        CHECK_OK(urk_send(r, c, payload, LEN, URK_SEND_NOCOPY | URK_SEND_FORCE, (uint64_t)i));
}
static void on_send_done(urk_reactor_t *r, urk_conn_t c, int32_t res, uint64_t tag, void *u)
{
    (void)r, (void)c, (void)u;
    CHECK(tag < N);
    CHECK(!atomic_load(&native_closed));
    atomic_fetch_add(&native_done, 1);
    if (res < 0)
        atomic_fetch_add(&native_failed, 1);
}
static void on_close(urk_reactor_t *r, urk_conn_t c, int32_t reason, void *u)
{
    (void)r, (void)c, (void)reason, (void)u;
    atomic_store(&native_closed, 1);
}

static void native_stop_case(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_open = on_open;
    cb.on_send_done = on_send_done;
    cb.on_close = on_close;
    CHECK_OK(urk_engine_start(e, &cb));
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));
    int small = 8192;
    setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    TE_WAIT(te_rstats(te_reactor(e, 0)).send_queued > 0, 5000);
    te_sleep_ms(20);
    CHECK_OK(urk_engine_stop(e, 0));
    printf("native stop: %d SEND_DONE (%d failed), closed %d\n", atomic_load(&native_done),
           atomic_load(&native_failed), atomic_load(&native_closed));
    CHECK(atomic_load(&native_done) == N && atomic_load(&native_failed) > 0);
    CHECK(atomic_load(&native_closed) == 1);
    close(cfd);
    urk_engine_destroy(e);
}

int main(void)
{
    t_fill(payload, LEN, 3);
    pull_cases();
    if (!te_valgrind()) /* a native thread blocked in the ring starves us */
        native_stop_case();
    printf("ok\n");
    return 0;
}

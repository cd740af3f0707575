/* loadgen.c - the load generator: many client connections on io_uring, one
 * ring per thread, closed or open loop, exact request counts, a latency
 * histogram with bounded relative error and a per-second timeline.
 *
 * Per connection: a connect, then one multishot recv on the thread's
 * provided-buffer ring for the connection's life, and at most one send in
 * flight (notes, pitfall 3). A failed connection is cancelled, drained of
 * its own completions, closed and reconnected (backing off while it keeps
 * failing), so a completion can never reach a later socket in its slot.
 *
 * Open loop: request k of thread i (of T) is due at t0 + (k*T + i)/rate. A
 * due request waits for a free connection and its latency runs from the due
 * time, so a slow server cannot hide its stalls (no coordinated omission).
 *
 * max_requests N: a request that fails (error, timeout, peer close) is
 * retried on another attempt, so exactly N responses are counted and a
 * clean run sends exactly N requests. With no duration, the run gives up
 * once max_requests + connections errors were counted.
 *
 * Run phases: every thread first connects its connections (bounded by
 * min(timeout, 1 s); not measured), then all start together at t0, from
 * which elapsed_ns, the duration and the timeline count.
 *
 * Errors: err_connect: connect failed or timed out (and socket() failures);
 * err_read: recv error, or the peer closed with a request outstanding or a
 * response half read (a close between responses is a normal keep-alive
 * close: reconnected, not an error); err_write: send failed; err_timeout:
 * no complete response within timeout_ms of the send; err_framing: the
 * bytes do not parse (see loadgen_frame.c: chunked HTTP is one) or arrive
 * with no request outstanding. Each closes and replaces the connection. */
#include "internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LG_MAX_THREADS 64
#define LG_MAX_CONNS (1u << 20)
#define LG_MAX_DELIM 65536u
#define LG_TL_WINDOW 8        /* seconds the timeline waits for slow threads */
#define LG_BATCH 256
#define LG_BUF_SIZE 8192
#define LG_GROUP 1
#define LG_NONE UINT32_MAX
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define LG_DRAIN_NS (1000 * NS_PER_MS)
#define LG_BACKOFF_MAX_NS (250 * NS_PER_MS)

#define RELAXED memory_order_relaxed

/* user_data: kind (8 bits) | connection index within the thread. */
enum lg_kind { K_CONNECT = 1, K_RECV, K_SEND, K_CANCEL, K_STOP, K_CANCEL_ALL };
#define LG_UD(kind, idx) (((uint64_t)(kind) << 56) | (uint64_t)(idx))

enum lg_err { E_NONE = 0, E_CONNECT, E_READ, E_WRITE, E_TIMEOUT, E_FRAMING };

enum lg_conn_state { C_IDLE_SLOT = 0, C_CONNECTING, C_READY, C_CLOSING, C_BACKOFF };

/* Live totals of one thread: written by that thread only (relaxed load +
 * store), read by urk_loadgen_result from anywhere. */
typedef struct lg_counters {
    _Alignas(64) _Atomic uint64_t requests;
    _Atomic uint64_t responses, bytes_out, bytes_in;
    _Atomic uint64_t err[E_FRAMING + 1];
    _Atomic uint64_t cpu_ns;
    urk_hist_t hist;
} lg_counters_t;

typedef struct lg_conn {
    int fd;
    uint32_t index;
    uint8_t state;
    uint8_t recv_armed, send_busy, send_pending, outstanding, starved, idle;
    uint32_t ops;    /* this connection's ops in flight (incl. its cancel) */
    uint32_t sent;   /* bytes of the current request sent */
    uint32_t streak; /* failures since the last response */
    uint32_t idle_prev, idle_next;
    uint64_t issued_ns, intended_ns;
    uint64_t deadline_ns; /* connect or response deadline */
    uint64_t reconnect_ns;
    urk_lg_parser_t parser;
} lg_conn_t;

struct urk_loadgen;

typedef struct lg_thread {
    struct urk_loadgen *lg;
    uint32_t index;
    lg_counters_t *ctr;
    urk_ring_t *ring;
    urk_bufring_t *br;
    uint32_t low_water;
    lg_conn_t *conns;
    uint32_t nconns;
    uint32_t idle_head;
    uint32_t nstarved;
    uint32_t nconnecting;
    uint32_t ops; /* every op in flight on the ring */
    int draining;
    int rc;
    uint64_t now, t0, end_ns, scan_ns, next_scan;
    uint64_t cpu0;
    /* open loop */
    uint64_t sched_k, quota;
    uint64_t *retry;
    uint32_t retry_head, retry_n, retry_cap;
    /* timeline */
    urk_hist_t *sec_hist;
    uint64_t sec, sec_resp0, sec_err0;
    pthread_t tid;
    uint32_t nbids;
    uint16_t bids[LG_BATCH];
} lg_thread_t;

typedef struct lg_pending_second {
    uint64_t sec, responses, errors;
    uint32_t flushed, used;
    urk_hist_t *hist;
} lg_pending_second_t;

struct urk_loadgen {
    urk_loadgen_opts_t o;
    urk_addr_t addr;
    uint8_t *request;
    uint8_t *delim;
    urk_lg_framing_t framing;
    uint32_t nthreads;
    lg_counters_t *ctr;
    int stop_fd;
    uint64_t timeout_ns;
    uint64_t error_budget; /* 0: none */
    _Atomic int stop;
    _Atomic int state;    /* 0 new, 1 running, 2 done */
    _Atomic int fatal;    /* first setup error of a run */
    _Atomic int finished; /* `final` is valid */
    _Atomic uint64_t t0, end_ns;
    _Atomic uint64_t responses; /* global, for max_requests */
    _Atomic uint64_t tickets;   /* closed loop: requests not failed */
    _Atomic uint64_t errors;
    /* start barrier: a thread that was never created is subtracted */
    pthread_mutex_t bar_lock;
    pthread_cond_t bar_cond;
    uint32_t bar_expected, bar_arrived;
    uint64_t bar_t0;
    /* timeline */
    pthread_mutex_t tl_lock;
    urk_loadgen_second_t *tl;
    uint32_t tl_n, tl_cap;
    lg_pending_second_t pend[LG_TL_WINDOW];
    urk_hist_t *final;
};

/* ---- small helpers ---- */

static inline void bump(_Atomic uint64_t *p, uint64_t d)
{
    atomic_store_explicit(p, atomic_load_explicit(p, RELAXED) + d, RELAXED);
}

static inline uint64_t rd(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, RELAXED);
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint32_t pow2_clamp(uint64_t v, uint32_t lo, uint32_t hi)
{
    uint32_t p = lo;
    while (p < v && p < hi)
        p <<= 1;
    return p;
}

static void signal_stop(struct urk_loadgen *lg)
{
    atomic_store(&lg->stop, 1);
    uint64_t one = 1;
    /* The eventfd only ever needs to be readable; EAGAIN means it already
     * is (counter saturated), so the result does not matter. */
    ssize_t n = write(lg->stop_fd, &one, sizeof one);
    URK_UNUSED(n);
}

static int stopping(const lg_thread_t *t)
{
    return atomic_load_explicit(&t->lg->stop, RELAXED) || t->now >= t->end_ns;
}

/* ---- options ---- */

int urk_loadgen_opts_init(urk_loadgen_opts_t *opts)
{
    if (!opts)
        return -EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->framing = URK_FRAME_HTTP;
    opts->connections = 64;
    opts->threads = 1;
    opts->cpu = -1;
    return 0;
}

static int validate(const urk_loadgen_opts_t *o, urk_addr_t *addr)
{
    if (o->flags & ~URK_LOAD_OPEN_LOOP)
        return -EINVAL;
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
        if (o->reserved[i])
            return -EINVAL;
    if (!o->host || urk_addr_parse(o->host, o->port, addr) != 0 || o->port == 0)
        return -EINVAL;
    if (o->connections < 1 || o->connections > LG_MAX_CONNS)
        return -EINVAL;
    if (o->threads < 1 || o->threads > LG_MAX_THREADS || o->threads > o->connections)
        return -EINVAL;
    if (!o->request || o->request_len == 0)
        return -EINVAL;
    switch (o->framing) {
    case URK_FRAME_FIXED:
        if (o->response_len == 0)
            return -EINVAL;
        break;
    case URK_FRAME_DELIM:
        if (!o->delim || o->delim_len == 0 || o->delim_len > LG_MAX_DELIM)
            return -EINVAL;
        break;
    case URK_FRAME_HTTP:
        break;
    default:
        return -EINVAL;
    }
    if (o->duration_ms == 0 && o->max_requests == 0)
        return -EINVAL;
    if ((o->flags & URK_LOAD_OPEN_LOOP) && o->rate == 0)
        return -EINVAL;
    if (o->cpu < -1 || (o->cpu >= 0 && (uint64_t)o->cpu + o->threads > CPU_SETSIZE))
        return -EINVAL;
    return 0;
}

static void lg_free(struct urk_loadgen *lg)
{
    if (!lg)
        return;
    if (lg->stop_fd >= 0)
        close(lg->stop_fd);
    urk__lg_framing_free(&lg->framing);
    free(lg->request);
    free(lg->delim);
    free(lg->ctr);
    for (int i = 0; i < LG_TL_WINDOW; i++)
        free(lg->pend[i].hist);
    free(lg->final);
    free(lg->tl);
    pthread_mutex_destroy(&lg->bar_lock);
    pthread_cond_destroy(&lg->bar_cond);
    pthread_mutex_destroy(&lg->tl_lock);
    free(lg);
}

int urk_loadgen_create(const urk_loadgen_opts_t *opts_in, urk_loadgen_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!opts_in)
        return -EINVAL;
    urk_loadgen_opts_t o;
    urk_loadgen_opts_init(&o);
    int rc = urk__copy_opts(&o, sizeof o, opts_in);
    if (rc)
        return rc;
    urk_addr_t addr;
    rc = validate(&o, &addr);
    if (rc)
        return rc;

    struct urk_loadgen *lg = calloc(1, sizeof *lg);
    if (!lg)
        return -ENOMEM;
    lg->stop_fd = -1;
    pthread_mutex_init(&lg->bar_lock, NULL);
    pthread_cond_init(&lg->bar_cond, NULL);
    pthread_mutex_init(&lg->tl_lock, NULL);
    lg->o = o;
    lg->o.host = NULL; /* the caller's strings need not outlive this call */
    lg->addr = addr;
    lg->nthreads = o.threads;
    lg->timeout_ns = sat_mul(o.timeout_ms ? o.timeout_ms : 5000, NS_PER_MS);
    if (o.duration_ms == 0)
        lg->error_budget = sat_add(o.max_requests, o.connections);

    lg->request = malloc(o.request_len);
    if (!lg->request)
        goto nomem;
    memcpy(lg->request, o.request, o.request_len);
    lg->o.request = lg->request;
    if (o.framing == URK_FRAME_DELIM) {
        lg->delim = malloc(o.delim_len);
        if (!lg->delim)
            goto nomem;
        memcpy(lg->delim, o.delim, o.delim_len);
        lg->o.delim = lg->delim;
    } else {
        lg->o.delim = NULL;
    }
    int head = o.framing == URK_FRAME_HTTP && o.request_len >= 5 &&
               memcmp(lg->request, "HEAD ", 5) == 0;
    rc = urk__lg_framing_init(&lg->framing, o.framing, o.response_len, lg->delim,
                              o.framing == URK_FRAME_DELIM ? o.delim_len : 0,
                              (uint32_t)head);
    if (rc) {
        lg_free(lg);
        return rc;
    }

    lg->ctr = aligned_alloc(64, sizeof(lg_counters_t) * lg->nthreads);
    if (!lg->ctr)
        goto nomem;
    memset(lg->ctr, 0, sizeof(lg_counters_t) * lg->nthreads);
    for (uint32_t i = 0; i < lg->nthreads; i++)
        urk__hist_init(&lg->ctr[i].hist);
    for (int i = 0; i < LG_TL_WINDOW; i++) {
        lg->pend[i].hist = malloc(sizeof(urk_hist_t));
        if (!lg->pend[i].hist)
            goto nomem;
    }
    lg->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (lg->stop_fd < 0) {
        rc = -errno;
        lg_free(lg);
        return rc;
    }
    *out = lg;
    return 0;
nomem:
    lg_free(lg);
    return -ENOMEM;
}

void urk_loadgen_destroy(urk_loadgen_t *lg) { lg_free(lg); }

int urk_loadgen_stop(urk_loadgen_t *lg)
{
    if (!lg)
        return -EINVAL;
    signal_stop(lg);
    return 0;
}

/* ---- timeline ---- */

static void tl_finalize(struct urk_loadgen *lg, lg_pending_second_t *s)
{
    if (s->sec >= UINT32_MAX) {
        s->used = 0;
        return;
    }
    uint32_t idx = (uint32_t)s->sec;
    if (idx >= lg->tl_cap) {
        uint32_t cap = lg->tl_cap ? lg->tl_cap : 64;
        while (cap <= idx)
            cap *= 2;
        urk_loadgen_second_t *n = realloc(lg->tl, (size_t)cap * sizeof *n);
        if (!n) {
            s->used = 0; /* losing a timeline entry beats failing the run */
            return;
        }
        memset(n + lg->tl_cap, 0, (size_t)(cap - lg->tl_cap) * sizeof *n);
        lg->tl = n;
        lg->tl_cap = cap;
    }
    urk_loadgen_second_t *e = &lg->tl[idx];
    e->responses = s->responses;
    e->errors = s->errors;
    e->lat_p50_ns = urk__hist_percentile(s->hist, 500000);
    e->lat_p99_ns = urk__hist_percentile(s->hist, 990000);
    if (idx + 1 > lg->tl_n)
        lg->tl_n = idx + 1;
    s->used = 0;
}

static void tl_flush(struct urk_loadgen *lg, uint64_t sec, const urk_hist_t *h,
                     uint64_t responses, uint64_t errors)
{
    pthread_mutex_lock(&lg->tl_lock);
    lg_pending_second_t *s = &lg->pend[sec % LG_TL_WINDOW];
    if (s->used && s->sec != sec)
        tl_finalize(lg, s); /* a thread lags by a whole window: publish */
    if (!s->used) {
        s->used = 1;
        s->sec = sec;
        s->flushed = 0;
        s->responses = s->errors = 0;
        urk__hist_init(s->hist);
    }
    if (h)
        urk__hist_merge(s->hist, h);
    s->responses += responses;
    s->errors += errors;
    if (++s->flushed >= lg->nthreads)
        tl_finalize(lg, s);
    pthread_mutex_unlock(&lg->tl_lock);
}

static uint64_t thread_errors(const lg_counters_t *c)
{
    uint64_t n = 0;
    for (int k = E_CONNECT; k <= E_FRAMING; k++)
        n += rd(&c->err[k]);
    return n;
}

/* Publishes the second the thread has just finished. */
static void sec_flush(lg_thread_t *t, int with_hist)
{
    uint64_t resp = rd(&t->ctr->responses), errs = thread_errors(t->ctr);
    tl_flush(t->lg, t->sec, with_hist ? t->sec_hist : NULL, resp - t->sec_resp0,
             errs - t->sec_err0);
    if (with_hist)
        urk__hist_init(t->sec_hist);
    t->sec_resp0 = resp;
    t->sec_err0 = errs;
    atomic_store_explicit(&t->ctr->cpu_ns, urk__thread_cpu_ns() - t->cpu0, RELAXED);
}

static void sec_rollover(lg_thread_t *t)
{
    while (t->now >= t->t0 + (t->sec + 1) * NS_PER_S) {
        sec_flush(t, 1);
        t->sec++;
    }
}

/* ---- connections ---- */

static void count_err(lg_thread_t *t, int kind)
{
    bump(&t->ctr->err[kind], 1);
    uint64_t n = atomic_fetch_add_explicit(&t->lg->errors, 1, RELAXED) + 1;
    if (t->lg->error_budget && n >= t->lg->error_budget)
        signal_stop(t->lg);
}

static void set_state(lg_thread_t *t, lg_conn_t *c, uint8_t s)
{
    if (c->state == C_CONNECTING)
        t->nconnecting--;
    if (s == C_CONNECTING)
        t->nconnecting++;
    c->state = s;
}

static void idle_push(lg_thread_t *t, lg_conn_t *c)
{
    if (c->idle)
        return;
    c->idle = 1;
    c->idle_prev = LG_NONE;
    c->idle_next = t->idle_head;
    if (t->idle_head != LG_NONE)
        t->conns[t->idle_head].idle_prev = c->index;
    t->idle_head = c->index;
}

static void idle_remove(lg_thread_t *t, lg_conn_t *c)
{
    if (!c->idle)
        return;
    if (c->idle_prev != LG_NONE)
        t->conns[c->idle_prev].idle_next = c->idle_next;
    else
        t->idle_head = c->idle_next;
    if (c->idle_next != LG_NONE)
        t->conns[c->idle_next].idle_prev = c->idle_prev;
    c->idle = 0;
}

static void starved_clear(lg_thread_t *t, lg_conn_t *c)
{
    if (c->starved) {
        c->starved = 0;
        t->nstarved--;
    }
}

static int retry_push(lg_thread_t *t, uint64_t intended)
{
    if (t->retry_n == t->retry_cap) {
        uint32_t cap = t->retry_cap ? t->retry_cap * 2 : 64;
        uint64_t *n = malloc((size_t)cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        for (uint32_t i = 0; i < t->retry_n; i++)
            n[i] = t->retry[(t->retry_head + i) % t->retry_cap];
        free(t->retry);
        t->retry = n;
        t->retry_cap = cap;
        t->retry_head = 0;
    }
    t->retry[(t->retry_head + t->retry_n) % t->retry_cap] = intended;
    t->retry_n++;
    return 0;
}

static uint64_t retry_pop(lg_thread_t *t)
{
    uint64_t v = t->retry[t->retry_head];
    t->retry_head = (t->retry_head + 1) % t->retry_cap;
    t->retry_n--;
    return v;
}

static int open_loop(const lg_thread_t *t) { return (t->lg->o.flags & URK_LOAD_OPEN_LOOP) != 0; }

/* Due time of this thread's k-th scheduled request. */
static uint64_t sched_time(const lg_thread_t *t, uint64_t k)
{
    const struct urk_loadgen *lg = t->lg;
    unsigned __int128 slot = (unsigned __int128)k * lg->nthreads + t->index;
    unsigned __int128 off = slot * NS_PER_S / lg->o.rate;
    if (off > UINT64_MAX - t->t0)
        return UINT64_MAX;
    return t->t0 + (uint64_t)off;
}

/* A failed request is handed back so that max_requests still yields exactly
 * that many responses. */
static void give_back_request(lg_thread_t *t, lg_conn_t *c)
{
    if (!t->lg->o.max_requests)
        return;
    if (open_loop(t)) {
        if (retry_push(t, c->intended_ns) == 0)
            return;
        /* Out of memory: dropping the retry leaves the run one short, so
         * end it rather than wait forever. */
        signal_stop(t->lg);
        return;
    }
    atomic_fetch_sub(&t->lg->tickets, 1);
}

static int take_ticket(lg_thread_t *t)
{
    uint64_t max = t->lg->o.max_requests;
    if (!max)
        return 1;
    uint64_t cur = atomic_load(&t->lg->tickets);
    while (cur < max)
        if (atomic_compare_exchange_weak(&t->lg->tickets, &cur, cur + 1))
            return 1;
    return 0;
}

static void conn_fail(lg_thread_t *t, lg_conn_t *c, int err);
static void conn_connect(lg_thread_t *t, lg_conn_t *c);

static void op_started(lg_thread_t *t, lg_conn_t *c)
{
    t->ops++;
    if (c)
        c->ops++;
}

static void send_next(lg_thread_t *t, lg_conn_t *c)
{
    const struct urk_loadgen *lg = t->lg;
    int rc = urk_prep_send(t->ring, c->fd, lg->request + c->sent, lg->o.request_len - c->sent,
                           0, LG_UD(K_SEND, c->index), 0);
    if (rc) {
        conn_fail(t, c, E_WRITE);
        return;
    }
    c->send_busy = 1;
    op_started(t, c);
}

static void conn_issue(lg_thread_t *t, lg_conn_t *c, uint64_t intended)
{
    c->outstanding = 1;
    c->issued_ns = t->now;
    c->intended_ns = intended;
    c->deadline_ns = sat_add(t->now, t->lg->timeout_ns);
    bump(&t->ctr->requests, 1);
    if (c->send_busy) {
        /* The server answered before our previous send finished: queue
         * behind it, never a second send on the socket. */
        c->send_pending = 1;
        return;
    }
    c->sent = 0;
    send_next(t, c);
}

/* Gives due requests to free connections. */
static void dispatch(lg_thread_t *t)
{
    if (t->draining || stopping(t))
        return;
    while (t->idle_head != LG_NONE) {
        uint64_t intended;
        if (!open_loop(t)) {
            if (!take_ticket(t))
                return;
            intended = t->now;
        } else if (t->retry_n) {
            intended = retry_pop(t);
        } else if (t->sched_k < t->quota && sched_time(t, t->sched_k) <= t->now &&
                   sched_time(t, t->sched_k) < t->end_ns) {
            intended = sched_time(t, t->sched_k++);
        } else {
            return;
        }
        lg_conn_t *c = &t->conns[t->idle_head];
        idle_remove(t, c);
        conn_issue(t, c, intended);
    }
}

static void arm_recv(lg_thread_t *t, lg_conn_t *c)
{
    int rc = urk_prep_recv_multishot(t->ring, c->fd, LG_GROUP, LG_UD(K_RECV, c->index), 0);
    if (rc) {
        conn_fail(t, c, E_READ);
        return;
    }
    c->recv_armed = 1;
    op_started(t, c);
}

static void conn_closed(lg_thread_t *t, lg_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (t->draining) {
        set_state(t, c, C_IDLE_SLOT);
        return;
    }
    uint64_t backoff = 0;
    if (c->streak > 1) {
        uint32_t sh = c->streak - 2 < 20 ? c->streak - 2 : 20;
        backoff = NS_PER_MS << sh;
        if (backoff > LG_BACKOFF_MAX_NS)
            backoff = LG_BACKOFF_MAX_NS;
    }
    if (backoff == 0) {
        conn_connect(t, c);
        return;
    }
    set_state(t, c, C_BACKOFF);
    c->reconnect_ns = t->now + backoff;
}

static void conn_fail(lg_thread_t *t, lg_conn_t *c, int err)
{
    if (c->state == C_CLOSING || c->state == C_BACKOFF || c->state == C_IDLE_SLOT)
        return;
    if (err != E_NONE) {
        count_err(t, err);
        c->streak++;
    }
    if (c->outstanding) {
        c->outstanding = 0;
        give_back_request(t, c);
    }
    c->send_pending = 0;
    idle_remove(t, c);
    starved_clear(t, c);
    set_state(t, c, C_CLOSING);
    if (c->ops == 0) {
        conn_closed(t, c);
        return;
    }
    /* close() would not stop the multishot recv (notes, pitfall 4): cancel,
     * then close once every op of this socket has posted its last CQE. */
    if (urk_prep_cancel_fd(t->ring, c->fd, LG_UD(K_CANCEL, c->index), URK_CANCEL_ALL) == 0)
        op_started(t, c);
    else
        shutdown(c->fd, SHUT_RDWR); /* no SQE: the ops end on their own */
}

static void conn_connect(lg_thread_t *t, lg_conn_t *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)t->lg->addr.bytes;
    urk__lg_parser_init(&c->parser, &t->lg->framing);
    c->outstanding = c->send_busy = c->send_pending = c->recv_armed = 0;
    c->sent = 0;
    c->ops = 0;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -errno : 0;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        rc = urk_prep_connect(t->ring, fd, &t->lg->addr, LG_UD(K_CONNECT, c->index), 0);
    }
    if (rc) {
        if (fd >= 0)
            close(fd);
        c->fd = -1;
        count_err(t, E_CONNECT);
        c->streak++;
        set_state(t, c, C_BACKOFF);
        uint64_t b = NS_PER_MS << (c->streak < 8 ? c->streak : 8);
        c->reconnect_ns = t->now + (b > LG_BACKOFF_MAX_NS ? LG_BACKOFF_MAX_NS : b);
        return;
    }
    c->fd = fd;
    c->deadline_ns = sat_add(t->now, t->lg->timeout_ns);
    set_state(t, c, C_CONNECTING);
    op_started(t, c);
}

static void response_done(lg_thread_t *t, lg_conn_t *c)
{
    uint64_t lat = t->now - c->intended_ns;
    urk__hist_record(&t->ctr->hist, lat);
    urk__hist_record(t->sec_hist, lat);
    bump(&t->ctr->responses, 1);
    c->outstanding = 0;
    uint64_t max = t->lg->o.max_requests;
    if (max && atomic_fetch_add(&t->lg->responses, 1) + 1 >= max)
        signal_stop(t->lg);
}

static void on_data(lg_thread_t *t, lg_conn_t *c, const uint8_t *data, uint32_t len)
{
    bump(&t->ctr->bytes_in, len);
    int r = urk__lg_parse(&c->parser, data, len);
    if (r < 0) {
        conn_fail(t, c, E_FRAMING);
        return;
    }
    if (r > (int)c->outstanding || (r == 0 && !c->outstanding && !urk__lg_parser_idle(&c->parser))) {
        /* More responses than requests, or bytes nobody asked for. */
        if (c->outstanding)
            response_done(t, c);
        conn_fail(t, c, E_FRAMING);
        return;
    }
    if (r == 0)
        return;
    response_done(t, c);
    if (!urk__lg_parser_idle(&c->parser)) {
        conn_fail(t, c, E_FRAMING); /* trailing bytes after the response */
        return;
    }
    /* Only a clean exchange ends a failure streak: a server that garbles
     * every reply still gets backed off. */
    c->streak = 0;
    idle_push(t, c);
    dispatch(t);
}

/* ---- completions ---- */

static void maybe_closed(lg_thread_t *t, lg_conn_t *c)
{
    if (c->state == C_CLOSING && c->ops == 0)
        conn_closed(t, c);
}

static void handle_cqe(lg_thread_t *t, const urk_cqe_t *e)
{
    uint32_t kind = (uint32_t)(e->user_data >> 56);
    uint32_t idx = (uint32_t)e->user_data;
    int final = !(e->flags & URK_CQE_F_MORE);
    if (e->flags & URK_CQE_F_BUFFER)
        t->bids[t->nbids++] = e->buf_id;
    if (final)
        t->ops--;
    if (kind == K_STOP || kind == K_CANCEL_ALL)
        return; /* the stop flag is checked by the loop */
    if (idx >= t->nconns)
        return;
    lg_conn_t *c = &t->conns[idx];
    if (final)
        c->ops--;
    if (t->draining) {
        if (c->state == C_CLOSING)
            maybe_closed(t, c);
        return;
    }

    switch (kind) {
    case K_CONNECT:
        if (c->state != C_CONNECTING)
            break;
        if (e->res < 0) {
            conn_fail(t, c, E_CONNECT);
            break;
        }
        set_state(t, c, C_READY);
        arm_recv(t, c);
        if (c->state == C_READY && t->t0) {
            idle_push(t, c);
            dispatch(t);
        }
        break;
    case K_RECV:
        if (final)
            c->recv_armed = 0;
        if (c->state != C_READY)
            break;
        if (e->res == -ENOBUFS) {
            /* Transient: re-armed once buffers are back (notes, pitfall 1). */
            if (final && !c->starved) {
                c->starved = 1;
                t->nstarved++;
            }
            break;
        }
        if (e->res < 0) {
            conn_fail(t, c, E_READ);
            break;
        }
        if (e->res == 0) {
            /* Peer closed. Between responses that is just a closed
             * keep-alive connection; with a request out it is an error. */
            int mid = c->outstanding || !urk__lg_parser_idle(&c->parser);
            conn_fail(t, c, mid ? E_READ : E_NONE);
            break;
        }
        if (e->flags & URK_CQE_F_BUFFER)
            on_data(t, c, e->buf, e->buf_len);
        if (c->state == C_READY && final && !c->recv_armed && !c->starved) {
            c->starved = 1; /* multishot ended: re-arm after recycling */
            t->nstarved++;
        }
        break;
    case K_SEND:
        if (final)
            c->send_busy = 0;
        if (c->state != C_READY)
            break;
        if (e->res <= 0) {
            conn_fail(t, c, E_WRITE);
            break;
        }
        bump(&t->ctr->bytes_out, (uint64_t)e->res);
        c->sent += (uint32_t)e->res;
        if (c->sent < t->lg->o.request_len) {
            send_next(t, c); /* short send: the rest, still one at a time */
        } else if (c->send_pending) {
            c->send_pending = 0;
            c->sent = 0;
            send_next(t, c);
        }
        break;
    case K_CANCEL:
    default:
        break;
    }
    maybe_closed(t, c);
}

static void recycle_and_rearm(lg_thread_t *t)
{
    if (t->nbids) {
        urk_bufring_recycle(t->br, t->bids, t->nbids);
        t->nbids = 0;
    }
    if (!t->nstarved || t->draining)
        return;
    if ((uint32_t)urk_bufring_available(t->br) < t->low_water)
        return;
    for (uint32_t i = 0; i < t->nconns && t->nstarved; i++) {
        lg_conn_t *c = &t->conns[i];
        if (!c->starved)
            continue;
        starved_clear(t, c);
        if (c->state == C_READY && !c->recv_armed)
            arm_recv(t, c);
    }
}

/* Waits up to wait_ns for completions and handles them. */
static int pump(lg_thread_t *t, uint64_t wait_ns)
{
    urk_cqe_t cqes[LG_BATCH];
    if (wait_ns > INT64_MAX)
        wait_ns = INT64_MAX;
    int n = urk_ring_complete(t->ring, cqes, LG_BATCH, wait_ns ? 1 : 0, (int64_t)wait_ns);
    t->now = urk__now_ns();
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        handle_cqe(t, &cqes[i]);
        /* bids[] holds one batch; recycle early if handlers re-armed a lot */
        if (t->nbids == LG_BATCH)
            recycle_and_rearm(t);
    }
    recycle_and_rearm(t);
    return 0;
}

static void scan(lg_thread_t *t)
{
    for (uint32_t i = 0; i < t->nconns; i++) {
        lg_conn_t *c = &t->conns[i];
        if (c->state == C_CONNECTING && t->now >= c->deadline_ns)
            conn_fail(t, c, E_CONNECT);
        else if (c->state == C_READY && c->outstanding && t->now >= c->deadline_ns)
            conn_fail(t, c, E_TIMEOUT);
        else if (c->state == C_BACKOFF && t->now >= c->reconnect_ns)
            conn_connect(t, c);
    }
    t->next_scan = t->now + t->scan_ns;
}

/* ---- threads ---- */

static void barrier_arrive(struct urk_loadgen *lg, uint64_t now)
{
    pthread_mutex_lock(&lg->bar_lock);
    if (now > lg->bar_t0)
        lg->bar_t0 = now;
    lg->bar_arrived++;
    if (lg->bar_arrived >= lg->bar_expected) {
        atomic_store(&lg->t0, lg->bar_t0);
        pthread_cond_broadcast(&lg->bar_cond);
    }
    while (lg->bar_arrived < lg->bar_expected)
        pthread_cond_wait(&lg->bar_cond, &lg->bar_lock);
    pthread_mutex_unlock(&lg->bar_lock);
}

/* A helper thread that could not be started no longer counts. */
static void barrier_withdraw(struct urk_loadgen *lg)
{
    pthread_mutex_lock(&lg->bar_lock);
    lg->bar_expected--;
    if (lg->bar_arrived && lg->bar_arrived >= lg->bar_expected) {
        atomic_store(&lg->t0, lg->bar_t0);
        pthread_cond_broadcast(&lg->bar_cond);
    }
    pthread_mutex_unlock(&lg->bar_lock);
}

static void set_fatal(struct urk_loadgen *lg, int rc)
{
    int zero = 0;
    atomic_compare_exchange_strong(&lg->fatal, &zero, rc);
    signal_stop(lg);
}

static int arm_stop_poll(lg_thread_t *t)
{
    struct io_uring_sqe *sqe = urk__get_sqe(t->ring);
    if (!sqe)
        return -EBUSY;
    /* A poll, not a read: every thread sees the one eventfd readable. */
    io_uring_prep_poll_add(sqe, t->lg->stop_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, LG_UD(K_STOP, 0));
    op_started(t, NULL);
    return 0;
}

static int thread_setup(lg_thread_t *t)
{
    urk_ring_opts_t ro;
    urk_ring_opts_init(&ro);
    ro.sq_entries = pow2_clamp((uint64_t)t->nconns * 2 + 16, 64, 4096);
    int rc = urk_ring_create(&ro, &t->ring);
    if (rc)
        return rc;
    urk_bufring_opts_t bo;
    urk_bufring_opts_init(&bo);
    bo.count = pow2_clamp((uint64_t)t->nconns * 2, 256, 4096);
    bo.size = LG_BUF_SIZE;
    bo.group_id = LG_GROUP;
    rc = urk_bufring_create(t->ring, &bo, &t->br);
    if (rc)
        return rc;
    t->low_water = bo.count / 8 ? bo.count / 8 : 1;
    t->conns = calloc(t->nconns, sizeof *t->conns);
    t->sec_hist = malloc(sizeof *t->sec_hist);
    if (!t->conns || !t->sec_hist)
        return -ENOMEM;
    urk__hist_init(t->sec_hist);
    for (uint32_t i = 0; i < t->nconns; i++) {
        t->conns[i].fd = -1;
        t->conns[i].index = i;
        t->conns[i].idle_prev = t->conns[i].idle_next = LG_NONE;
    }
    return arm_stop_poll(t);
}

static void thread_teardown(lg_thread_t *t)
{
    if (t->ring && t->conns) {
        t->draining = 1;
        struct io_uring_sqe *sqe = urk__get_sqe(t->ring);
        if (sqe) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, LG_UD(K_CANCEL_ALL, 0));
            op_started(t, NULL);
        }
        /* Buffers stay in use until each op's final CQE (pitfall 4): wait
         * for all of them, bounded in case the kernel misbehaves. */
        uint64_t deadline = t->now + LG_DRAIN_NS;
        while (t->ops && t->now < deadline)
            if (pump(t, 10 * NS_PER_MS) < 0)
                break;
        for (uint32_t i = 0; i < t->nconns; i++)
            if (t->conns[i].fd >= 0)
                close(t->conns[i].fd);
    }
    if (t->br)
        urk_bufring_destroy(t->br);
    if (t->ring)
        urk_ring_destroy(t->ring);
    free(t->conns);
    free(t->sec_hist);
    free(t->retry);
    t->conns = NULL;
    t->sec_hist = NULL;
    t->retry = NULL;
}

static int thread_run(lg_thread_t *t)
{
    struct urk_loadgen *lg = t->lg;
    t->cpu0 = urk__thread_cpu_ns();
    t->now = urk__now_ns();
    t->end_ns = UINT64_MAX;
    t->idle_head = LG_NONE;
    int rc = thread_setup(t);
    if (rc) {
        set_fatal(lg, rc);
        barrier_arrive(lg, urk__now_ns());
        thread_teardown(t);
        return rc;
    }

    /* Connect phase: not measured, so the schedule does not start with
     * every connection still in its handshake. */
    for (uint32_t i = 0; i < t->nconns; i++)
        conn_connect(t, &t->conns[i]);
    uint64_t limit = lg->timeout_ns < NS_PER_S ? lg->timeout_ns : NS_PER_S;
    uint64_t phase_end = t->now + limit;
    while (t->nconnecting && t->now < phase_end && !atomic_load(&lg->stop)) {
        rc = pump(t, phase_end - t->now);
        if (rc)
            break;
    }
    barrier_arrive(lg, urk__now_ns());
    if (rc) {
        set_fatal(lg, rc);
        thread_teardown(t);
        return rc;
    }

    t->now = urk__now_ns();
    t->t0 = atomic_load(&lg->t0);
    if (lg->o.duration_ms)
        t->end_ns = sat_add(t->t0, sat_mul(lg->o.duration_ms, NS_PER_MS));
    t->scan_ns = lg->timeout_ns / 16;
    if (t->scan_ns < NS_PER_MS)
        t->scan_ns = NS_PER_MS;
    if (t->scan_ns > 50 * NS_PER_MS)
        t->scan_ns = 50 * NS_PER_MS;
    t->next_scan = t->now + t->scan_ns;
    t->quota = UINT64_MAX;
    if (open_loop(t) && lg->o.max_requests) {
        uint64_t n = lg->o.max_requests, T = lg->nthreads;
        t->quota = n > t->index ? (n - t->index + T - 1) / T : 0;
    }
    for (uint32_t i = 0; i < t->nconns; i++)
        if (t->conns[i].state == C_READY)
            idle_push(t, &t->conns[i]);

    for (;;) {
        t->now = urk__now_ns();
        if (stopping(t))
            break;
        sec_rollover(t);
        if (t->now >= t->next_scan)
            scan(t);
        dispatch(t);

        uint64_t next = t->end_ns;
        uint64_t sec_end = t->t0 + (t->sec + 1) * NS_PER_S;
        if (sec_end < next)
            next = sec_end;
        if (t->next_scan < next)
            next = t->next_scan;
        if (open_loop(t) && t->idle_head != LG_NONE && !t->retry_n && t->sched_k < t->quota) {
            uint64_t due = sched_time(t, t->sched_k);
            if (due < next)
                next = due;
        }
        rc = pump(t, next > t->now ? next - t->now : 0);
        if (rc) {
            set_fatal(lg, rc);
            break;
        }
    }

    /* elapsed ends when the first thread stops generating load */
    uint64_t zero = 0, stop_at = t->now < t->end_ns ? t->now : t->end_ns;
    atomic_compare_exchange_strong(&lg->end_ns, &zero, stop_at);
    sec_flush(t, 1); /* the last, partial second */
    thread_teardown(t);
    atomic_store_explicit(&t->ctr->cpu_ns, urk__thread_cpu_ns() - t->cpu0, RELAXED);
    return rc;
}

static void *thread_main(void *arg)
{
    lg_thread_t *t = arg;
    t->rc = thread_run(t);
    return NULL;
}

int urk_loadgen_run(urk_loadgen_t *lg)
{
    if (!lg)
        return -EINVAL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&lg->state, &expect, 1))
        return -URK_ESTATE;
    uint32_t T = lg->nthreads;
    lg_thread_t *th = calloc(T, sizeof *th);
    lg->final = malloc(sizeof *lg->final);
    if (!th || !lg->final) {
        free(th);
        free(lg->final);
        lg->final = NULL;
        atomic_store(&lg->state, 0);
        return -ENOMEM;
    }
    urk__hist_init(lg->final);
    for (uint32_t i = 0; i < T; i++) {
        th[i].lg = lg;
        th[i].index = i;
        th[i].ctr = &lg->ctr[i];
        th[i].nconns = lg->o.connections / T + (i < lg->o.connections % T ? 1 : 0);
    }
    lg->bar_expected = T;

    /* The caller's thread is thread 0: pin it for the run only. */
    cpu_set_t saved;
    int pinned = 0, rc = 0;
    if (lg->o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(lg->o.cpu, &set);
        if (sched_getaffinity(0, sizeof saved, &saved) == 0) {
            if (sched_setaffinity(0, sizeof set, &set) != 0)
                rc = -errno;
            else
                pinned = 1;
        }
    }
    if (rc) { /* e.g. -EINVAL: no such CPU; nothing ran, a retry may */
        free(th);
        free(lg->final);
        lg->final = NULL;
        atomic_store(&lg->state, 0);
        return rc;
    }

    for (uint32_t i = 1; i < T; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (lg->o.cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET((size_t)lg->o.cpu + i, &set);
            pthread_attr_setaffinity_np(&attr, sizeof set, &set);
        }
        int prc = pthread_create(&th[i].tid, &attr, thread_main, &th[i]);
        pthread_attr_destroy(&attr);
        if (prc) {
            th[i].rc = -prc;
            th[i].tid = 0;
            set_fatal(lg, -prc);
            barrier_withdraw(lg);
            tl_flush(lg, 0, NULL, 0, 0); /* so second 0 does not wait on it */
        }
    }
    th[0].rc = thread_run(&th[0]);
    for (uint32_t i = 1; i < T; i++)
        if (th[i].tid)
            pthread_join(th[i].tid, NULL);
    if (pinned)
        sched_setaffinity(0, sizeof saved, &saved);

    uint64_t zero = 0;
    atomic_compare_exchange_strong(&lg->end_ns, &zero, urk__now_ns());
    pthread_mutex_lock(&lg->tl_lock);
    for (;;) { /* publish the seconds some thread never reached */
        lg_pending_second_t *oldest = NULL;
        for (int i = 0; i < LG_TL_WINDOW; i++)
            if (lg->pend[i].used && (!oldest || lg->pend[i].sec < oldest->sec))
                oldest = &lg->pend[i];
        if (!oldest)
            break;
        tl_finalize(lg, oldest);
    }
    pthread_mutex_unlock(&lg->tl_lock);
    for (uint32_t i = 0; i < T; i++)
        urk__hist_merge(lg->final, &lg->ctr[i].hist);
    atomic_store(&lg->finished, 1);
    atomic_store(&lg->state, 2);
    rc = atomic_load(&lg->fatal);
    free(th);
    return rc;
}

/* ---- results ---- */

/* The merged histogram: final after a run, else a snapshot (caller frees). */
static const urk_hist_t *merged(const struct urk_loadgen *lg, urk_hist_t **tmp)
{
    *tmp = NULL;
    if (atomic_load(&lg->finished))
        return lg->final;
    urk_hist_t *h = malloc(sizeof *h);
    if (!h)
        return NULL;
    urk__hist_init(h);
    for (uint32_t i = 0; i < lg->nthreads; i++)
        urk__hist_merge(h, &lg->ctr[i].hist);
    *tmp = h;
    return h;
}

int urk_loadgen_result(const urk_loadgen_t *lg, urk_loadgen_result_t *out)
{
    if (!lg || !out)
        return -EINVAL;
    urk_loadgen_result_t r;
    memset(&r, 0, sizeof r);
    for (uint32_t i = 0; i < lg->nthreads; i++) {
        const lg_counters_t *c = &lg->ctr[i];
        r.requests += rd(&c->requests);
        r.responses += rd(&c->responses);
        r.bytes_out += rd(&c->bytes_out);
        r.bytes_in += rd(&c->bytes_in);
        r.err_connect += rd(&c->err[E_CONNECT]);
        r.err_read += rd(&c->err[E_READ]);
        r.err_write += rd(&c->err[E_WRITE]);
        r.err_timeout += rd(&c->err[E_TIMEOUT]);
        r.err_framing += rd(&c->err[E_FRAMING]);
        r.cpu_ns += rd(&c->cpu_ns);
    }
    uint64_t t0 = atomic_load(&lg->t0), end = atomic_load(&lg->end_ns);
    if (t0) {
        uint64_t until = end ? end : urk__now_ns();
        r.elapsed_ns = until > t0 ? until - t0 : 0;
    }
    urk_hist_t *tmp;
    const urk_hist_t *h = merged(lg, &tmp);
    if (!h)
        return -ENOMEM;
    uint64_t total = rd(&h->total);
    if (total) {
        r.lat_min_ns = rd(&h->min);
        r.lat_max_ns = rd(&h->max);
        r.lat_mean_ns = rd(&h->sum) / total;
        r.lat_p50_ns = urk__hist_percentile(h, 500000);
        r.lat_p90_ns = urk__hist_percentile(h, 900000);
        r.lat_p99_ns = urk__hist_percentile(h, 990000);
        r.lat_p999_ns = urk__hist_percentile(h, 999000);
    }
    free(tmp);
    *out = r;
    return 0;
}

int urk_loadgen_percentile(const urk_loadgen_t *lg, uint32_t q_ppm, uint64_t *ns)
{
    if (!lg || !ns || q_ppm > 1000000)
        return -EINVAL;
    urk_hist_t *tmp;
    const urk_hist_t *h = merged(lg, &tmp);
    if (!h)
        return -ENOMEM;
    *ns = urk__hist_percentile(h, q_ppm);
    free(tmp);
    return 0;
}

int urk_loadgen_timeline(const urk_loadgen_t *lg, urk_loadgen_second_t *out, uint32_t max)
{
    if (!lg || (!out && max))
        return -EINVAL;
    struct urk_loadgen *m = (struct urk_loadgen *)(uintptr_t)lg; /* lock only */
    pthread_mutex_lock(&m->tl_lock);
    uint32_t n = m->tl_n;
    if (n > INT32_MAX)
        n = INT32_MAX;
    uint32_t copy = n < max ? n : max;
    if (copy)
        memcpy(out, m->tl, (size_t)copy * sizeof *out);
    pthread_mutex_unlock(&m->tl_lock);
    return (int)n;
}

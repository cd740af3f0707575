/* loadgen_run.c - a run: one thread per ring, the start barrier, the
 * per-second timeline, and teardown. */
#include "loadgen.h"

#include <poll.h>
#include <sched.h>
#include <stdlib.h>

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

void urk__lg_tl_flush(struct urk_loadgen *lg, uint64_t sec, const urk_hist_t *h,
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

uint64_t urk__lg_thread_errors(const lg_counters_t *c)
{
    uint64_t n = 0;
    for (int k = E_CONNECT; k <= E_FRAMING; k++)
        n += rd(&c->err[k]);
    return n;
}

/* Publishes the second the thread has just finished. */
static void sec_flush(lg_thread_t *t, int with_hist)
{
    uint64_t resp = rd(&t->ctr->responses), errs = urk__lg_thread_errors(t->ctr);
    urk__lg_tl_flush(t->lg, t->sec, with_hist ? t->sec_hist : NULL, resp - t->sec_resp0,
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
    /* A poll, not a read: every thread sees the one eventfd readable. */
    int rc = urk__prep_poll(t->ring, t->lg->stop_fd, POLLIN, LG_UD(K_STOP, 0));
    if (rc)
        return rc;
    urk__lg_op_started(t, NULL);
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
    t->swrr = calloc(t->lg->ntmpl, sizeof *t->swrr);
    if (!t->conns || !t->sec_hist || !t->swrr)
        return -ENOMEM;
    if (t->lg->scenario)
        t->tctr = &t->lg->tctr[(size_t)t->index * t->lg->ntmpl];
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
        if (urk__prep_cancel_any(t->ring, LG_UD(K_CANCEL_ALL, 0)) == 0)
            urk__lg_op_started(t, NULL);
        /* Buffers stay in use until each op's final CQE: wait
         * for all of them, bounded in case the kernel misbehaves. */
        uint64_t deadline = t->now + LG_DRAIN_NS;
        while (t->ops && t->now < deadline)
            if (urk__lg_pump(t, 10 * NS_PER_MS) < 0)
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
    free(t->swrr);
    t->swrr = NULL;
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
    /* Ramp: connection g (of all threads, interleaved) starts g/connections
     * of the way into ramp_ns; the first ones connect now. */
    for (uint32_t i = 0; i < t->nconns; i++) {
        uint64_t g = (uint64_t)i * lg->nthreads + t->index;
        uint64_t off = lg->ramp_ns ? (uint64_t)((unsigned __int128)lg->ramp_ns * g /
                                                lg->o.connections) : 0;
        if (off)
            t->conns[i].start_ns = off; /* relative until t0 is known */
        else
            urk__lg_conn_connect(t, &t->conns[i]);
    }
    uint64_t limit = lg->timeout_ns < NS_PER_S ? lg->timeout_ns : NS_PER_S;
    uint64_t phase_end = t->now + limit;
    while (t->nconnecting && t->now < phase_end && !atomic_load(&lg->stop)) {
        rc = urk__lg_pump(t, phase_end - t->now);
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
    for (uint32_t i = 0; i < t->nconns; i++) {
        if (t->conns[i].state == C_READY)
            urk__lg_idle_push(t, &t->conns[i]);
        else if (t->conns[i].state == C_IDLE_SLOT && t->conns[i].start_ns)
            t->conns[i].start_ns = sat_add(t->t0, t->conns[i].start_ns);
    }

    for (;;) {
        t->now = urk__now_ns();
        if (stopping(t))
            break;
        sec_rollover(t);
        if (t->now >= t->next_scan)
            urk__lg_scan(t);
        urk__lg_dispatch(t);

        uint64_t next = t->end_ns;
        uint64_t sec_end = t->t0 + (t->sec + 1) * NS_PER_S;
        if (sec_end < next)
            next = sec_end;
        if (t->next_scan < next)
            next = t->next_scan;
        if (open_loop(t) && t->idle_head != LG_NONE && !t->retry_n && t->sched_k < t->quota) {
            uint64_t due = urk__lg_sched_time(t, t->sched_k);
            if (due < next)
                next = due;
        }
        rc = urk__lg_pump(t, next > t->now ? next - t->now : 0);
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
            urk__lg_tl_flush(lg, 0, NULL, 0, 0); /* so second 0 does not wait on it */
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


/* loadgen_api.c - the load generator's options, life cycle and results. */
#include "loadgen.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>

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
    if (o->requests || o->nrequests) {
        /* a scenario replaces the single request */
        if (!o->requests || o->nrequests < 1 || o->nrequests > URK_LOADGEN_MAX_REQUESTS ||
            o->request || o->request_len)
            return -EINVAL;
        for (uint32_t i = 0; i < o->nrequests; i++) {
            const urk_loadgen_request_t *r = &o->requests[i];
            if (!r->data || r->len == 0 || r->reserved[0] || r->reserved[1])
                return -EINVAL;
        }
    } else if (!o->request || o->request_len == 0) {
        return -EINVAL;
    }
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
    for (uint32_t i = 0; lg->tmpl && i < lg->ntmpl; i++)
        free(lg->tmpl[i].data);
    free(lg->tmpl);
    free(lg->tctr);
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

    lg->scenario = o.nrequests > 0;
    lg->ntmpl = lg->scenario ? o.nrequests : 1;
    lg->ramp_ns = sat_mul(o.ramp_ms, NS_PER_MS);
    lg->tmpl = calloc(lg->ntmpl, sizeof *lg->tmpl);
    if (!lg->tmpl)
        goto nomem;
    for (uint32_t i = 0; i < lg->ntmpl; i++) {
        const void *src = lg->scenario ? o.requests[i].data : o.request;
        uint32_t len = lg->scenario ? o.requests[i].len : o.request_len;
        lg_template_t *tp = &lg->tmpl[i];
        tp->data = malloc(len);
        if (!tp->data)
            goto nomem;
        memcpy(tp->data, src, len);
        tp->len = len;
        tp->weight = lg->scenario && o.requests[i].weight ? o.requests[i].weight : 1;
        /* answers to HEAD carry no body, whatever their headers say */
        tp->no_body = o.framing == URK_FRAME_HTTP && len >= 5 && memcmp(src, "HEAD ", 5) == 0;
    }
    lg->o.request = lg->tmpl[0].data; /* the caller's arrays need not outlive us */
    lg->o.requests = NULL;
    if (o.framing == URK_FRAME_DELIM) {
        lg->delim = malloc(o.delim_len);
        if (!lg->delim)
            goto nomem;
        memcpy(lg->delim, o.delim, o.delim_len);
        lg->o.delim = lg->delim;
    } else {
        lg->o.delim = NULL;
    }
    rc = urk__lg_framing_init(&lg->framing, o.framing, o.response_len, lg->delim,
                              o.framing == URK_FRAME_DELIM ? o.delim_len : 0,
                              lg->tmpl[0].no_body);
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
    if (lg->scenario) {
        size_t n = (size_t)lg->nthreads * lg->ntmpl;
        lg->tctr = aligned_alloc(64, sizeof(lg_tcounters_t) * n);
        if (!lg->tctr)
            goto nomem;
        memset(lg->tctr, 0, sizeof(lg_tcounters_t) * n);
        for (size_t i = 0; i < n; i++)
            urk__hist_init(&lg->tctr[i].hist);
    }
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

_Static_assert(URK_HIST_BUCKETS == URK_LOADGEN_HIST_BUCKETS, "histogram layout is ABI");
_Static_assert(URK_HIST_SUB_BITS == URK_LOADGEN_HIST_SUB_BITS, "histogram layout is ABI");
_Static_assert(LG_STATUS_CODES <= INT32_MAX, "status count fits the return value");

static void fill_latency(urk_loadgen_result_t *r, const urk_hist_t *h)
{
    uint64_t total = rd(&h->total);
    if (!total)
        return;
    r->lat_min_ns = rd(&h->min);
    r->lat_max_ns = rd(&h->max);
    r->lat_sum_ns = rd(&h->sum);
    r->lat_mean_ns = r->lat_sum_ns / total;
    r->lat_p50_ns = urk__hist_percentile(h, 500000);
    r->lat_p90_ns = urk__hist_percentile(h, 900000);
    r->lat_p99_ns = urk__hist_percentile(h, 990000);
    r->lat_p999_ns = urk__hist_percentile(h, 999000);
}

/* A caller built against a newer header gets zeros past what we know. */
static void copy_out(urk_loadgen_result_t *out, const urk_loadgen_result_t *r, uint32_t size)
{
    memcpy(out, r, size < sizeof *r ? size : sizeof *r);
    if (size > sizeof *r)
        memset((char *)out + sizeof *r, 0, size - sizeof *r);
}

int urk_loadgen_result_ex(const urk_loadgen_t *lg, urk_loadgen_result_t *out, uint32_t size)
{
    if (!lg || !out || size < URK_LOADGEN_RESULT_SIZE_0_1 || size % 8)
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
        r.reconnects += rd(&c->reconnects);
        for (uint32_t k = 0; k < LG_STATUS_CODES; k++)
            if (k < 200 || k > 299)
                r.non2xx += rd(&c->status[k]);
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
    fill_latency(&r, h);
    free(tmp);
    copy_out(out, &r, size);
    return 0;
}

int urk_loadgen_result(const urk_loadgen_t *lg, urk_loadgen_result_t *out)
{
    return urk_loadgen_result_ex(lg, out, URK_LOADGEN_RESULT_SIZE_0_1);
}

int urk_loadgen_status(const urk_loadgen_t *lg, uint32_t *codes, uint64_t *counts, uint32_t max)
{
    if (!lg || (max && (!codes || !counts)))
        return -EINVAL;
    uint32_t n = 0;
    for (uint32_t k = 0; k < LG_STATUS_CODES; k++) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < lg->nthreads; i++)
            sum += rd(&lg->ctr[i].status[k]);
        if (!sum)
            continue;
        if (n < max) {
            codes[n] = k;
            counts[n] = sum;
        }
        n++;
    }
    return (int)n;
}

int urk_loadgen_histogram(const urk_loadgen_t *lg, uint64_t *counts, uint32_t max)
{
    if (!lg || (max && !counts))
        return -EINVAL;
    urk_hist_t *tmp;
    const urk_hist_t *h = merged(lg, &tmp);
    if (!h)
        return -ENOMEM;
    for (uint32_t i = 0; i < max && i < URK_HIST_BUCKETS; i++)
        counts[i] = rd(&h->counts[i]);
    free(tmp);
    return URK_HIST_BUCKETS;
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

/* ---- per request kind (scenarios) ---- */

static const lg_tcounters_t *tctr_of(const struct urk_loadgen *lg, uint32_t thread,
                                     uint32_t index)
{
    return &lg->tctr[(size_t)thread * lg->ntmpl + index];
}

/* The request kind's histogram over every thread (caller frees). */
static urk_hist_t *request_hist(const struct urk_loadgen *lg, uint32_t index)
{
    urk_hist_t *h = malloc(sizeof *h);
    if (!h)
        return NULL;
    urk__hist_init(h);
    for (uint32_t i = 0; i < lg->nthreads; i++)
        urk__hist_merge(h, &tctr_of(lg, i, index)->hist);
    return h;
}

int urk_loadgen_request_result(const urk_loadgen_t *lg, uint32_t index,
                               urk_loadgen_result_t *out, uint32_t size)
{
    if (!lg || !out || !lg->scenario || index >= lg->ntmpl ||
        size < URK_LOADGEN_RESULT_SIZE_0_1 || size % 8)
        return -EINVAL;
    urk_loadgen_result_t total;
    int rc = urk_loadgen_result_ex(lg, &total, sizeof total);
    if (rc)
        return rc;
    urk_loadgen_result_t r;
    memset(&r, 0, sizeof r);
    r.elapsed_ns = total.elapsed_ns;
    r.cpu_ns = total.cpu_ns;
    for (uint32_t i = 0; i < lg->nthreads; i++) {
        const lg_tcounters_t *c = tctr_of(lg, i, index);
        r.requests += rd(&c->requests);
        r.responses += rd(&c->responses);
        r.err_connect += rd(&c->err[E_CONNECT]);
        r.err_read += rd(&c->err[E_READ]);
        r.err_write += rd(&c->err[E_WRITE]);
        r.err_timeout += rd(&c->err[E_TIMEOUT]);
        r.err_framing += rd(&c->err[E_FRAMING]);
        for (uint32_t k = 0; k < LG_STATUS_CODES; k++)
            if (k < 200 || k > 299)
                r.non2xx += rd(&c->status[k]);
    }
    urk_hist_t *h = request_hist(lg, index);
    if (!h)
        return -ENOMEM;
    fill_latency(&r, h);
    free(h);
    copy_out(out, &r, size);
    return 0;
}

int urk_loadgen_request_status(const urk_loadgen_t *lg, uint32_t index, uint32_t *codes,
                               uint64_t *counts, uint32_t max)
{
    if (!lg || !lg->scenario || index >= lg->ntmpl || (max && (!codes || !counts)))
        return -EINVAL;
    uint32_t n = 0;
    for (uint32_t k = 0; k < LG_STATUS_CODES; k++) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < lg->nthreads; i++)
            sum += rd(&tctr_of(lg, i, index)->status[k]);
        if (!sum)
            continue;
        if (n < max) {
            codes[n] = k;
            counts[n] = sum;
        }
        n++;
    }
    return (int)n;
}

int urk_loadgen_request_histogram(const urk_loadgen_t *lg, uint32_t index, uint64_t *counts,
                                  uint32_t max)
{
    if (!lg || !lg->scenario || index >= lg->ntmpl || (max && !counts))
        return -EINVAL;
    urk_hist_t *h = request_hist(lg, index);
    if (!h)
        return -ENOMEM;
    for (uint32_t i = 0; i < max && i < URK_HIST_BUCKETS; i++)
        counts[i] = rd(&h->counts[i]);
    free(h);
    return URK_HIST_BUCKETS;
}

/* loadgen_conn.c - one client connection's life: connect, send a request,
 * frame the response, fail and reconnect; the completion handler and the
 * request dispatch (closed and open loop). */
#include "loadgen.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

/* ---- connections ---- */

static void conn_fail(lg_thread_t *t, lg_conn_t *c, int err);

void urk__lg_count_err(lg_thread_t *t, int kind)
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

void urk__lg_idle_push(lg_thread_t *t, lg_conn_t *c)
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


/* Due time of this thread's k-th scheduled request. */
uint64_t urk__lg_sched_time(const lg_thread_t *t, uint64_t k)
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


void urk__lg_op_started(lg_thread_t *t, lg_conn_t *c)
{
    t->ops++;
    if (c)
        c->ops++;
}

static void send_next(lg_thread_t *t, lg_conn_t *c)
{
    const lg_template_t *tp = &t->lg->tmpl[c->send_tmpl];
    int rc = urk_prep_send(t->ring, c->fd, tp->data + c->sent, tp->len - c->sent, 0,
                           LG_UD(K_SEND, c->index), 0);
    if (rc) {
        conn_fail(t, c, E_WRITE);
        return;
    }
    c->send_busy = 1;
    urk__lg_op_started(t, c);
}

/* Smooth weighted round robin: every kind gets exactly its share of each
 * cycle of sum(weights) requests, evenly interleaved. */
static uint32_t pick_template(lg_thread_t *t)
{
    const struct urk_loadgen *lg = t->lg;
    if (lg->ntmpl == 1)
        return 0;
    int64_t total = 0;
    uint32_t best = 0;
    for (uint32_t i = 0; i < lg->ntmpl; i++) {
        t->swrr[i] += lg->tmpl[i].weight;
        total += lg->tmpl[i].weight;
        if (t->swrr[i] > t->swrr[best])
            best = i;
    }
    t->swrr[best] -= total;
    return best;
}

static void conn_issue(lg_thread_t *t, lg_conn_t *c, uint64_t intended)
{
    c->tmpl = pick_template(t);
    c->parser.no_body = t->lg->tmpl[c->tmpl].no_body;
    c->outstanding = 1;
    c->issued_ns = t->now;
    c->intended_ns = intended;
    c->deadline_ns = sat_add(t->now, t->lg->timeout_ns);
    /* `requests` counts it once all its bytes are written (handle_cqe). */
    if (c->send_busy) {
        /* The server answered before our previous send finished: queue
         * behind it, never a second send on the socket. */
        c->send_pending = 1;
        return;
    }
    c->sent = 0;
    c->send_tmpl = c->tmpl;
    send_next(t, c);
}

/* Gives due requests to free connections. */
void urk__lg_dispatch(lg_thread_t *t)
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
        } else if (t->sched_k < t->quota && urk__lg_sched_time(t, t->sched_k) <= t->now &&
                   urk__lg_sched_time(t, t->sched_k) < t->end_ns) {
            intended = urk__lg_sched_time(t, t->sched_k++);
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
    urk__lg_op_started(t, c);
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
        urk__lg_conn_connect(t, c);
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
        urk__lg_count_err(t, err);
        if (t->tctr && c->outstanding)
            bump(&t->tctr[c->tmpl].err[err], 1);
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
    /* close() would not stop the multishot recv (the ring holds its own file
     * reference): cancel,
     * then close once every op of this socket has posted its last CQE. */
    if (urk_prep_cancel_fd(t->ring, c->fd, LG_UD(K_CANCEL, c->index), URK_CANCEL_ALL) == 0)
        urk__lg_op_started(t, c);
    else
        shutdown(c->fd, SHUT_RDWR); /* no SQE: the ops end on their own */
}

void urk__lg_conn_connect(lg_thread_t *t, lg_conn_t *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)t->lg->addr.bytes;
    c->start_ns = 0;
    c->served = 0;
    urk__lg_parser_init(&c->parser, &t->lg->framing);
    c->outstanding = c->send_busy = c->send_pending = c->recv_armed = 0;
    c->sent = 0;
    c->ops = 0;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -errno : 0;
    if (fd >= 0) {
        urk__set_nodelay(fd, sa->sa_family);
        rc = urk_prep_connect(t->ring, fd, &t->lg->addr, LG_UD(K_CONNECT, c->index), 0);
    }
    if (rc) {
        if (fd >= 0)
            close(fd);
        c->fd = -1;
        urk__lg_count_err(t, E_CONNECT);
        c->streak++;
        set_state(t, c, C_BACKOFF);
        uint64_t b = NS_PER_MS << (c->streak < 8 ? c->streak : 8);
        c->reconnect_ns = t->now + (b > LG_BACKOFF_MAX_NS ? LG_BACKOFF_MAX_NS : b);
        return;
    }
    c->fd = fd;
    c->deadline_ns = sat_add(t->now, t->lg->timeout_ns);
    set_state(t, c, C_CONNECTING);
    urk__lg_op_started(t, c);
}

static void response_done(lg_thread_t *t, lg_conn_t *c)
{
    uint64_t lat = t->now - c->intended_ns;
    urk__hist_record(&t->ctr->hist, lat);
    urk__hist_record(t->sec_hist, lat);
    int http = t->lg->o.framing == URK_FRAME_HTTP && c->parser.resp_status < LG_STATUS_CODES;
    if (http)
        bump(&t->ctr->status[c->parser.resp_status], 1);
    bump(&t->ctr->responses, 1);
    c->served++;
    if (t->tctr) {
        lg_tcounters_t *tc = &t->tctr[c->tmpl];
        urk__hist_record(&tc->hist, lat);
        if (http)
            bump(&tc->status[c->parser.resp_status], 1);
        bump(&tc->responses, 1);
    }
    c->outstanding = 0;
    uint64_t max = t->lg->o.max_requests;
    if (max && atomic_fetch_add(&t->lg->responses, 1) + 1 >= max)
        signal_stop(t->lg);
}

/* The server ended the connection cleanly (Connection: close, HTTP/1.0, a
 * close-delimited body, or a close between responses): replace it. */
static void server_closed(lg_thread_t *t, lg_conn_t *c)
{
    bump(&t->ctr->reconnects, 1);
    c->streak = 0;
    conn_fail(t, c, E_NONE);
}

static void on_data(lg_thread_t *t, lg_conn_t *c, const uint8_t *data, uint32_t len)
{
    bump(&t->ctr->bytes_in, len);
    size_t used;
    int r = urk__lg_parse_step(&c->parser, data, len, &used);
    if (r < 0) {
        conn_fail(t, c, E_FRAMING);
        return;
    }
    if (r == 0) {
        if (!c->outstanding)
            conn_fail(t, c, E_FRAMING); /* bytes nobody asked for */
        return;
    }
    if (!c->outstanding) {
        conn_fail(t, c, E_FRAMING); /* a response nobody asked for */
        return;
    }
    response_done(t, c);
    if (used < len) {
        /* One request is out at a time: anything after its response is
         * more responses than requests (or bytes after a closing one). */
        conn_fail(t, c, E_FRAMING);
        return;
    }
    if (c->parser.resp_close) {
        server_closed(t, c);
        return;
    }
    /* Only a clean exchange ends a failure streak: a server that garbles
     * every reply still gets backed off. */
    c->streak = 0;
    urk__lg_idle_push(t, c);
    urk__lg_dispatch(t);
}

/* The peer closed its side (recv returned 0). */
static void on_eof(lg_thread_t *t, lg_conn_t *c)
{
    int r = urk__lg_parse_eof(&c->parser);
    if (r < 0) {
        conn_fail(t, c, E_READ); /* a response cut short */
        return;
    }
    if (r > 0) {
        if (!c->outstanding) {
            conn_fail(t, c, E_FRAMING);
            return;
        }
        response_done(t, c); /* a close-delimited body ended */
        server_closed(t, c);
        return;
    }
    /* Between responses a close is a keep-alive close; with a request out
     * and no byte of its response it is an error, and so is a close before
     * any response (else a server that drops every connection at once
     * would be reconnected in a tight loop, with nothing counted). */
    if (c->outstanding || !c->served)
        conn_fail(t, c, E_READ);
    else
        server_closed(t, c);
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
    if (kind == K_SEND && e->res > 0) {
        /* Written bytes count in any state: a request is sent once all of
         * its bytes are, never before. */
        bump(&t->ctr->bytes_out, (uint64_t)e->res);
        c->sent += (uint32_t)e->res;
        if (c->sent == t->lg->tmpl[c->send_tmpl].len) {
            bump(&t->ctr->requests, 1);
            if (t->tctr)
                bump(&t->tctr[c->send_tmpl].requests, 1);
        }
    }
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
            urk__lg_idle_push(t, c);
            urk__lg_dispatch(t);
        }
        break;
    case K_RECV:
        if (final)
            c->recv_armed = 0;
        if (c->state != C_READY)
            break;
        if (e->res == -ENOBUFS) {
            /* Transient: the multishot ended for want of buffers; it is
             * re-armed once buffers are back. */
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
            on_eof(t, c);
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
        if (c->sent < t->lg->tmpl[c->send_tmpl].len) {
            send_next(t, c); /* short send: the rest, still one at a time */
        } else if (c->send_pending) {
            c->send_pending = 0;
            c->sent = 0;
            c->send_tmpl = c->tmpl;
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
int urk__lg_pump(lg_thread_t *t, uint64_t wait_ns)
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

void urk__lg_scan(lg_thread_t *t)
{
    for (uint32_t i = 0; i < t->nconns; i++) {
        lg_conn_t *c = &t->conns[i];
        if (c->state == C_CONNECTING && t->now >= c->deadline_ns)
            conn_fail(t, c, E_CONNECT);
        else if (c->state == C_READY && c->outstanding && t->now >= c->deadline_ns)
            conn_fail(t, c, E_TIMEOUT);
        else if (c->state == C_BACKOFF && t->now >= c->reconnect_ns)
            urk__lg_conn_connect(t, c);
        else if (c->state == C_IDLE_SLOT && c->start_ns && t->now >= c->start_ns)
            urk__lg_conn_connect(t, c); /* ramp: its turn has come */
    }
    t->next_scan = t->now + t->scan_ns;
}


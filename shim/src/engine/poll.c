/* poll.c - the poll loop: harvest completions into the caller's events
 * (overflow waits in a queue), act on deferred work, wait in the ring, and
 * dispatch completions to the connection they belong to. */
#include "engine.h"

#include <stdlib.h>
#include <unistd.h>

static urk_event_t *event_slot(urk_reactor_t *r)
{
    if (r->out_n < r->out_max && r->pend_n == 0)
        return &r->out[r->out_n++];
    if (r->pend_n == r->pend_cap) {
        uint32_t cap = r->pend_cap ? r->pend_cap * 2 : 256;
        urk_event_t *n = malloc(cap * sizeof *n);
        if (!n)
            return NULL;
        for (uint32_t i = 0; i < r->pend_n; i++)
            n[i] = r->pending[(r->pend_head + i) % r->pend_cap];
        free(r->pending);
        r->pending = n;
        r->pend_cap = cap;
        r->pend_head = 0;
    }
    return &r->pending[(r->pend_head + r->pend_n++) % r->pend_cap];
}

void urk__emit(urk_reactor_t *r, urk_conn_t conn, uint32_t type, int32_t res,
               const uint8_t *data, uint32_t len, uint32_t buf, uint64_t user)
{
    if (r->discard) {
        if (buf)
            urk__release_handle(r, buf);
        return;
    }
    urk_event_t *e = event_slot(r);
    if (!e) {
        /* Out of memory for the overflow queue: the event cannot be kept;
         * at least its buffer must not be lost. */
        if (buf)
            urk__release_handle(r, buf);
        return;
    }
    e->conn = conn;
    e->type = type;
    e->res = res;
    e->data = data;
    e->len = len;
    e->buf = buf;
    e->user = user;
    r->emitted++;
    URK_STAT_ADD(r->st.events, 1);
}

static void move_pending(urk_reactor_t *r)
{
    while (r->pend_n && r->out_n < r->out_max) {
        r->out[r->out_n++] = r->pending[r->pend_head];
        r->pend_head = (r->pend_head + 1) % r->pend_cap;
        r->pend_n--;
    }
}

static void process_cqe(urk_reactor_t *r, const urk_cqe_t *cq)
{
    uint64_t ud = cq->user_data;
    uint32_t kind = URK_UD_KIND(ud);
    if (kind >= UD_WAKE) {
        urk__reactor_op_done(r, cq);
        return;
    }
    uint32_t s = URK_UD_SLOT(ud);
    urk_conn_slot_t *c = s < r->nslots_used ? &r->slots[s] : NULL;
    if (!c || c->state == CS_FREE || c->gen != URK_UD_GEN(ud)) {
        /* A completion for a connection that is gone. Cannot happen while
         * slots are freed only after their last completion; if it ever did,
         * it must not reach the slot's new owner. Its buffer goes back. */
        URK_STAT_ADD(r->st.stale_cqes, 1);
        if (cq->flags & URK_CQE_F_BUFFER)
            urk__release_handle(r, (uint32_t)cq->buf_id + 1);
        return;
    }
    switch (kind) {
    case UD_RECV:
        urk__on_recv(r, s, c, cq);
        break;
    case UD_SEND:
        urk__on_send(r, s, c, cq->res);
        break;
    case UD_CONNECT:
        urk__on_connect(r, s, c, cq->res);
        break;
    case UD_CLOSE:
    case UD_SHUTDOWN:
    case UD_CANCEL:
        c->ops--;
        urk__finish_if_done(r, s, c);
        break;
    default:
        break;
    }
}

/* Harvests what the kernel has, as long as there is room for events. */
static void harvest(urk_reactor_t *r)
{
    urk__ring_prepare_harvest(r->ring);
    urk_cqe_t cq[64];
    for (;;) {
        if (!r->discard && r->out_n >= r->out_max)
            break;
        uint32_t want = 64;
        if (!r->discard && r->out_max - r->out_n < want)
            want = r->out_max - r->out_n;
        uint32_t n = urk__ring_take(r->ring, cq, want);
        if (n == 0)
            break;
        for (uint32_t i = 0; i < n; i++)
            process_cqe(r, &cq[i]);
    }
}

static void drain_event_fd(urk_reactor_t *r)
{
    uint64_t v;
    ssize_t n = read(r->event_fd, &v, sizeof v);
    URK_UNUSED(n);
}

static void run_lists(urk_reactor_t *r)
{
    if (r->ndeferred) {
        uint32_t n = r->ndeferred, keep = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = r->deferred[i];
            urk_conn_slot_t *c = &r->slots[s];
            if (c->state == CS_OPEN && c->peer_eof && c->eof_seq > r->delivered) {
                r->deferred[keep++] = s; /* its data is not handed out yet */
                continue;
            }
            c->listed = 0;
            if (c->state == CS_OPEN && c->peer_eof)
                urk__begin_close(r, s, c, 0, 0);
        }
        r->ndeferred = keep;
    }
    if (r->nkick) {
        uint32_t n = r->nkick;
        r->nkick = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = r->kick[i];
            urk_conn_slot_t *c = &r->slots[s];
            c->listed = 0;
            if (c->state == CS_OPEN || c->state == CS_CLOSING)
                urk__submit_send(r, s, c);
        }
    }
    urk__rearm_starved(r);
}

/* Harvests. A wake-up completion among the harvest (hand-off or
 * urk_reactor_wake) may announce work queued after this poll last looked:
 * look again, or the wake-up is used up and the poll waits on. */
static void harvest_wakes(urk_reactor_t *r)
{
    uint64_t wakeups = URK_STAT_GET(r->st.wakeups);
    harvest(r);
    if (URK_STAT_GET(r->st.wakeups) != wakeups) {
        atomic_store(&r->wake_pending, 0);
        if (atomic_exchange(&r->user_wake, 0))
            r->woken = 1;
        urk__drain_handoff(r);
    }
}

int urk__poll_core(urk_reactor_t *r, urk_event_t *events, uint32_t max, int32_t timeout_ms)
{
    r->out = events;
    r->out_n = 0;
    r->out_max = max;
    r->woken = 0;
    r->now_ms = urk__now_ms();
    if (atomic_load_explicit(&r->fd_exposed, memory_order_relaxed))
        drain_event_fd(r);
    urk__auto_release(r);
    move_pending(r);
    /* A hand-off wake only means "drain the queue"; only urk_reactor_wake
     * ends a poll that has nothing to return. */
    atomic_store(&r->wake_pending, 0);
    if (atomic_exchange(&r->user_wake, 0))
        r->woken = 1;
    urk__drain_handoff(r);
    run_lists(r);
    harvest_wakes(r);
    if (r->ndeferred && r->out_n == 0 && r->pend_n == 0)
        run_lists(r);

    uint64_t deadline = timeout_ms > 0 ? urk__now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
    while (r->out_n == 0 && r->pend_n == 0 && timeout_ms != 0 && !r->woken &&
           !atomic_load(&r->stopping)) {
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ms > 0) {
            uint64_t now = urk__now_ns();
            if (now >= deadline)
                break;
            uint64_t left = deadline - now;
            ts.tv_sec = (long long)(left / 1000000000ull);
            ts.tv_nsec = (long long)(left % 1000000000ull);
            tsp = &ts;
        }
        int rc = urk__ring_wait(r->ring, tsp);
        r->now_ms = urk__now_ms();
        atomic_store(&r->wake_pending, 0);
        if (atomic_exchange(&r->user_wake, 0))
            r->woken = 1;
        urk__drain_handoff(r);
        run_lists(r);
        harvest_wakes(r);
        /* A peer's EOF harvested while nothing was handed out can be acted
         * on now: the close is submitted by the next wait, and its CLOSED
         * ends this poll instead of waiting for some unrelated event. */
        if (r->ndeferred && r->out_n == 0 && r->pend_n == 0)
            run_lists(r);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            break;
    }
    if (urk__ring_sq_ready(r->ring))
        urk__ring_flush(r->ring);
    atomic_store_explicit(&r->st.sq_full_waits, r->ring->stats.sq_full_waits,
                          memory_order_relaxed);
    atomic_store_explicit(&r->st.cq_overflows, r->ring->stats.cq_overflows,
                          memory_order_relaxed);
    if (atomic_load_explicit(&r->fd_exposed, memory_order_relaxed) &&
        (r->pend_n || urk__ring_cq_ready(r->ring) || urk__handoff_queued(r))) {
        uint64_t one = 1; /* more is waiting: keep the host loop's fd readable */
        ssize_t n = write(r->event_fd, &one, sizeof one);
        URK_UNUSED(n);
    }
    urk__remember_auto_release(r);
    r->delivered += r->out_n;
    int n = (int)r->out_n;
    r->out = NULL;
    r->out_n = r->out_max = 0;
    return n;
}

int urk_reactor_poll(urk_reactor_t *r, urk_event_t *events, uint32_t max, int32_t timeout_ms)
{
    if (!r || !events || max == 0 || timeout_ms < -1)
        return -EINVAL;
    if (r->native)
        return -URK_ESTATE;
    int rc = urk__claim(r);
    if (rc)
        return rc;
    if (atomic_load(&r->stopping))
        return -URK_ESTATE;
    return urk__poll_core(r, events, max, timeout_ms);
}

int urk_reactor_fd(urk_reactor_t *r)
{
    if (!r)
        return -EINVAL;
    atomic_store(&r->fd_exposed, 1);
    return r->event_fd;
}

int urk_reactor_wake(urk_reactor_t *r)
{
    if (!r)
        return -EINVAL;
    atomic_store(&r->user_wake, 1);
    urk__reactor_kick(r);
    return 0;
}

int urk_reactor_flush(urk_reactor_t *r)
{
    if (!r)
        return -EINVAL;
    int rc = urk__claim(r);
    if (rc)
        return rc;
    return urk__ring_flush(r->ring);
}

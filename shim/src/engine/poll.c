/* poll.c - the poll loop: harvest completions into the caller's events
 * (overflow waits in a queue), act on deferred work, wait in the ring, and
 * dispatch completions to the connection they belong to. */
#include "engine.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- the event queue ----
 * Events go straight into the caller's array while it has room and nothing
 * waits before them, else into `pending` (FIFO), which the next poll hands
 * out first. Room in `pending` for the events that must never be lost (OPEN,
 * CLOSED, CONNECT_FAILED, SEND_DONE) is reserved when the connection or the
 * send is created, where a lack of memory can still be refused; any other
 * event that finds no memory closes its connection with -ENOMEM instead of
 * vanishing. */

static int must_deliver(uint32_t type)
{
    return type == URK_EV_OPEN || type == URK_EV_CLOSED || type == URK_EV_CONNECT_FAILED ||
           type == URK_EV_SEND_DONE;
}

static urk_conn_slot_t *slot_of(urk_reactor_t *r, urk_conn_t conn)
{
    uint32_t s = (uint32_t)((conn >> 32) & 0xFFFFFFu);
    if (!conn || s >= r->nslots_used)
        return NULL;
    urk_conn_slot_t *c = &r->slots[s];
    return c->gen == (uint32_t)conn ? c : NULL;
}

static int grow_pending(urk_reactor_t *r, uint32_t need)
{
    if (need <= r->pend_cap)
        return 0;
    uint32_t cap = r->pend_cap ? r->pend_cap : 256;
    while (cap < need)
        cap *= 2;
    urk_event_t *n = malloc((size_t)cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    for (uint32_t i = 0; i < r->pend_n; i++)
        n[i] = r->pending[(r->pend_head + i) % r->pend_cap];
    free(r->pending);
    r->pending = n;
    r->pend_cap = cap;
    r->pend_head = 0;
    return 0;
}

int urk__reserve_events(urk_reactor_t *r, urk_conn_slot_t *c, uint32_t n)
{
    if (grow_pending(r, r->pend_n + r->ev_reserved + n))
        return -ENOMEM;
    r->ev_reserved += n;
    c->ev_reserved += n;
    return 0;
}

void urk__unreserve_events(urk_reactor_t *r, urk_conn_slot_t *c)
{
    r->ev_reserved -= c->ev_reserved;
    c->ev_reserved = 0;
}

/* Whether e may join the caller's array now. A batch ends before any later
 * event of a connection whose OPEN it holds, so a user value set in answer
 * to OPEN (urk_conn_set_user) is in all of that connection's later events. */
static int fits_out(urk_reactor_t *r, const urk_event_t *e)
{
    if (r->out_n >= r->out_max)
        return 0;
    urk_conn_slot_t *c = slot_of(r, e->conn);
    if (!c)
        return 1;
    if (e->type == URK_EV_OPEN) {
        c->open_batch = r->batch_no;
        return 1;
    }
    if (c->open_batch == r->batch_no) {
        r->out_max = r->out_n; /* what follows waits for the next poll */
        return 0;
    }
    return 1;
}

int urk__emit(urk_reactor_t *r, urk_conn_t conn, uint32_t type, int32_t res,
              const uint8_t *data, uint32_t len, uint32_t buf, uint64_t user)
{
    if (must_deliver(type)) {
        urk_conn_slot_t *c = slot_of(r, conn);
        if (c && c->ev_reserved) {
            c->ev_reserved--;
            r->ev_reserved--;
        }
    }
    if (r->discard) {
        if (buf)
            urk__release_handle(r, buf);
        return 0;
    }
    urk_event_t ev = {conn, type, res, data, len, buf, user};
    if (r->pend_n == 0 && fits_out(r, &ev)) {
        r->out[r->out_n++] = ev;
    } else {
        if (grow_pending(r, r->pend_n + 1 + r->ev_reserved)) {
            /* Never for a reserved event: the room was set aside. */
            if (buf)
                urk__release_handle(r, buf);
            return -ENOMEM;
        }
        r->pending[(r->pend_head + r->pend_n++) % r->pend_cap] = ev;
    }
    r->emitted++;
    URK_STAT_ADD(r->st.events, 1);
    return 0;
}

static void move_pending(urk_reactor_t *r)
{
    while (r->pend_n && fits_out(r, &r->pending[r->pend_head])) {
        r->out[r->out_n++] = r->pending[r->pend_head];
        r->pend_head = (r->pend_head + 1) % r->pend_cap;
        r->pend_n--;
    }
}

void urk__patch_user(urk_reactor_t *r, urk_conn_t conn, uint64_t user)
{
    for (uint32_t i = 0; i < r->pend_n; i++) {
        urk_event_t *e = &r->pending[(r->pend_head + i) % r->pend_cap];
        if (e->conn == conn && (e->type == URK_EV_DATA || e->type == URK_EV_WRITABLE ||
                                e->type == URK_EV_CLOSED || e->type == URK_EV_EOF))
            e->user = user;
    }
    if (r->dispatch_ev) /* native mode: the batch being dispatched is ours */
        for (uint32_t i = r->dispatch_i + 1; i < r->dispatch_n; i++) {
            urk_event_t *e = &r->dispatch_ev[i];
            if (e->conn == conn && (e->type == URK_EV_DATA || e->type == URK_EV_WRITABLE ||
                                    e->type == URK_EV_CLOSED || e->type == URK_EV_EOF))
                e->user = user;
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
            urk__release_recv_bufs(r, cq);
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
        /* A bundle completion is one event per buffer (up to hundreds):
         * taken one at a time, a poll takes in about as much as the caller
         * asked for, not `want` bundles (the rest would wait in `pending`,
         * and a connection paused in answer would pause that much later). */
        if (!r->discard && urk__recv_bundles(r))
            want = 1;
        uint32_t n = urk__ring_take(r->ring, cq, want);
        if (n == 0)
            break;
        for (uint32_t i = 0; i < n; i++)
            process_cqe(r, &cq[i]);
    }
}

/* Work a poll with timeout 0 would do now: events to return, completions to
 * harvest, requests to submit, deferred closes, sends and receives to retry,
 * hand-offs and wakes to take. */
static int work_pending(urk_reactor_t *r)
{
    return r->pend_n || r->ndeferred || r->nkick || urk__ring_sq_ready(r->ring) ||
           urk__ring_cq_ready(r->ring) || urk__ring_held_back(r->ring) ||
           urk__handoff_queued(r) || atomic_load_explicit(&r->user_wake, memory_order_relaxed) ||
           atomic_load_explicit(&r->posts_queued, memory_order_relaxed) ||
           (r->nstarved && urk_bufring_available(r->bufs) >= (int)r->buf_low_water);
}

void urk__signal_if_pending(urk_reactor_t *r)
{
    /* Level-triggered fd: readable while a poll would find something. The
     * ring's own eventfd signal covers completions that arrive later; this
     * covers what is already here (and signals the kernel dropped). */
    if (!atomic_load_explicit(&r->fd_exposed, memory_order_relaxed) || r->in_poll ||
        r->fd_signaled || !work_pending(r))
        return;
    uint64_t one = 1;
    ssize_t n = write(r->event_fd, &one, sizeof one);
    URK_UNUSED(n);
    r->fd_signaled = 1;
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
        urk__take_posts(r);
    }
}

int urk__poll_core(urk_reactor_t *r, urk_event_t *events, uint32_t max, int32_t timeout_ms)
{
    r->out = events;
    r->out_n = 0;
    r->out_max = max;
    r->woken = 0;
    if (++r->batch_no == 0)
        r->batch_no = 1; /* 0 marks no batch */
    r->now_ms = urk__now_ms();
    r->in_poll = 1;
    if (atomic_load_explicit(&r->fd_exposed, memory_order_relaxed)) {
        r->fd_signaled = 0;
        drain_event_fd(r);
    }
    urk__auto_release(r);
    move_pending(r);
    /* A hand-off wake only means "drain the queue"; only urk_reactor_wake
     * ends a poll that has nothing to return. */
    atomic_store(&r->wake_pending, 0);
    if (atomic_exchange(&r->user_wake, 0))
        r->woken = 1;
    urk__drain_handoff(r);
    urk__take_posts(r);
    run_lists(r);
    harvest_wakes(r);
    if (r->ndeferred && r->out_n == 0 && r->pend_n == 0)
        run_lists(r);
    /* A recv the harvest found stopped by -ENOBUFS after the buffers came
     * back must be re-armed before waiting, or nothing wakes the wait. */
    urk__rearm_starved(r);

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
        urk__take_posts(r);
        run_lists(r);
        harvest_wakes(r);
        /* A peer's EOF harvested while nothing was handed out can be acted
         * on now: the close is submitted by the next wait, and its CLOSED
         * ends this poll instead of waiting for some unrelated event. */
        if (r->ndeferred && r->out_n == 0 && r->pend_n == 0)
            run_lists(r);
        urk__rearm_starved(r);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            break;
    }
    if (urk__ring_sq_ready(r->ring))
        urk__ring_flush(r->ring);
    atomic_store_explicit(&r->st.sq_full_waits, r->ring->stats.sq_full_waits,
                          memory_order_relaxed);
    atomic_store_explicit(&r->st.cq_overflows, r->ring->stats.cq_overflows,
                          memory_order_relaxed);
    r->in_poll = 0;
    urk__signal_if_pending(r);
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

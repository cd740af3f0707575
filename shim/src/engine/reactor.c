/* reactor.c - one reactor's life: its ring and buffers, the thread that owns
 * it (first poll in pull mode, its own thread in native mode), its
 * reactor-level ops (wake read, idle timer, REUSEPORT accept), native-mode
 * dispatch, shutdown, stats. */
#include "engine.h"

#include <semaphore.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

int urk__arm_wake(urk_reactor_t *r)
{
    int rc = urk__prep_read(r->ring, r->wake_fd, &r->wake_buf, sizeof r->wake_buf,
                            URK_UD(UD_WAKE, 0, 0));
    if (rc)
        return rc;
    r->wake_armed = 1;
    r->ops_inflight++;
    return 0;
}

static void arm_timer(urk_reactor_t *r)
{
    uint32_t idle = r->engine->opts.idle_timeout_ms;
    if (!idle || r->timer_armed || atomic_load(&r->stopping))
        return;
    uint64_t tick = idle / 4;
    if (tick < 10)
        tick = 10;
    if (tick > 1000)
        tick = 1000;
    if (urk_prep_timeout(r->ring, tick * 1000000ull, 0, URK_UD(UD_TIMER, 0, 0), 0) == 0) {
        r->timer_armed = 1;
        r->ops_inflight++;
    }
}

static void arm_accept(urk_reactor_t *r)
{
    if (r->listen_fd < 0 || r->accept_armed || atomic_load(&r->stopping))
        return;
    if (urk_prep_accept_multishot(r->ring, r->listen_fd, URK_UD(UD_ACCEPT, 0, 0), 0) == 0) {
        r->accept_armed = 1;
        r->ops_inflight++;
    }
}

/* First owner-only call claims the reactor for the calling thread and, for a
 * SINGLE_ISSUER ring created disabled, makes this thread its issuer. */
static int take_ownership(urk_reactor_t *r, const void *self, int native_thread)
{
    const void *cur = NULL;
    if (!atomic_compare_exchange_strong(&r->owner, &cur, self))
        return -URK_ETHREAD;
    /* A native start marks the reactor, then looks for an owner; a pull
     * claim takes the owner, then looks for the mark: of two racing, at
     * least one sees the other and backs off, so a native thread never
     * starts on a reactor another thread polls. */
    if (!native_thread && atomic_load(&r->native)) {
        atomic_store(&r->owner, NULL);
        return -URK_ETHREAD;
    }
    int rc = 0;
    urk_ring_info_t info;
    urk_ring_info(r->ring, &info);
    if (!(info.active & URK_RING_ACTIVE_ENABLED))
        rc = urk_ring_enable(r->ring);
    if (rc) {
        atomic_store(&r->owner, NULL);
        return rc;
    }
    r->now_ms = urk__now_ms();
    rc = urk__arm_wake(r);
    if (rc)
        return rc;
    arm_timer(r);
    arm_accept(r);
    atomic_store(&r->enabled, 1);
    return 0;
}

int urk__claim(urk_reactor_t *r)
{
    const void *self = urk__thread_self();
    const void *cur = atomic_load_explicit(&r->owner, memory_order_acquire);
    if (URK_LIKELY(cur == self))
        return 0;
    /* A native reactor belongs to its own thread, which takes it when it
     * starts: a caller racing that start must not take it first. */
    if (cur != NULL || atomic_load(&r->native))
        return -URK_ETHREAD;
    return take_ownership(r, self, 0);
}

static void on_accept(urk_reactor_t *r, const urk_cqe_t *cq)
{
    if (!(cq->flags & URK_CQE_F_MORE)) {
        r->accept_armed = 0;
        r->ops_inflight--;
    }
    if (cq->res >= 0) {
        struct sockaddr_storage ss;
        ss.ss_family = AF_UNSPEC; /* no TCP_NODELAY if the peer is already gone */
        socklen_t len = sizeof ss;
        if (getpeername(cq->res, (struct sockaddr *)&ss, &len) != 0)
            len = 0;
        urk__set_nodelay(cq->res, ss.ss_family);
        URK_STAT_ADD_SHARED(r->engine->st.accepted, 1);
        urk__open_accepted(r, cq->res, &ss, len);
    } else if (cq->res != -ECANCELED) {
        URK_STAT_ADD_SHARED(r->engine->st.accept_errors, 1);
    }
    if (!r->accept_armed && !atomic_load(&r->stopping)) {
        URK_STAT_ADD_SHARED(r->engine->st.accept_rearms, 1);
        int pause_ms = urk__accept_backoff(cq->res, &r->accept_backoff_ms);
        if (pause_ms == 0)
            arm_accept(r);
        else if (urk_prep_timeout(r->ring, (uint64_t)pause_ms * 1000000ull, 0,
                                  URK_UD(UD_ACCEPT_BACKOFF, 0, 0), 0) == 0)
            r->ops_inflight++;
    }
}

void urk__reactor_op_done(urk_reactor_t *r, const urk_cqe_t *cq)
{
    switch (URK_UD_KIND(cq->user_data)) {
    case UD_WAKE:
        r->wake_armed = 0;
        r->ops_inflight--;
        URK_STAT_ADD(r->st.wakeups, 1);
        if (!atomic_load(&r->stopping))
            urk__arm_wake(r);
        break;
    case UD_HANDOFF:
        URK_STAT_ADD(r->st.wakeups, 1);
        break;
    case UD_TIMER:
        r->timer_armed = 0;
        r->ops_inflight--;
        urk__idle_scan(r);
        arm_timer(r);
        break;
    case UD_ACCEPT:
        on_accept(r, cq);
        break;
    case UD_ACCEPT_BACKOFF:
        r->ops_inflight--;
        arm_accept(r);
        break;
    default:
        break;
    }
}

int urk_reactor_stats(const urk_reactor_t *r, urk_reactor_stats_t *out)
{
    if (!r || !out)
        return -EINVAL;
    urk_reactor_counters_t *st = (urk_reactor_counters_t *)&r->st;
    urk_reactor_stats_t v = {
        .accepted = URK_STAT_GET(st->accepted),
        .connected = URK_STAT_GET(st->connected),
        .closed = URK_STAT_GET(st->closed),
        .bytes_in = URK_STAT_GET(st->bytes_in),
        .bytes_out = URK_STAT_GET(st->bytes_out),
        .events = URK_STAT_GET(st->events),
        .enobufs_rearms = URK_STAT_GET(st->enobufs_rearms),
        .sq_full_waits = URK_STAT_GET(st->sq_full_waits),
        .cq_overflows = URK_STAT_GET(st->cq_overflows),
        .live_conns = URK_STAT_GET(st->live_conns),
        .bufs_held = URK_STAT_GET(st->bufs_held),
        .send_queued = URK_STAT_GET(st->send_queued),
        .wakeups = URK_STAT_GET(st->wakeups),
        .handoff_fallbacks = URK_STAT_GET(st->handoff_fallbacks),
    };
    *out = v;
    return 0;
}

int urk_reactor_index(const urk_reactor_t *r)
{
    if (!r)
        return -EINVAL;
    return (int)r->index;
}

static int owner_is_self(urk_reactor_t *r)
{
    return atomic_load(&r->owner) == urk__thread_self();
}

static void dispatch(urk_reactor_t *r, urk_event_t *ev, int n)
{
    const urk_callbacks_t *cb = &r->cbs;
    /* urk_conn_set_user in a callback updates the rest of this batch */
    r->dispatch_ev = ev;
    r->dispatch_n = (uint32_t)n;
    for (int i = 0; i < n; i++) {
        r->dispatch_i = (uint32_t)i;
        const urk_event_t *e = &ev[i];
        switch (e->type) {
        case URK_EV_OPEN:
            if (cb->on_open) {
                urk_addr_t peer;
                memset(&peer, 0, sizeof peer);
                memcpy(peer.bytes, e->data, e->len);
                peer.len = e->len;
                cb->on_open(r, e->conn, &peer, e->user, cb->user);
            }
            break;
        case URK_EV_DATA: {
            int32_t kept = cb->on_data ? cb->on_data(r, e->conn, e->data, e->len, e->buf, cb->user)
                                       : 0;
            if (!kept)
                urk_reactor_release(r, &e->buf, 1);
            break;
        }
        case URK_EV_WRITABLE:
            if (cb->on_writable)
                cb->on_writable(r, e->conn, cb->user);
            break;
        case URK_EV_CLOSED:
            if (cb->on_close)
                cb->on_close(r, e->conn, e->res, cb->user);
            break;
        case URK_EV_SEND_DONE:
            if (cb->on_send_done)
                cb->on_send_done(r, e->conn, e->res, e->user, cb->user);
            break;
        case URK_EV_CONNECT_FAILED:
            if (cb->on_connect_failed)
                cb->on_connect_failed(r, e->conn, e->res, e->user, cb->user);
            break;
        case URK_EV_POST:
            if (e->data)
                ((urk_post_fn)(uintptr_t)e->data)(r, (void *)(uintptr_t)e->user);
            break;
        case URK_EV_EOF:
            /* Without on_eof (a caller that predates it) the connection
             * closes gracefully, as it would without URK_ENGINE_HALF_CLOSE. */
            if (cb->on_eof)
                cb->on_eof(r, e->conn, cb->user);
            else
                urk_close(r, e->conn, 0);
            break;
        default:
            break;
        }
    }
    r->dispatch_ev = NULL;
}

static void *native_main(void *arg)
{
    urk_reactor_t *r = arg;
    const int32_t *cpus = r->engine->reactor_cpus;
    if (cpus && cpus[r->index] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus[r->index], &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    int rc = take_ownership(r, urk__thread_self(), 1);
    r->start_rc = rc;
    sem_post((sem_t *)r->started_sem);
    if (rc != 0)
        return NULL; /* urk_engine_start reports rc */
    urk_event_t ev[256];
    while (!atomic_load(&r->stopping)) {
        int n = urk__poll_core(r, ev, 256, -1);
        if (n > 0)
            dispatch(r, ev, n);
    }
    urk__reactor_shutdown(r, r->engine->drain_ms);
    return NULL;
}

int urk__reactor_start_native(urk_reactor_t *r, const urk_callbacks_t *cbs)
{
    atomic_store(&r->native, 1);
    if (atomic_load(&r->owner)) {
        atomic_store(&r->native, 0);
        return -URK_ESTATE; /* already driven in pull mode */
    }
    r->cbs = *cbs;
    sem_t started;
    sem_init(&started, 0, 0);
    r->started_sem = &started;
    int rc = pthread_create(&r->thread, NULL, native_main, r);
    if (rc) {
        sem_destroy(&started);
        atomic_store(&r->native, 0);
        return -rc;
    }
    /* Wait for the thread's claim so a failure is reported, not silent. */
    while (sem_wait(&started) != 0 && errno == EINTR) {
    }
    sem_destroy(&started);
    r->started_sem = NULL;
    if (r->start_rc) {
        pthread_join(r->thread, NULL);
        return r->start_rc;
    }
    r->thread_started = 1;
    return 0;
}

static int all_closed(const urk_reactor_t *r)
{
    return URK_STAT_GET(r->st.live_conns) == 0;
}

/* An event the caller will not see because the reactor stops: native mode
 * dispatches it (every on_close, on_send_done and post runs); in pull mode,
 * whose caller polls no more, posts run here and buffers go back. */
static void settle(urk_reactor_t *r, const urk_event_t *e)
{
    if (r->native && owner_is_self(r)) {
        urk_event_t copy = *e;
        dispatch(r, &copy, 1);
    } else if (e->type == URK_EV_POST) {
        if (e->data)
            ((urk_post_fn)(uintptr_t)e->data)(r, (void *)(uintptr_t)e->user);
    } else if (e->type == URK_EV_DATA) {
        urk__release_handle(r, e->buf);
    }
}

static void settle_pending(urk_reactor_t *r)
{
    while (r->pend_n) {
        urk_event_t e = r->pending[r->pend_head];
        r->pend_head = (r->pend_head + 1) % r->pend_cap;
        r->pend_n--;
        settle(r, &e);
    }
}

/* One round of completions while stopping: native mode still calls the
 * callbacks (on_close, on_send_done); pull mode drops events and returns
 * their buffers. */
static void pump(urk_reactor_t *r, int32_t timeout_ms)
{
    urk_event_t ev[64];
    r->discard = !r->native;
    int n = urk__poll_core(r, ev, 64, 0);
    if (n == 0 && timeout_ms) {
        struct __kernel_timespec ts = {0, (long long)timeout_ms * 1000000};
        urk__ring_wait(r->ring, &ts);
        n = urk__poll_core(r, ev, 64, 0);
    }
    for (int i = 0; i < n; i++)
        settle(r, &ev[i]);
    r->discard = 0;
}

/* Closes without the ring: used when the ring cannot be driven from this
 * thread. shutdown() ends the peer's wait at once; ring teardown later drops
 * the ring's references to the sockets. */
static void shutdown_direct(urk_reactor_t *r)
{
    for (uint32_t s = 0; s < r->nslots_used; s++) {
        urk_conn_slot_t *c = &r->slots[s];
        if (c->state == CS_FREE)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
        c->ops = 0;
        urk__park_inflight(r, s, c); /* ring teardown ends the kernel's use */
        urk__slot_free(r, s);
    }
    if (r->listen_fd >= 0) {
        close(r->listen_fd);
        r->listen_fd = -1;
    }
}

void urk__reactor_shutdown(urk_reactor_t *r, uint32_t drain_ms)
{
    atomic_store(&r->stopping, 1);
    const void *owner = atomic_load(&r->owner);
    if (owner && owner != urk__thread_self()) {
        shutdown_direct(r);
        goto handoff;
    }
    if (!owner && urk__claim(r) != 0) {
        shutdown_direct(r);
        goto handoff;
    }
    urk__drain_handoff(r);
    if (r->listen_fd >= 0 && r->accept_armed)
        urk_prep_cancel(r->ring, URK_UD(UD_ACCEPT, 0, 0), URK_UD(UD_MSG_SENT, 0, 0), 0);
    uint64_t deadline = urk__now_ns() + (uint64_t)drain_ms * 1000000ull;
    if (drain_ms) {
        for (uint32_t s = 0; s < r->nslots_used; s++)
            if (r->slots[s].state == CS_OPEN)
                urk__begin_close(r, s, &r->slots[s], 1, 0);
        while (!all_closed(r) && urk__now_ns() < deadline)
            pump(r, 10);
    }
    for (uint32_t s = 0; s < r->nslots_used; s++)
        if (r->slots[s].state != CS_FREE)
            urk__begin_close(r, s, &r->slots[s], 1, 1);
    if (r->wake_armed)
        urk_prep_cancel(r->ring, URK_UD(UD_WAKE, 0, 0), URK_UD(UD_MSG_SENT, 0, 0), 0);
    if (r->timer_armed)
        urk_prep_cancel(r->ring, URK_UD(UD_TIMER, 0, 0), URK_UD(UD_MSG_SENT, 0, 0), 0);
    /* Every op must post its final completion before the slot, its buffer
     * or its fd is let go (liburing#733). Bounded, in case the kernel hangs. */
    uint64_t give_up = urk__now_ns() + 5000000000ull;
    while ((!all_closed(r) || r->ops_inflight) && urk__now_ns() < give_up) {
        if (r->ops_inflight && !r->wake_armed && !r->timer_armed && !r->accept_armed)
            r->ops_inflight = 0; /* only backoff timers remain: nothing to wait for */
        pump(r, 10);
    }
    if (!all_closed(r))
        shutdown_direct(r);
    if (r->listen_fd >= 0) {
        close(r->listen_fd);
        r->listen_fd = -1;
    }
handoff:
    urk__handoff_close_all(r);
    settle_pending(r);
    urk__run_posts(r, 1);
    urk__auto_release(r);
    /* DATA buffers the caller still holds come back: no receive runs any
     * more, so their bytes stay readable until destroy. */
    uint32_t held = urk__bufring_reclaim(r->bufs);
    URK_STAT_ADD(r->st.bufs_held, -(uint64_t)held);
    urk__chunk_pool_drain(r, 0); /* kept if the kernel may still read a block */
}

int urk__reactor_create(struct urk_engine *e, uint32_t index, urk_reactor_t **out)
{
    const urk_engine_opts_t *o = &e->opts;
    urk_reactor_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->engine = e;
    r->index = index;
    pthread_mutex_init(&r->post_lock, NULL);
    r->event_fd = r->wake_fd = r->listen_fd = -1;
    r->free_head = UINT32_MAX;
    r->nslots_max = o->max_conns;
    r->buf_low_water = o->buf_low_water;
    int rc;

    urk_ring_opts_t ro;
    urk_ring_opts_init(&ro);
    ro.sq_entries = o->sq_entries;
    ro.cq_entries = o->cq_entries;
    /* Disabled until its thread claims it: that thread becomes the single
     * issuer. The ring fd is not registered: measured (bench/ab.py, 0.2),
     * it made no difference, since a reactor enters the kernel about once
     * per 20 requests, while a registration ties up one of the owner
     * thread's 16 slots and the ring's memory until that thread gives it
     * back. URK_ENGINE_NO_REGISTERED_RING is accepted and has no effect. */
    ro.flags = URK_RING_DISABLED | URK_RING_NO_REGISTER_FD;
    if (o->flags & URK_ENGINE_SQPOLL) {
        ro.flags |= URK_RING_SQPOLL;
        ro.sqpoll_idle_ms = o->sqpoll_idle_ms ? o->sqpoll_idle_ms : 1000;
        if (e->reactor_cpus)
            ro.sqpoll_cpu = e->reactor_cpus[index];
    }
    if (o->flags & URK_ENGINE_NO_DEFER_TASKRUN)
        ro.flags |= URK_RING_NO_DEFER_TASKRUN;
    rc = urk_ring_create(&ro, &r->ring);
    if (rc)
        goto fail;

    urk_bufring_opts_t bo;
    urk_bufring_opts_init(&bo);
    bo.count = o->buf_count;
    bo.size = o->buf_size;
    bo.group_id = 0;
    rc = urk_bufring_create(r->ring, &bo, &r->bufs);
    if (rc)
        goto fail;

    r->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->event_fd < 0 || r->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = urk_ring_register_eventfd(r->ring, r->event_fd);
    if (rc)
        goto fail;
    rc = urk__spsc_init(&r->handoff, URK_HANDOFF_QUEUE);
    if (rc)
        goto fail;
    /* Slots are touched only as connections arrive: a large max_conns costs
     * address space, not memory. */
    r->slots = calloc(r->nslots_max, sizeof *r->slots);
    if (!r->slots) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = r;
    return 0;
fail:
    urk__reactor_destroy(r);
    return rc;
}

void urk__reactor_destroy(urk_reactor_t *r)
{
    if (!r)
        return;
    urk__run_posts(r, 1); /* an engine destroyed without start */
    for (uint32_t s = 0; s < r->nslots_used; s++) {
        urk_conn_slot_t *c = &r->slots[s];
        if (c->state != CS_FREE && c->fd >= 0)
            close(c->fd);
    }
    /* The ring first: until it is gone the kernel may read queued chunks. */
    urk_ring_destroy(r->ring); /* also frees the buffer ring */
    for (uint32_t s = 0; s < r->nslots_used; s++)
        urk__free_chunks(&r->slots[s]);
    while (r->graveyard) {
        urk_chunk_t *next = r->graveyard->next;
        if (!r->graveyard->pooled)
            free(r->graveyard);
        r->graveyard = next;
    }
    urk__chunk_pool_drain(r, 1); /* after every chunk that may point into it */
    if (r->event_fd >= 0)
        close(r->event_fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    urk__spsc_free(&r->handoff);
    free(r->slots);
    free(r->deferred);
    free(r->starved);
    free(r->kick);
    free(r->auto_release);
    free(r->pending);
    pthread_mutex_destroy(&r->post_lock);
    free(r);
}

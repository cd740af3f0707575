/* reactor.c - one reactor: its ring, its provided buffers and its connection
 * table. Connections are named by generation-tagged ids and completions by
 * generation-tagged user_data, so nothing from a closed connection reaches
 * the one that reuses its slot or fd. Everything here runs on the reactor's
 * owner thread except urk__reactor_kick and the stats reader. */
#include "internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SEND_IOV_MAX 8
#define HANDOFF_QUEUE 4096

struct urk_chunk {
    urk_chunk_t *next;
    const uint8_t *data;
    uint32_t len;
    uint32_t off; /* bytes already sent */
    uint32_t flags;
    uint32_t reserved;
    uint64_t tag;
    /* copied data follows unless URK_SEND_NOCOPY */
};

enum conn_state { CS_FREE = 0, CS_CONNECTING, CS_OPEN, CS_CLOSING };

struct urk_conn_slot {
    int32_t fd;
    uint32_t gen;
    uint8_t state;
    uint8_t recv_armed;
    uint8_t send_inflight;
    uint8_t want_writable;
    uint8_t peer_eof;
    uint8_t shut_wr;      /* FIN wanted once the queue drains */
    uint8_t teardown;     /* cancel or close submitted */
    uint8_t close_sent;
    uint8_t listed;       /* on the deferred, starved or kick list */
    uint8_t abort;
    uint8_t connect_failed; /* ends with URK_EV_CONNECT_FAILED, not CLOSED */
    uint8_t peer_len;
    uint8_t recv_paused;
    uint16_t ops;         /* ops whose final completion is outstanding */
    int32_t close_reason;
    uint32_t next_free;
    uint64_t queued;
    uint64_t last_active_ms;
    uint64_t eof_seq;     /* r->emitted when the peer's EOF arrived */
    uint64_t tag; /* connect tag, then the caller's user value */
    urk_chunk_t *head, *tail;
    uint8_t peer[28];
    struct iovec iov[SEND_IOV_MAX];
};

static uint64_t now_ms(void) { return urk__now_ns() / 1000000u; }

static urk_conn_t conn_id(const urk_reactor_t *r, uint32_t slot, const urk_conn_slot_t *c)
{
    return URK_CONN_ID(r->index, slot, c->gen);
}

/* ---- single-producer single-consumer hand-off queue ---- */

int urk__spsc_init(urk_spsc_t *q, uint32_t cap_pow2)
{
    memset(q, 0, sizeof *q);
    q->items = calloc(cap_pow2, sizeof *q->items);
    if (!q->items)
        return -ENOMEM;
    q->mask = cap_pow2 - 1;
    return 0;
}

void urk__spsc_free(urk_spsc_t *q)
{
    free(q->items);
    q->items = NULL;
}

int urk__spsc_push(urk_spsc_t *q, const urk_handoff_t *item)
{
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    if (tail - head > q->mask)
        return -EAGAIN;
    q->items[tail & q->mask] = *item;
    atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
    return 0;
}

int urk__spsc_pop(urk_spsc_t *q, urk_handoff_t *item)
{
    uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (head == tail)
        return -EAGAIN;
    *item = q->items[head & q->mask];
    atomic_store_explicit(&q->head, head + 1, memory_order_release);
    return 0;
}

/* ---- events ---- */

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

static void release_handle(urk_reactor_t *r, uint32_t handle)
{
    uint16_t bid = (uint16_t)(handle - 1);
    if (urk_bufring_recycle(r->bufs, &bid, 1) == 1)
        URK_STAT_ADD(r->st.bufs_held, (uint64_t)-1);
}

static void emit(urk_reactor_t *r, urk_conn_t conn, uint32_t type, int32_t res,
                 const uint8_t *data, uint32_t len, uint32_t buf, uint64_t user)
{
    if (r->discard) {
        if (buf)
            release_handle(r, buf);
        return;
    }
    urk_event_t *e = event_slot(r);
    if (!e) {
        /* Out of memory for the overflow queue: the event cannot be kept;
         * at least its buffer must not be lost. */
        if (buf)
            release_handle(r, buf);
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

/* ---- connection table ---- */

static urk_conn_slot_t *slot_alloc(urk_reactor_t *r, uint32_t *slot_out)
{
    uint32_t s;
    if (r->free_head != UINT32_MAX) {
        s = r->free_head;
        r->free_head = r->slots[s].next_free;
    } else if (r->nslots_used < r->nslots_max) {
        s = r->nslots_used++;
        r->slots[s].gen = 1;
    } else {
        return NULL;
    }
    urk_conn_slot_t *c = &r->slots[s];
    uint32_t gen = c->gen;
    memset(c, 0, sizeof *c);
    c->gen = gen;
    c->fd = -1;
    c->last_active_ms = r->now_ms;
    *slot_out = s;
    URK_STAT_ADD(r->st.live_conns, 1);
    return c;
}

static void slot_free(urk_reactor_t *r, uint32_t s)
{
    urk_conn_slot_t *c = &r->slots[s];
    c->state = CS_FREE;
    c->gen = c->gen + 1 ? c->gen + 1 : 1; /* 0 never names a connection */
    c->next_free = r->free_head;
    r->free_head = s;
    URK_STAT_ADD(r->st.live_conns, (uint64_t)-1);
}

/* The slot for an id, or an error: stale when the generation moved on. */
static int lookup(urk_reactor_t *r, urk_conn_t id, uint32_t *slot, urk_conn_slot_t **out)
{
    if (id == 0 || (id >> 56) != r->index)
        return -URK_ESTALE_ID;
    uint32_t s = (uint32_t)((id >> 32) & 0xFFFFFFu);
    if (s >= r->nslots_used)
        return -URK_ESTALE_ID;
    urk_conn_slot_t *c = &r->slots[s];
    if (c->state == CS_FREE || c->gen != (uint32_t)id)
        return -URK_ESTALE_ID;
    *slot = s;
    *out = c;
    return 0;
}

static int list_push(uint32_t **list, uint32_t *n, uint32_t max, uint32_t s)
{
    if (!*list) {
        *list = malloc((size_t)max * sizeof **list);
        if (!*list)
            return -ENOMEM;
    }
    if (*n >= max)
        return -ENOSPC;
    (*list)[(*n)++] = s;
    return 0;
}

/* ---- owner thread ---- */

static int arm_wake(urk_reactor_t *r)
{
    struct io_uring_sqe *sqe = urk__get_sqe(r->ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_read(sqe, r->wake_fd, &r->wake_buf, sizeof r->wake_buf, 0);
    io_uring_sqe_set_data64(sqe, URK_UD(UD_WAKE, 0, 0));
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
static int take_ownership(urk_reactor_t *r, const void *self)
{
    const void *cur = NULL;
    if (!atomic_compare_exchange_strong(&r->owner, &cur, self))
        return -URK_ETHREAD;
    int rc = 0;
    urk_ring_info_t info;
    urk_ring_info(r->ring, &info);
    if (!(info.active & URK_RING_ACTIVE_ENABLED))
        rc = urk_ring_enable(r->ring);
    if (rc) {
        atomic_store(&r->owner, NULL);
        return rc;
    }
    r->now_ms = now_ms();
    rc = arm_wake(r);
    if (rc)
        return rc;
    arm_timer(r);
    arm_accept(r);
    atomic_store(&r->enabled, 1);
    return 0;
}

static int claim(urk_reactor_t *r)
{
    const void *self = urk__thread_self();
    const void *cur = atomic_load_explicit(&r->owner, memory_order_acquire);
    if (URK_LIKELY(cur == self))
        return 0;
    /* A native reactor belongs to its own thread, which takes it when it
     * starts: a caller racing that start must not take it first. */
    if (cur != NULL || r->native)
        return -URK_ETHREAD;
    return take_ownership(r, self);
}

/* The start of every per-connection call: the caller's thread owns the
 * reactor and the id names a live connection. */
static int conn_call(urk_reactor_t *r, urk_conn_t conn, uint32_t *s, urk_conn_slot_t **c)
{
    int rc = claim(r);
    if (rc)
        return rc;
    return lookup(r, conn, s, c);
}

void urk__reactor_kick(urk_reactor_t *r)
{
    if (atomic_exchange(&r->wake_pending, 1))
        return;
    uint64_t one = 1;
    ssize_t n;
    int enabled = atomic_load(&r->enabled);
    if (enabled)
        n = write(r->wake_fd, &one, sizeof one);
    /* Until the ring runs nothing reads wake_fd; a host loop waits on
     * event_fd instead (pull mode before the first poll). Once it runs, the
     * ring signals event_fd when the wake read completes, but not reliably:
     * that completion happens inside our eventfd write, where io_uring must
     * defer the signal, and kernels without "io_uring/eventfd: reset
     * deferred signal state" (io-uring list, May 2026; 6.18 lacks it) drop
     * every deferred signal after the first. So a host loop is told
     * directly. */
    if (!enabled || atomic_load(&r->fd_exposed))
        n = write(r->event_fd, &one, sizeof one);
    URK_UNUSED(n);
}

/* ---- receiving ---- */

static void arm_recv(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->recv_paused)
        return;
    int rc = urk_prep_recv_multishot(r->ring, c->fd, (uint16_t)urk_bufring_group(r->bufs),
                                     URK_UD(UD_RECV, s, c->gen), 0);
    if (rc == 0) {
        c->recv_armed = 1;
        c->ops++;
    } else if (!c->listed) {
        /* SQ full even after a flush: retry with the starved. */
        if (list_push(&r->starved, &r->nstarved, r->nslots_max, s) == 0)
            c->listed = 1;
    }
}

/* Re-arms recvs stopped by -ENOBUFS, at most one per free buffer so an
 * empty ring does not turn into a storm of ENOBUFS completions. */
static void rearm_starved(urk_reactor_t *r)
{
    if (!r->nstarved)
        return;
    int avail = urk_bufring_available(r->bufs);
    if (avail < (int)r->buf_low_water)
        return;
    uint32_t done = 0;
    while (done < r->nstarved && avail > 0) {
        uint32_t s = r->starved[done++];
        urk_conn_slot_t *c = &r->slots[s];
        c->listed = 0;
        if (c->state != CS_OPEN || c->recv_armed || c->peer_eof || c->recv_paused)
            continue;
        arm_recv(r, s, c);
        URK_STAT_ADD(r->st.enobufs_rearms, 1);
        avail--;
    }
    memmove(r->starved, r->starved + done, (r->nstarved - done) * sizeof *r->starved);
    r->nstarved -= done;
}

/* ---- sending ---- */

static void submit_send(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->send_inflight || !c->head)
        return;
    uint32_t n = 0;
    for (urk_chunk_t *k = c->head; k && n < SEND_IOV_MAX; k = k->next, n++) {
        c->iov[n].iov_base = (void *)(uintptr_t)(k->data + k->off);
        c->iov[n].iov_len = k->len - k->off;
    }
    uint64_t ud = URK_UD(UD_SEND, s, c->gen);
    int rc = n == 1 ? urk_prep_send(r->ring, c->fd, c->iov[0].iov_base,
                                    (uint32_t)c->iov[0].iov_len, 0, ud, 0)
                    : urk_prep_sendv(r->ring, c->fd, (const urk_iovec_t *)c->iov, n, 0, ud, 0);
    if (rc == 0) {
        c->send_inflight = 1;
        c->ops++;
    } else if (!c->listed) {
        if (list_push(&r->kick, &r->nkick, r->nslots_max, s) == 0)
            c->listed = 1;
    }
}

static void chunk_done(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, urk_chunk_t *k,
                       int32_t res)
{
    if (k->flags & (URK_SEND_NOTIFY | URK_SEND_NOCOPY))
        emit(r, conn_id(r, s, c), URK_EV_SEND_DONE, res, NULL, 0, 0, k->tag);
    free(k);
}

/* Fails queued sends that the kernel is not using; every one that asked is
 * told, so no send is left without a completion. */
static void fail_queued(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res)
{
    urk_chunk_t *k = c->head, *keep = NULL;
    if (c->send_inflight && k) {
        /* The first SEND_IOV_MAX chunks may be in the kernel's hands. */
        urk_chunk_t *last = k;
        for (int i = 1; i < SEND_IOV_MAX && last->next; i++)
            last = last->next;
        keep = c->head;
        k = last->next;
        last->next = NULL;
        c->tail = last;
    } else {
        c->head = c->tail = NULL;
    }
    while (k) {
        urk_chunk_t *next = k->next;
        c->queued -= k->len - k->off;
        URK_STAT_ADD(r->st.send_queued, -(uint64_t)(k->len - k->off));
        chunk_done(r, s, c, k, res);
        k = next;
    }
    if (!keep)
        c->head = c->tail = NULL;
}

/* ---- closing ---- */

static void start_teardown(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);

static void finish_if_done(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->state != CS_CLOSING || !c->teardown || c->ops)
        return;
    if (!c->close_sent) {
        /* Every op has posted its final completion: only now close the fd
         * (a multishot recv holds a file reference: liburing#1048). */
        if (urk_prep_close(r->ring, c->fd, URK_UD(UD_CLOSE, s, c->gen), 0) == 0) {
            c->close_sent = 1;
            c->ops++;
        } else {
            close(c->fd);
            c->close_sent = 1;
            finish_if_done(r, s, c);
        }
        return;
    }
    urk_conn_t id = conn_id(r, s, c);
    int connect_failed = c->connect_failed;
    int32_t reason = c->close_reason;
    uint64_t user = c->tag;
    fail_queued(r, s, c, -ECANCELED);
    slot_free(r, s);
    URK_STAT_ADD(r->st.closed, 1);
    /* Only now, with the slot free, so the id is stale once the caller
     * sees the event. */
    emit(r, id, connect_failed ? URK_EV_CONNECT_FAILED : URK_EV_CLOSED, reason, NULL, 0, 0, user);
}

static void start_teardown(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->teardown)
        return;
    c->teardown = 1;
    if (c->ops) {
        if (urk_prep_cancel_fd(r->ring, c->fd, URK_UD(UD_CANCEL, s, c->gen), URK_CANCEL_ALL) == 0)
            c->ops++;
        else
            shutdown(c->fd, SHUT_RDWR); /* ends the recv and send all the same */
    }
    finish_if_done(r, s, c);
}

static void begin_close(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t reason,
                        int abort)
{
    if (c->state == CS_CLOSING) {
        if (!abort || c->abort)
            return;
    } else {
        c->state = CS_CLOSING;
        c->close_reason = reason;
    }
    if (abort) {
        c->abort = 1;
        if (reason == 1) {
            struct linger lg = {1, 0}; /* RST, as the caller asked */
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        fail_queued(r, s, c, -ECANCELED);
        start_teardown(r, s, c);
    } else if (!c->head && !c->send_inflight) {
        start_teardown(r, s, c);
    }
    /* else: the send path tears down once the queue drains */
}

static void idle_scan(urk_reactor_t *r)
{
    uint64_t limit = r->engine->opts.idle_timeout_ms;
    for (uint32_t s = 0; s < r->nslots_used; s++) {
        urk_conn_slot_t *c = &r->slots[s];
        if ((c->state == CS_OPEN || c->state == CS_CONNECTING) &&
            r->now_ms - c->last_active_ms >= limit)
            begin_close(r, s, c, -ETIMEDOUT, 1);
    }
}

/* ---- new connections ---- */

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void open_accepted(urk_reactor_t *r, int fd, const void *addr, uint32_t addr_len)
{
    uint32_t s;
    urk_conn_slot_t *c = slot_alloc(r, &s);
    if (!c) {
        close(fd);
        URK_STAT_ADD(r->engine->st.rejected, 1);
        return;
    }
    c->fd = fd;
    c->state = CS_OPEN;
    if (addr_len > sizeof c->peer)
        addr_len = sizeof c->peer;
    memcpy(c->peer, addr, addr_len);
    c->peer_len = (uint8_t)addr_len;
    URK_STAT_ADD(r->st.accepted, 1);
    arm_recv(r, s, c);
    emit(r, conn_id(r, s, c), URK_EV_OPEN, 0, c->peer, c->peer_len, 0, 0);
}

static void drain_handoff(urk_reactor_t *r)
{
    urk_handoff_t h;
    while (urk__spsc_pop(&r->handoff, &h) == 0)
        open_accepted(r, h.fd, h.addr, h.addr_len);
}

/* ---- completions ---- */

static void on_recv(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, const urk_cqe_t *cq)
{
    if (!(cq->flags & URK_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->ops--;
    }
    if (cq->res > 0) {
        URK_STAT_ADD(r->st.bytes_in, (uint64_t)cq->res);
        c->last_active_ms = r->now_ms;
        if (cq->flags & URK_CQE_F_BUFFER) {
            uint32_t handle = (uint32_t)cq->buf_id + 1;
            URK_STAT_ADD(r->st.bufs_held, 1);
            if (c->state == CS_OPEN)
                emit(r, conn_id(r, s, c), URK_EV_DATA, cq->res, cq->buf, cq->buf_len, handle, c->tag);
            else
                release_handle(r, handle); /* we are closing: nobody wants it */
        }
        if (!c->recv_armed && c->state == CS_OPEN)
            arm_recv(r, s, c);
    } else if (cq->res == 0) {
        c->peer_eof = 1;
        c->eof_seq = r->emitted;
        /* Close at the poll after the one that hands out the last data, so
         * sends the caller makes in answer to it still go out before the
         * FIN (that data may still wait in the overflow queue). */
        if (c->state == CS_OPEN && !c->listed &&
            list_push(&r->deferred, &r->ndeferred, r->nslots_max, s) == 0)
            c->listed = 1;
    } else if (cq->res == -ENOBUFS) {
        /* Transient, never a close (notes, pitfall 1). */
        if (c->state == CS_OPEN && !c->recv_armed && !c->listed &&
            list_push(&r->starved, &r->nstarved, r->nslots_max, s) == 0)
            c->listed = 1;
    } else if (cq->res == -ECANCELED) {
        /* Cancelled by a pause that was lifted before this final completion
         * came: receiving must go on. */
        if (!c->recv_armed && c->state == CS_OPEN && !c->recv_paused && !c->peer_eof)
            arm_recv(r, s, c);
    } else {
        if (c->state == CS_OPEN)
            begin_close(r, s, c, cq->res, 1);
    }
    finish_if_done(r, s, c);
}

static void on_send(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res)
{
    c->send_inflight = 0;
    c->ops--;
    if (res == 0)
        res = -EPIPE; /* no progress on a non-empty send: treat as broken */
    if (res > 0) {
        uint32_t left = (uint32_t)res;
        URK_STAT_ADD(r->st.bytes_out, (uint64_t)res);
        URK_STAT_ADD(r->st.send_queued, -(uint64_t)res);
        c->queued -= (uint64_t)res;
        c->last_active_ms = r->now_ms;
        while (left && c->head) {
            urk_chunk_t *k = c->head;
            uint32_t rest = k->len - k->off;
            if (left < rest) {
                k->off += left; /* partial send: continue from here */
                break;
            }
            left -= rest;
            c->head = k->next;
            if (!c->head)
                c->tail = NULL;
            chunk_done(r, s, c, k, (int32_t)k->len);
        }
        if (c->want_writable && c->queued < r->engine->opts.send_limit && c->state == CS_OPEN) {
            c->want_writable = 0;
            emit(r, conn_id(r, s, c), URK_EV_WRITABLE, 0, NULL, 0, 0, c->tag);
        }
    } else {
        /* The failed send and all behind it complete with the error. */
        while (c->head) {
            urk_chunk_t *k = c->head;
            c->head = k->next;
            c->queued -= k->len - k->off;
            URK_STAT_ADD(r->st.send_queued, -(uint64_t)(k->len - k->off));
            chunk_done(r, s, c, k, res);
        }
        c->tail = NULL;
        if (c->state != CS_CLOSING)
            begin_close(r, s, c, res, 1);
    }
    if (c->head && !c->abort && (c->state == CS_OPEN || c->state == CS_CLOSING))
        submit_send(r, s, c);
    if (!c->head && !c->send_inflight) {
        if (c->shut_wr == 1 && c->state == CS_OPEN) {
            if (urk_prep_shutdown(r->ring, c->fd, SHUT_WR, URK_UD(UD_SHUTDOWN, s, c->gen), 0) == 0)
                c->ops++;
            c->shut_wr = 2;
        }
        if (c->state == CS_CLOSING)
            start_teardown(r, s, c);
    }
    finish_if_done(r, s, c);
}

static void on_connect(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res)
{
    c->ops--;
    if (c->state == CS_CONNECTING) {
        if (res == 0) {
            c->state = CS_OPEN;
            c->last_active_ms = r->now_ms;
            URK_STAT_ADD(r->st.connected, 1);
            arm_recv(r, s, c);
            emit(r, conn_id(r, s, c), URK_EV_OPEN, 0, c->peer, c->peer_len, 0, c->tag);
            submit_send(r, s, c);
            if (c->shut_wr == 1 && !c->head && !c->send_inflight) {
                /* urk_shutdown_write while connecting, nothing to send */
                if (urk_prep_shutdown(r->ring, c->fd, SHUT_WR, URK_UD(UD_SHUTDOWN, s, c->gen),
                                      0) == 0)
                    c->ops++;
                c->shut_wr = 2;
            }
        } else {
            c->connect_failed = 1; /* reported when the slot is free */
            begin_close(r, s, c, res, 1);
        }
    }
    finish_if_done(r, s, c);
}

static void on_accept(urk_reactor_t *r, const urk_cqe_t *cq)
{
    if (!(cq->flags & URK_CQE_F_MORE)) {
        r->accept_armed = 0;
        r->ops_inflight--;
    }
    if (cq->res >= 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getpeername(cq->res, (struct sockaddr *)&ss, &len) != 0)
            len = 0;
        set_nodelay(cq->res);
        URK_STAT_ADD(r->engine->st.accepted, 1);
        open_accepted(r, cq->res, &ss, len);
    } else if (cq->res != -ECANCELED) {
        URK_STAT_ADD(r->engine->st.accept_errors, 1);
    }
    if (!r->accept_armed && !atomic_load(&r->stopping)) {
        URK_STAT_ADD(r->engine->st.accept_rearms, 1);
        if (cq->res == -EMFILE || cq->res == -ENFILE || cq->res == -ENOMEM ||
            cq->res == -ENOBUFS) {
            /* No descriptors now: retry after a growing pause instead of
             * spinning on an accept that fails at once. */
            r->accept_backoff_ms = r->accept_backoff_ms ? r->accept_backoff_ms * 2 : 1;
            if (r->accept_backoff_ms > 100)
                r->accept_backoff_ms = 100;
            if (urk_prep_timeout(r->ring, (uint64_t)r->accept_backoff_ms * 1000000ull, 0,
                                 URK_UD(UD_ACCEPT_BACKOFF, 0, 0), 0) == 0)
                r->ops_inflight++;
        } else {
            r->accept_backoff_ms = 0;
            arm_accept(r);
        }
    }
}

static void process_cqe(urk_reactor_t *r, const urk_cqe_t *cq)
{
    uint64_t ud = cq->user_data;
    uint32_t kind = URK_UD_KIND(ud);
    if (kind >= UD_WAKE) {
        switch (kind) {
        case UD_WAKE:
            r->wake_armed = 0;
            r->ops_inflight--;
            URK_STAT_ADD(r->st.wakeups, 1);
            if (!atomic_load(&r->stopping))
                arm_wake(r);
            break;
        case UD_HANDOFF:
            URK_STAT_ADD(r->st.wakeups, 1);
            break;
        case UD_TIMER:
            r->timer_armed = 0;
            r->ops_inflight--;
            idle_scan(r);
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
            release_handle(r, (uint32_t)cq->buf_id + 1);
        return;
    }
    switch (kind) {
    case UD_RECV:
        on_recv(r, s, c, cq);
        break;
    case UD_SEND:
        on_send(r, s, c, cq->res);
        break;
    case UD_CONNECT:
        on_connect(r, s, c, cq->res);
        break;
    case UD_CLOSE:
    case UD_SHUTDOWN:
    case UD_CANCEL:
        c->ops--;
        finish_if_done(r, s, c);
        break;
    default:
        break;
    }
}

/* Harvests what the kernel has, as long as there is room for events. */
static void harvest(urk_reactor_t *r)
{
    struct io_uring *io = &r->ring->io;
    unsigned kf = IO_URING_READ_ONCE(*io->sq.kflags);
    if (kf & IORING_SQ_CQ_OVERFLOW)
        URK_STAT_ADD(r->st.cq_overflows, 1);
    if (io_uring_sq_ready(io) || (kf & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
        urk__ring_enter_getevents(r->ring);
    struct io_uring_cqe *cqes[64];
    for (;;) {
        if (!r->discard && r->out_n >= r->out_max)
            break;
        unsigned want = 64;
        if (!r->discard && r->out_max - r->out_n < want)
            want = r->out_max - r->out_n;
        unsigned n = io_uring_peek_batch_cqe(io, cqes, want);
        if (n == 0)
            break;
        for (unsigned i = 0; i < n; i++) {
            urk_cqe_t cq;
            urk__cqe_convert(r->ring, cqes[i], &cq);
            io_uring_cqe_seen(io, cqes[i]);
            process_cqe(r, &cq);
        }
        r->ring->stats.completed += n;
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
                begin_close(r, s, c, 0, 0);
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
                submit_send(r, s, c);
        }
    }
    rearm_starved(r);
}

static void auto_release(urk_reactor_t *r)
{
    for (uint32_t i = 0; i < r->nauto_release; i++)
        release_handle(r, r->auto_release[i]);
    r->nauto_release = 0;
}

static void remember_auto_release(urk_reactor_t *r)
{
    if (!(r->engine->opts.flags & URK_ENGINE_RELEASE_ON_POLL))
        return;
    for (uint32_t i = 0; i < r->out_n; i++) {
        if (r->out[i].type != URK_EV_DATA)
            continue;
        if (r->nauto_release == r->auto_release_cap) {
            uint32_t cap = r->auto_release_cap ? r->auto_release_cap * 2 : 256;
            uint32_t *n = realloc(r->auto_release, cap * sizeof *n);
            if (!n)
                return; /* left held; urk_reactor_release still works */
            r->auto_release = n;
            r->auto_release_cap = cap;
        }
        r->auto_release[r->nauto_release++] = r->out[i].buf;
    }
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
        drain_handoff(r);
    }
}

static int poll_core(urk_reactor_t *r, urk_event_t *events, uint32_t max, int32_t timeout_ms)
{
    r->out = events;
    r->out_n = 0;
    r->out_max = max;
    r->woken = 0;
    r->now_ms = now_ms();
    if (atomic_load_explicit(&r->fd_exposed, memory_order_relaxed))
        drain_event_fd(r);
    auto_release(r);
    move_pending(r);
    /* A hand-off wake only means "drain the queue"; only urk_reactor_wake
     * ends a poll that has nothing to return. */
    atomic_store(&r->wake_pending, 0);
    if (atomic_exchange(&r->user_wake, 0))
        r->woken = 1;
    drain_handoff(r);
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
        struct io_uring_cqe *cqe;
        unsigned pending = io_uring_sq_ready(&r->ring->io);
        int rc = io_uring_submit_and_wait_timeout(&r->ring->io, &cqe, 1, tsp, NULL);
        if (rc > 0 && pending)
            r->ring->stats.submitted += (uint64_t)rc;
        r->now_ms = now_ms();
        atomic_store(&r->wake_pending, 0);
        if (atomic_exchange(&r->user_wake, 0))
            r->woken = 1;
        drain_handoff(r);
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
    if (io_uring_sq_ready(&r->ring->io)) {
        int rc = io_uring_submit(&r->ring->io);
        if (rc > 0)
            r->ring->stats.submitted += (uint64_t)rc;
    }
    URK_STAT_ADD(r->st.sq_full_waits, r->ring->stats.sq_full_waits - URK_STAT_GET(r->st.sq_full_waits));
    if (atomic_load_explicit(&r->fd_exposed, memory_order_relaxed) &&
        (r->pend_n || io_uring_cq_ready(&r->ring->io) ||
         atomic_load(&r->handoff.tail) != atomic_load(&r->handoff.head))) {
        uint64_t one = 1; /* more is waiting: keep the host loop's fd readable */
        ssize_t n = write(r->event_fd, &one, sizeof one);
        URK_UNUSED(n);
    }
    remember_auto_release(r);
    r->delivered += r->out_n;
    int n = (int)r->out_n;
    r->out = NULL;
    r->out_n = r->out_max = 0;
    return n;
}

/* ---- public: pull mode ---- */

int urk_reactor_poll(urk_reactor_t *r, urk_event_t *events, uint32_t max, int32_t timeout_ms)
{
    if (!r || !events || max == 0 || timeout_ms < -1)
        return -EINVAL;
    if (r->native)
        return -URK_ESTATE;
    int rc = claim(r);
    if (rc)
        return rc;
    if (atomic_load(&r->stopping))
        return -URK_ESTATE;
    return poll_core(r, events, max, timeout_ms);
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
    int rc = claim(r);
    if (rc)
        return rc;
    rc = io_uring_submit(&r->ring->io);
    if (rc > 0)
        r->ring->stats.submitted += (uint64_t)rc;
    return rc;
}

int urk_reactor_release(urk_reactor_t *r, const uint32_t *bufs, uint32_t n)
{
    if (!r || (!bufs && n))
        return -EINVAL;
    int rc = claim(r);
    if (rc)
        return rc;
    uint16_t small[256], *bids = small;
    if (n > 256) {
        bids = malloc(n * sizeof *bids);
        if (!bids)
            return -ENOMEM;
    }
    uint32_t count = (uint32_t)r->bufs->count;
    for (uint32_t i = 0; i < n; i++) {
        if (bufs[i] == 0 || bufs[i] > count) {
            if (bids != small)
                free(bids);
            return -EINVAL;
        }
        bids[i] = (uint16_t)(bufs[i] - 1);
    }
    rc = urk_bufring_recycle(r->bufs, bids, n);
    if (bids != small)
        free(bids);
    if (rc < 0)
        return -EINVAL; /* a handle not held: nothing was released */
    URK_STAT_ADD(r->st.bufs_held, -(uint64_t)n);
    rearm_starved(r);
    return (int)n;
}

int urk_send(urk_reactor_t *r, urk_conn_t conn, const void *data, uint32_t len, uint32_t flags,
             uint64_t tag)
{
    if (!r)
        return -EINVAL;
    if (flags & ~(uint32_t)(URK_SEND_NOCOPY | URK_SEND_NOTIFY | URK_SEND_FORCE))
        return -EINVAL;
    if (len == 0)
        return -EINVAL;
    if (!data)
        return -EFAULT;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    if (c->state == CS_CLOSING || c->shut_wr)
        return -URK_ECLOSING;
    if (c->queued && c->queued + len > r->engine->opts.send_limit) {
        c->want_writable = 1; /* backpressure: URK_EV_WRITABLE follows */
        if (!(flags & URK_SEND_FORCE))
            return -EAGAIN;
    }
    int copy = !(flags & URK_SEND_NOCOPY);
    urk_chunk_t *k = malloc(sizeof *k + (copy ? len : 0));
    if (!k)
        return -ENOMEM;
    k->next = NULL;
    k->len = len;
    k->off = 0;
    k->flags = flags;
    k->reserved = 0;
    k->tag = tag;
    if (copy) {
        memcpy(k + 1, data, len);
        k->data = (const uint8_t *)(k + 1);
    } else {
        k->data = data;
    }
    if (c->tail)
        c->tail->next = k;
    else
        c->head = k;
    c->tail = k;
    c->queued += len;
    URK_STAT_ADD(r->st.send_queued, len);
    if (c->state == CS_OPEN)
        submit_send(r, s, c);
    return 0;
}

int urk_send_batch(urk_reactor_t *r, urk_send_req_t *reqs, uint32_t n)
{
    if (!r || (!reqs && n))
        return -EINVAL;
    int ok = 0;
    for (uint32_t i = 0; i < n; i++) {
        reqs[i].result = urk_send(r, reqs[i].conn, reqs[i].data, reqs[i].len, reqs[i].flags,
                                  reqs[i].tag);
        if (reqs[i].result == 0)
            ok++;
    }
    return ok;
}

int urk_close(urk_reactor_t *r, urk_conn_t conn, uint32_t abort)
{
    if (!r || abort > 1)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    begin_close(r, s, c, 1, abort || c->state == CS_CONNECTING);
    return 0;
}

int urk_conn_pause_recv(urk_reactor_t *r, urk_conn_t conn, uint32_t pause)
{
    if (!r || pause > 1)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    if (c->state != CS_OPEN && c->state != CS_CONNECTING)
        return -URK_ECLOSING;
    if (c->recv_paused == pause)
        return 0;
    c->recv_paused = (uint8_t)pause;
    if (pause && c->recv_armed) {
        /* The recv posts its final completion (-ECANCELED) in its own time. */
        rc = urk_prep_cancel(r->ring, URK_UD(UD_RECV, s, c->gen), URK_UD(UD_CANCEL, s, c->gen), 0);
        if (rc == 0)
            c->ops++;
    } else if (!pause && c->state == CS_OPEN && !c->recv_armed && !c->peer_eof) {
        arm_recv(r, s, c);
    }
    return 0;
}

int urk_shutdown_write(urk_reactor_t *r, urk_conn_t conn)
{
    if (!r)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    if (c->state != CS_OPEN && c->state != CS_CONNECTING)
        return -URK_ECLOSING;
    if (c->shut_wr)
        return 0;
    c->shut_wr = 1;
    if (c->state == CS_OPEN && !c->head && !c->send_inflight) {
        rc = urk_prep_shutdown(r->ring, c->fd, SHUT_WR, URK_UD(UD_SHUTDOWN, s, c->gen), 0);
        if (rc)
            return rc;
        c->ops++;
        c->shut_wr = 2;
    }
    return 0;
}

int urk_reactor_connect(urk_reactor_t *r, const urk_addr_t *addr, uint64_t tag, urk_conn_t *out)
{
    if (!r || !addr || !out)
        return -EINVAL;
    *out = 0;
    const struct sockaddr *sa = (const struct sockaddr *)addr->bytes;
    if (addr->len > 28 || addr->len < sizeof(struct sockaddr_in) ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return -EINVAL;
    int rc = claim(r);
    if (rc)
        return rc;
    if (atomic_load(&r->stopping))
        return -URK_ESTATE;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    set_nodelay(fd);
    uint32_t s;
    urk_conn_slot_t *c = slot_alloc(r, &s);
    if (!c) {
        close(fd);
        return -ENOSPC;
    }
    c->fd = fd;
    c->state = CS_CONNECTING;
    c->tag = tag;
    memcpy(c->peer, addr->bytes, addr->len);
    c->peer_len = (uint8_t)addr->len;
    rc = urk_prep_connect(r->ring, fd, addr, URK_UD(UD_CONNECT, s, c->gen), 0);
    if (rc) {
        close(fd);
        slot_free(r, s);
        return rc;
    }
    c->ops++;
    *out = conn_id(r, s, c);
    return 0;
}

int urk_conn_peer(urk_reactor_t *r, urk_conn_t conn, urk_addr_t *out)
{
    if (!r || !out)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    memcpy(out->bytes, c->peer, c->peer_len);
    out->len = c->peer_len;
    return 0;
}

int urk_conn_set_user(urk_reactor_t *r, urk_conn_t conn, uint64_t user)
{
    if (!r)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    c->tag = user;
    return 0;
}

int urk_conn_user(urk_reactor_t *r, urk_conn_t conn, uint64_t *user)
{
    if (!r || !user)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    *user = c->tag;
    return 0;
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

/* ---- native mode ---- */

static void dispatch(urk_reactor_t *r, const urk_event_t *ev, int n)
{
    const urk_callbacks_t *cb = &r->cbs;
    for (int i = 0; i < n; i++) {
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
        default:
            break;
        }
    }
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
    if (take_ownership(r, urk__thread_self()) != 0)
        return NULL;
    urk_event_t ev[256];
    while (!atomic_load(&r->stopping)) {
        int n = poll_core(r, ev, 256, -1);
        if (n > 0)
            dispatch(r, ev, n);
    }
    urk__reactor_shutdown(r, r->engine->drain_ms);
    return NULL;
}

int urk__reactor_start_native(urk_reactor_t *r, const urk_callbacks_t *cbs)
{
    if (atomic_load(&r->owner))
        return -URK_ESTATE; /* already driven in pull mode */
    r->cbs = *cbs;
    r->native = 1;
    int rc = pthread_create(&r->thread, NULL, native_main, r);
    if (rc)
        return -rc;
    r->thread_started = 1;
    return 0;
}

/* ---- shutdown ---- */

static int all_closed(const urk_reactor_t *r)
{
    return URK_STAT_GET(r->st.live_conns) == 0;
}

/* One round of completions while stopping: native mode still calls the
 * callbacks (on_close, on_send_done); pull mode drops events and returns
 * their buffers. */
static void pump(urk_reactor_t *r, int32_t timeout_ms)
{
    urk_event_t ev[64];
    r->discard = !r->native;
    int n = poll_core(r, ev, 64, 0);
    if (n == 0 && timeout_ms) {
        struct __kernel_timespec ts = {0, (long long)timeout_ms * 1000000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&r->ring->io, &cqe, 1, &ts, NULL);
        n = poll_core(r, ev, 64, 0);
    }
    if (n > 0 && r->native)
        dispatch(r, ev, n);
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
        c->send_inflight = 0; /* ring teardown ends the kernel's use */
        fail_queued(r, s, c, -ECANCELED);
        urk_chunk_t *k = c->head;
        while (k) {
            urk_chunk_t *next = k->next;
            free(k);
            k = next;
        }
        c->head = c->tail = NULL;
        slot_free(r, s);
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
    if (!owner && claim(r) != 0) {
        shutdown_direct(r);
        goto handoff;
    }
    drain_handoff(r);
    if (r->listen_fd >= 0 && r->accept_armed)
        urk_prep_cancel(r->ring, URK_UD(UD_ACCEPT, 0, 0), URK_UD(UD_MSG_SENT, 0, 0), 0);
    uint64_t deadline = urk__now_ns() + (uint64_t)drain_ms * 1000000ull;
    if (drain_ms) {
        for (uint32_t s = 0; s < r->nslots_used; s++)
            if (r->slots[s].state == CS_OPEN)
                begin_close(r, s, &r->slots[s], 1, 0);
        while (!all_closed(r) && urk__now_ns() < deadline)
            pump(r, 10);
    }
    for (uint32_t s = 0; s < r->nslots_used; s++)
        if (r->slots[s].state != CS_FREE)
            begin_close(r, s, &r->slots[s], 1, 1);
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
handoff:;
    urk_handoff_t h;
    while (urk__spsc_pop(&r->handoff, &h) == 0)
        close(h.fd);
    auto_release(r);
}

/* ---- create / destroy ---- */

int urk__reactor_create(struct urk_engine *e, uint32_t index, urk_reactor_t **out)
{
    const urk_engine_opts_t *o = &e->opts;
    urk_reactor_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->engine = e;
    r->index = index;
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
     * issuer. The ring fd is registered only for native threads. */
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
    rc = urk__spsc_init(&r->handoff, HANDOFF_QUEUE);
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
    for (uint32_t s = 0; s < r->nslots_used; s++) {
        urk_conn_slot_t *c = &r->slots[s];
        urk_chunk_t *k = c->head;
        while (k) {
            urk_chunk_t *next = k->next;
            free(k);
            k = next;
        }
        if (c->state != CS_FREE && c->fd >= 0)
            close(c->fd);
    }
    urk_ring_destroy(r->ring); /* also frees the buffer ring */
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
    free(r);
}

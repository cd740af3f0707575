/* handoff.c - accepted connections from the acceptor to a reactor: a
 * single-producer single-consumer queue and the wake handshake.
 *
 * The acceptor pushes {fd, peer} onto the reactor's queue and wakes it once
 * per batch: with IORING_OP_MSG_RING where the kernel has it (a completion
 * lands in the reactor's ring, waking a thread blocked in it), else by
 * writing the reactor's wake eventfd, on which a read is always pending in
 * the reactor's ring. Writing an eventfd registered for completions would
 * not wake a thread blocked in io_uring_enter. `wake_pending` coalesces
 * wakes: set by the waker, cleared by the reactor before it drains. */
#include "engine.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

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

void urk__drain_handoff(urk_reactor_t *r)
{
    urk_handoff_t h;
    while (urk__spsc_pop(&r->handoff, &h) == 0)
        urk__open_accepted(r, h.fd, h.addr, h.addr_len);
}

uint32_t urk__handoff_queued(urk_reactor_t *r)
{
    return atomic_load(&r->handoff.tail) - atomic_load(&r->handoff.head);
}

void urk__handoff_close_all(urk_reactor_t *r)
{
    urk_handoff_t h;
    while (urk__spsc_pop(&r->handoff, &h) == 0)
        close(h.fd);
}

/* ---- acceptor side ---- */

static uint32_t pick_reactor(urk_engine_t *e)
{
    if (e->opts.flags & URK_ENGINE_LEAST_CONN) {
        uint32_t best = 0;
        uint64_t best_n = UINT64_MAX;
        for (uint32_t i = 0; i < e->nreactors; i++) {
            uint64_t n = URK_STAT_GET(e->reactors[i]->st.live_conns) +
                         urk__handoff_queued(e->reactors[i]);
            if (n < best_n)
                best = i, best_n = n;
        }
        return best;
    }
    return e->rr_next++ % e->nreactors;
}

void urk__hand_off(urk_engine_t *e, int fd, uint8_t *woken)
{
    urk_handoff_t h;
    memset(&h, 0, sizeof h);
    h.fd = fd;
    socklen_t len = sizeof h.addr;
    if (getpeername(fd, (struct sockaddr *)h.addr, &len) == 0)
        h.addr_len = len; /* may exceed h.addr (a bound Unix peer): see below */
    urk__set_nodelay(fd, ((struct sockaddr *)h.addr)->sa_family);
    uint32_t first = pick_reactor(e);
    for (uint32_t k = 0; k < e->nreactors; k++) {
        uint32_t i = (first + k) % e->nreactors;
        if (urk__spsc_push(&e->reactors[i]->handoff, &h) == 0) {
            woken[i] = 1;
            URK_STAT_ADD_SHARED(e->st.accepted, 1);
            return;
        }
    }
    close(fd); /* every reactor's queue is full */
    URK_STAT_ADD_SHARED(e->st.rejected, 1);
}

void urk__wake_fallback(urk_reactor_t *r)
{
    URK_STAT_ADD(r->st.handoff_fallbacks, 1);
    atomic_store(&r->wake_pending, 0);
    urk__reactor_kick(r);
}

void urk__wake_reactor(urk_engine_t *e, urk_reactor_t *r)
{
    if (atomic_exchange(&r->wake_pending, 1))
        return; /* already woken and not yet drained */
    int use_msg_ring = (e->caps & URK_CAP_MSG_RING) &&
                       !(e->opts.flags & URK_ENGINE_NO_MSG_RING) && atomic_load(&r->enabled);
    if (use_msg_ring &&
        urk_prep_msg_ring(e->acceptor_ring, urk_ring_fd(r->ring), 0, URK_UD(UD_HANDOFF, 0, 0),
                          URK_UD(UD_MSG_SENT, 0, r->index), 0) == 0)
        return;
    urk__wake_fallback(r);
}

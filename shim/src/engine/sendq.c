/* sendq.c - the per-connection send queue: copied or caller-owned chunks,
 * one send (or sendv) in flight at a time, backpressure, completions for
 * every chunk that asked, and the FIN of urk_shutdown_write. */
#include "engine.h"

#include <stdlib.h>

void urk__submit_send(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->send_inflight || !c->head)
        return;
    uint32_t n = 0;
    for (urk_chunk_t *k = c->head; k && n < URK_SEND_IOV_MAX; k = k->next, n++) {
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
        if (urk__list_push(&r->kick, &r->nkick, r->nslots_max, s) == 0)
            c->listed = 1;
    }
}

static void chunk_done(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, urk_chunk_t *k,
                       int32_t res)
{
    if (k->flags & (URK_SEND_NOTIFY | URK_SEND_NOCOPY))
        urk__emit(r, urk__conn_id(r, s, c), URK_EV_SEND_DONE, res, NULL, 0, 0, k->tag);
    urk__chunk_put(r, k);
}

/* Fails queued sends that the kernel is not using; every one that asked is
 * told, so no send is left without a completion. */
void urk__fail_queued(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res)
{
    urk_chunk_t *k = c->head, *keep = NULL;
    if (c->send_inflight && k) {
        /* The first URK_SEND_IOV_MAX chunks may be in the kernel's hands. */
        urk_chunk_t *last = k;
        for (int i = 1; i < URK_SEND_IOV_MAX && last->next; i++)
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

void urk__on_send(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res)
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
            if (urk__emit(r, urk__conn_id(r, s, c), URK_EV_WRITABLE, 0, NULL, 0, 0, c->tag) != 0)
                urk__begin_close(r, s, c, -ENOMEM, 1);
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
            urk__begin_close(r, s, c, res, 1);
    }
    if (c->head && !c->abort && (c->state == CS_OPEN || c->state == CS_CLOSING))
        urk__submit_send(r, s, c);
    if (!c->head && !c->send_inflight) {
        urk__send_fin(r, s, c);
        if (c->state == CS_CLOSING)
            urk__start_teardown(r, s, c);
    }
    urk__finish_if_done(r, s, c);
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
    int rc = urk__conn_call(r, conn, &s, &c);
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
    urk_chunk_t *k = urk__chunk_get(r, copy ? len : 0);
    if (!k)
        return -ENOMEM;
    /* its SEND_DONE always finds room */
    if ((flags & (URK_SEND_NOTIFY | URK_SEND_NOCOPY)) && urk__reserve_events(r, c, 1) != 0) {
        urk__chunk_put(r, k);
        return -ENOMEM;
    }
    k->next = NULL;
    k->len = len;
    k->off = 0;
    k->flags = flags;
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
        urk__submit_send(r, s, c);
    urk__signal_if_pending(r);
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

int urk_shutdown_write(urk_reactor_t *r, urk_conn_t conn)
{
    if (!r)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = urk__conn_call(r, conn, &s, &c);
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
    urk__signal_if_pending(r);
    return 0;
}

void urk__send_fin(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->shut_wr != 1 || c->state != CS_OPEN || c->head || c->send_inflight)
        return;
    if (urk_prep_shutdown(r->ring, c->fd, SHUT_WR, URK_UD(UD_SHUTDOWN, s, c->gen), 0) == 0)
        c->ops++;
    c->shut_wr = 2;
}

void urk__free_chunks(urk_conn_slot_t *c)
{
    urk_chunk_t *k = c->head;
    while (k) {
        urk_chunk_t *next = k->next;
        if (!k->pooled) /* pool blocks go with the pool's arena */
            free(k);
        k = next;
    }
    c->head = c->tail = NULL;
}

void urk__park_inflight(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    urk__fail_queued(r, s, c, -ECANCELED); /* all but what the kernel may use */
    urk_chunk_t *k = c->head;
    while (k) {
        urk_chunk_t *next = k->next;
        c->queued -= k->len - k->off;
        URK_STAT_ADD(r->st.send_queued, -(uint64_t)(k->len - k->off));
        if (k->flags & (URK_SEND_NOTIFY | URK_SEND_NOCOPY))
            urk__emit(r, urk__conn_id(r, s, c), URK_EV_SEND_DONE, -ECANCELED, NULL, 0, 0, k->tag);
        /* The kernel may still read it: freed after the ring is gone. */
        k->next = r->graveyard;
        r->graveyard = k;
        k = next;
    }
    c->head = c->tail = NULL;
    c->send_inflight = 0;
}

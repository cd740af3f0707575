/* recv.c - receiving: multishot recvs into the reactor's provided buffers
 * (bundled where the kernel can), re-arming after -ENOBUFS, pausing, and
 * buffer handles the caller holds. */
#include "engine.h"

#include <stdlib.h>

void urk__arm_recv(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
{
    if (c->recv_paused)
        return;
    /* Bundles (one completion for several buffers, split below into one
     * DATA event per buffer) unless the kernel lacks them or they are off. */
    uint16_t group = (uint16_t)urk_bufring_group(r->bufs);
    uint64_t ud = URK_UD(UD_RECV, s, c->gen);
    int rc = urk__recv_bundles(r)
                 ? urk__prep_recv_multishot_bundle(r->ring, c->fd, group, ud)
                 : urk_prep_recv_multishot(r->ring, c->fd, group, ud, 0);
    if (rc == 0) {
        c->recv_armed = 1;
        c->ops++;
    } else if (!c->listed) {
        /* SQ full even after a flush: retry with the starved. */
        if (urk__list_push(&r->starved, &r->nstarved, r->nslots_max, s) == 0)
            c->listed = 1;
    }
}

/* Re-arms recvs stopped by -ENOBUFS, at most one per free buffer so an
 * empty ring does not turn into a storm of ENOBUFS completions. */
void urk__rearm_starved(urk_reactor_t *r)
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
        urk__arm_recv(r, s, c);
        URK_STAT_ADD(r->st.enobufs_rearms, 1);
        avail--;
    }
    memmove(r->starved, r->starved + done, (r->nstarved - done) * sizeof *r->starved);
    r->nstarved -= done;
}

/* One DATA event per buffer, in order; a bundle's buffers (see
 * urk__bufring_bundle_count) are each a full buffer but the last. */
static void deliver(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, const urk_cqe_t *cq)
{
    const urk_bufring_t *br = r->bufs;
    uint32_t n = urk__bufring_bundle_count(br, cq->buf_len);
    if (n > 1) {
        URK_STAT_ADD(r->st.recv_bundles, 1);
        URK_STAT_ADD(r->st.recv_bundle_bufs, n);
    }
    URK_STAT_ADD(r->st.bufs_held, n);
    const uint8_t *data = cq->buf;
    uint32_t left = cq->buf_len;
    uint16_t bid = cq->buf_id;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = left < br->size ? left : br->size;
        uint16_t next = i + 1 < n ? urk__bufring_bundle_next(br, bid) : 0; /* before release */
        uint32_t handle = (uint32_t)bid + 1;
        if (c->state != CS_OPEN)
            urk__release_handle(r, handle); /* we are closing: nobody wants it */
        else if (urk__emit(r, urk__conn_id(r, s, c), URK_EV_DATA, (int32_t)len, data, len,
                           handle, c->tag) != 0)
            urk__begin_close(r, s, c, -ENOMEM, 1); /* never a silent gap */
        left -= len;
        bid = next;
        data = br->base + (size_t)bid * br->size;
    }
}

void urk__on_recv(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, const urk_cqe_t *cq)
{
    if (!(cq->flags & URK_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->ops--;
    }
    if (cq->res > 0) {
        URK_STAT_ADD(r->st.bytes_in, (uint64_t)cq->res);
        c->last_active_ms = r->now_ms;
        if (cq->flags & URK_CQE_F_BUFFER)
            deliver(r, s, c, cq);
        if (!c->recv_armed && c->state == CS_OPEN) {
            /* A bundle that emptied the buffer ring ends its recv with data:
             * re-armed now it would only fail with -ENOBUFS, so it waits
             * with the starved ones for buffers to come back. */
            if (r->bufs->available < r->buf_low_water && !c->listed &&
                urk__list_push(&r->starved, &r->nstarved, r->nslots_max, s) == 0)
                c->listed = 1;
            else
                urk__arm_recv(r, s, c);
        }
    } else if (cq->res == 0) {
        c->peer_eof = 1;
        if (r->engine->opts.flags & URK_ENGINE_HALF_CLOSE) {
            /* Half-close: the caller hears of the FIN after the last data
             * and decides when to close; sending goes on meanwhile. */
            if (c->state == CS_OPEN &&
                urk__emit(r, urk__conn_id(r, s, c), URK_EV_EOF, 0, NULL, 0, 0, c->tag) != 0)
                urk__begin_close(r, s, c, -ENOMEM, 1);
            urk__finish_if_done(r, s, c);
            return;
        }
        c->eof_seq = r->emitted;
        /* Close at the poll after the one that hands out the last data, so
         * sends the caller makes in answer to it still go out before the
         * FIN (that data may still wait in the overflow queue). */
        if (c->state == CS_OPEN && !c->listed &&
            urk__list_push(&r->deferred, &r->ndeferred, r->nslots_max, s) == 0)
            c->listed = 1;
    } else if (cq->res == -ENOBUFS) {
        /* Transient, never a close. */
        if (c->state == CS_OPEN && !c->recv_armed && !c->listed &&
            urk__list_push(&r->starved, &r->nstarved, r->nslots_max, s) == 0)
            c->listed = 1;
    } else if (cq->res == -ECANCELED) {
        /* Cancelled by a pause that was lifted before this final completion
         * came: receiving must go on. */
        if (!c->recv_armed && c->state == CS_OPEN && !c->recv_paused && !c->peer_eof)
            urk__arm_recv(r, s, c);
    } else {
        if (c->state == CS_OPEN)
            urk__begin_close(r, s, c, cq->res, 1);
    }
    urk__finish_if_done(r, s, c);
}

void urk__release_handle(urk_reactor_t *r, uint32_t handle)
{
    uint16_t bid = (uint16_t)(handle - 1);
    if (urk_bufring_recycle(r->bufs, &bid, 1) == 1)
        URK_STAT_ADD(r->st.bufs_held, (uint64_t)-1);
}

void urk__release_recv_bufs(urk_reactor_t *r, const urk_cqe_t *cq)
{
    uint32_t n = urk__bufring_bundle_count(r->bufs, cq->buf_len);
    uint16_t bid = cq->buf_id;
    URK_STAT_ADD(r->st.bufs_held, n); /* each release takes one off */
    for (uint32_t i = 0; i < n; i++) {
        uint16_t next = i + 1 < n ? urk__bufring_bundle_next(r->bufs, bid) : 0;
        urk__release_handle(r, (uint32_t)bid + 1);
        bid = next;
    }
}

void urk__auto_release(urk_reactor_t *r)
{
    for (uint32_t i = 0; i < r->nauto_release; i++)
        urk__release_handle(r, r->auto_release[i]);
    r->nauto_release = 0;
}

void urk__remember_auto_release(urk_reactor_t *r)
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

int urk_reactor_release(urk_reactor_t *r, const uint32_t *bufs, uint32_t n)
{
    if (!r || (!bufs && n))
        return -EINVAL;
    int rc = urk__claim(r);
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
    urk__rearm_starved(r);
    urk__signal_if_pending(r);
    return (int)n;
}

int urk_conn_pause_recv(urk_reactor_t *r, urk_conn_t conn, uint32_t pause)
{
    if (!r || pause > 1)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = urk__conn_call(r, conn, &s, &c);
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
        urk__arm_recv(r, s, c);
    }
    urk__signal_if_pending(r);
    return 0;
}

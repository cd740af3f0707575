/* close.c - the close state machine: OPEN or CONNECTING -> CLOSING ->
 * (queue drained or aborted) teardown: cancel every op, wait for every final
 * completion, close the fd, free the slot, then report CLOSED. Also the idle
 * timeout. */
#include "engine.h"

#include <unistd.h>

void urk__finish_if_done(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
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
            urk__finish_if_done(r, s, c);
        }
        return;
    }
    urk_conn_t id = urk__conn_id(r, s, c);
    int connect_failed = c->connect_failed;
    int32_t reason = c->close_reason;
    uint64_t user = c->tag;
    urk__fail_queued(r, s, c, -ECANCELED);
    URK_STAT_ADD(r->st.closed, 1);
    /* The last event (into the room reserved for it), then the slot goes:
     * the id is stale by the time the caller sees the event. */
    urk__emit(r, id, connect_failed ? URK_EV_CONNECT_FAILED : URK_EV_CLOSED, reason, NULL, 0, 0,
              user);
    urk__slot_free(r, s);
}

void urk__start_teardown(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c)
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
    urk__finish_if_done(r, s, c);
}

void urk__begin_close(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t reason,
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
        urk__fail_queued(r, s, c, -ECANCELED);
        urk__start_teardown(r, s, c);
    } else if (!c->head && !c->send_inflight) {
        urk__start_teardown(r, s, c);
    }
    /* else: the send path tears down once the queue drains */
}

void urk__idle_scan(urk_reactor_t *r)
{
    uint64_t limit = r->engine->opts.idle_timeout_ms;
    for (uint32_t s = 0; s < r->nslots_used; s++) {
        urk_conn_slot_t *c = &r->slots[s];
        if ((c->state == CS_OPEN || c->state == CS_CONNECTING) &&
            r->now_ms - c->last_active_ms >= limit)
            urk__begin_close(r, s, c, -ETIMEDOUT, 1);
    }
}

int urk_close(urk_reactor_t *r, urk_conn_t conn, uint32_t abort)
{
    if (!r || abort > 1)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = urk__conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    urk__begin_close(r, s, c, 1, abort || c->state == CS_CONNECTING);
    urk__signal_if_pending(r);
    return 0;
}

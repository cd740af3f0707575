/* conn.c - the connection table: slots named by generation-tagged ids, so
 * nothing from a closed connection reaches the one that reuses its slot or
 * fd; opening accepted and outgoing connections; per-connection values. */
#include "engine.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

urk_conn_slot_t *urk__slot_alloc(urk_reactor_t *r, uint32_t *slot_out, int *err)
{
    uint32_t s;
    int fresh = 0;
    if (r->free_head != UINT32_MAX) {
        s = r->free_head;
    } else if (r->nslots_used < r->nslots_max) {
        s = r->nslots_used;
        fresh = 1;
    } else {
        *err = -ENOSPC;
        return NULL;
    }
    urk_conn_slot_t *c = &r->slots[s];
    uint32_t gen = fresh ? 1 : c->gen, next_free = c->next_free;
    memset(c, 0, sizeof *c);
    c->gen = gen;
    /* Its OPEN and its CLOSED (or CONNECT_FAILED) always find room. */
    if (urk__reserve_events(r, c, 2) != 0) {
        c->next_free = next_free;
        *err = -ENOMEM;
        return NULL;
    }
    if (fresh)
        r->nslots_used++;
    else
        r->free_head = next_free;
    c->fd = -1;
    c->last_active_ms = r->now_ms;
    *slot_out = s;
    URK_STAT_ADD(r->st.live_conns, 1);
    return c;
}

void urk__slot_free(urk_reactor_t *r, uint32_t s)
{
    urk_conn_slot_t *c = &r->slots[s];
    c->state = CS_FREE;
    urk__unreserve_events(r, c);
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

/* The start of every per-connection call: the caller's thread owns the
 * reactor and the id names a live connection. */
int urk__conn_call(urk_reactor_t *r, urk_conn_t conn, uint32_t *s, urk_conn_slot_t **c)
{
    int rc = urk__claim(r);
    if (rc)
        return rc;
    return lookup(r, conn, s, c);
}

int urk__list_push(uint32_t **list, uint32_t *n, uint32_t max, uint32_t s)
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

void urk__open_accepted(urk_reactor_t *r, int fd, const void *addr, uint32_t addr_len)
{
    uint32_t s;
    int err;
    urk_conn_slot_t *c = urk__slot_alloc(r, &s, &err);
    if (!c) {
        close(fd);
        URK_STAT_ADD_SHARED(r->engine->st.rejected, 1);
        return;
    }
    c->fd = fd;
    c->state = CS_OPEN;
    if (addr_len > sizeof ((urk_handoff_t *)0)->addr) {
        /* Longer than a hand-off carries (a Unix peer bound to a path):
         * ask the socket. */
        socklen_t len = sizeof c->peer;
        addr_len = getpeername(fd, (struct sockaddr *)c->peer, &len) == 0 ? len : 0;
        if (addr_len > sizeof c->peer)
            addr_len = sizeof c->peer;
    } else {
        memcpy(c->peer, addr, addr_len);
    }
    c->peer_len = (uint8_t)addr_len;
    URK_STAT_ADD(r->st.accepted, 1);
    urk__arm_recv(r, s, c);
    urk__emit(r, urk__conn_id(r, s, c), URK_EV_OPEN, 0, c->peer, c->peer_len, 0, 0);
}

void urk__on_connect(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res)
{
    c->ops--;
    if (c->state == CS_CONNECTING) {
        if (res == 0) {
            c->state = CS_OPEN;
            c->last_active_ms = r->now_ms;
            URK_STAT_ADD(r->st.connected, 1);
            urk__arm_recv(r, s, c);
            urk__emit(r, urk__conn_id(r, s, c), URK_EV_OPEN, 0, c->peer, c->peer_len, 0, c->tag);
            urk__submit_send(r, s, c);
            urk__send_fin(r, s, c); /* urk_shutdown_write while connecting */
        } else {
            c->connect_failed = 1; /* reported when the slot is free */
            urk__begin_close(r, s, c, res, 1);
        }
    }
    urk__finish_if_done(r, s, c);
}

int urk_reactor_connect(urk_reactor_t *r, const urk_addr_t *addr, uint64_t tag, urk_conn_t *out)
{
    if (!r || !addr || !out)
        return -EINVAL;
    *out = 0;
    const struct sockaddr *sa = (const struct sockaddr *)addr->bytes;
    int ip = (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
             addr->len >= sizeof(struct sockaddr_in) && addr->len <= sizeof(struct sockaddr_in6);
    /* AF_UNIX: a path or abstract name (more than the family) */
    int local = sa->sa_family == AF_UNIX && addr->len > sizeof(sa_family_t) &&
                addr->len <= sizeof(struct sockaddr_un);
    if (!ip && !local)
        return -EINVAL;
    int rc = urk__claim(r);
    if (rc)
        return rc;
    if (atomic_load(&r->stopping))
        return -URK_ESTATE;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    urk__set_nodelay(fd, sa->sa_family);
    uint32_t s;
    int err;
    urk_conn_slot_t *c = urk__slot_alloc(r, &s, &err);
    if (!c) {
        close(fd);
        return err;
    }
    c->fd = fd;
    c->state = CS_CONNECTING;
    c->tag = tag;
    memcpy(c->peer, addr->bytes, addr->len);
    c->peer_len = (uint8_t)addr->len;
    rc = urk_prep_connect(r->ring, fd, addr, URK_UD(UD_CONNECT, s, c->gen), 0);
    if (rc) {
        close(fd);
        urk__slot_free(r, s);
        return rc;
    }
    c->ops++;
    *out = urk__conn_id(r, s, c);
    urk__signal_if_pending(r);
    return 0;
}

int urk_conn_peer(urk_reactor_t *r, urk_conn_t conn, urk_addr_t *out)
{
    if (!r || !out)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = urk__conn_call(r, conn, &s, &c);
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
    int rc = urk__conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    c->tag = user;
    urk__patch_user(r, conn, user);
    return 0;
}

int urk_conn_user(urk_reactor_t *r, urk_conn_t conn, uint64_t *user)
{
    if (!r || !user)
        return -EINVAL;
    uint32_t s;
    urk_conn_slot_t *c;
    int rc = urk__conn_call(r, conn, &s, &c);
    if (rc)
        return rc;
    *user = c->tag;
    return 0;
}

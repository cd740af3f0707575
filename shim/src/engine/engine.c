/* engine.c - the engine: options, creation (reactors, listener(s)), start,
 * stop and the accessors. The acceptor thread is in acceptor.c, the hand-off
 * of accepted connections in handoff.c. */
#include "engine.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

int urk_engine_opts_init(urk_engine_opts_t *o)
{
    if (!o)
        return -EINVAL;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->backlog = 4096;
    o->reactors = 1;
    o->sq_entries = 1024;
    o->buf_count = 1024;
    o->buf_size = 4096;
    o->max_conns = 65536;
    o->send_limit = 4u << 20;
    o->acceptor_cpu = -1;
    return 0;
}

/* urk_callbacks_init: shim/src/common/compat01.c (two symbol versions). */

#define ENGINE_KNOWN_FLAGS                                                        \
    (URK_ENGINE_SQPOLL | URK_ENGINE_REUSEPORT | URK_ENGINE_NO_LISTEN |            \
     URK_ENGINE_LEAST_CONN | URK_ENGINE_NO_MSG_RING | URK_ENGINE_RELEASE_ON_POLL | \
     URK_ENGINE_NO_DEFER_TASKRUN | URK_ENGINE_HALF_CLOSE | URK_ENGINE_NO_REGISTERED_RING |   \
     URK_ENGINE_NO_SEND_POOL | URK_ENGINE_NO_RECV_BUNDLE)

static int pow2(uint32_t v) { return v && !(v & (v - 1)); }

static int validate(urk_engine_opts_t *o, long ncpu)
{
    if (o->flags & ~ENGINE_KNOWN_FLAGS)
        return -EINVAL;
    if (o->reserved0 || o->reserved1)
        return -EINVAL;
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
        if (o->reserved[i])
            return -EINVAL;
    if (o->reactors < 1 || o->reactors > 64)
        return -EINVAL;
    if (o->backlog < 1)
        return -EINVAL;
    if (!pow2(o->sq_entries) || o->sq_entries > 32768)
        return -EINVAL;
    if (o->cq_entries && (!pow2(o->cq_entries) || o->cq_entries < o->sq_entries))
        return -EINVAL;
    if (!pow2(o->buf_count) || o->buf_count > 32768)
        return -EINVAL;
    if (o->buf_size < 64 || o->buf_size > (1u << 24))
        return -EINVAL;
    if (o->buf_low_water == 0) {
        o->buf_low_water = o->buf_count / 8;
        if (o->buf_low_water == 0)
            o->buf_low_water = 1;
    }
    if (o->buf_low_water > o->buf_count)
        return -EINVAL;
    if (o->max_conns < 1 || o->max_conns > URK_MAX_SLOTS)
        return -EINVAL;
    if (o->send_limit == 0)
        return -EINVAL;
    if ((o->flags & URK_ENGINE_REUSEPORT) && (o->flags & URK_ENGINE_NO_LISTEN))
        return -EINVAL;
    if (o->acceptor_cpu < -1 || o->acceptor_cpu >= ncpu)
        return -EINVAL;
    if (o->reactor_cpus)
        for (uint32_t i = 0; i < o->reactors; i++)
            if (o->reactor_cpus[i] < -1 || o->reactor_cpus[i] >= ncpu)
                return -EINVAL;
    return 0;
}

int urk_engine_create(const urk_engine_opts_t *opts_in, urk_engine_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    if (opts_in) {
        int rc = urk__copy_opts(&o, sizeof o, opts_in);
        if (rc)
            return rc;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    int rc = validate(&o, ncpu > 0 ? ncpu : 1);
    if (rc)
        return rc;
    urk_addr_t addr;
    rc = urk_addr_parse(o.host ? o.host : "127.0.0.1", o.port, &addr);
    if (rc)
        return rc;
    int is_unix = ((struct sockaddr *)addr.bytes)->sa_family == AF_UNIX;
    /* One path, one listener: a socket file cannot be bound twice. */
    if (is_unix && (o.flags & URK_ENGINE_REUSEPORT))
        return -EINVAL;

    urk_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->listen_fd = -1;
    e->acceptor_wake_fd = -1;
    pthread_mutex_init(&e->stop_lock, NULL);
    if (o.reactor_cpus) {
        e->reactor_cpus = malloc(o.reactors * sizeof *e->reactor_cpus);
        if (!e->reactor_cpus) {
            free(e);
            return -ENOMEM;
        }
        memcpy(e->reactor_cpus, o.reactor_cpus, o.reactors * sizeof *e->reactor_cpus);
    }
    o.host = NULL; /* the caller's string is not kept */
    o.reactor_cpus = e->reactor_cpus;
    e->opts = o;
    urk_probe(&e->caps);

    e->reactors = calloc(o.reactors, sizeof *e->reactors);
    e->woken = calloc(o.reactors, 1);
    if (!e->reactors || !e->woken) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < o.reactors; i++) {
        rc = urk__reactor_create(e, i, &e->reactors[i]);
        if (rc)
            goto fail;
        e->nreactors++;
    }

    if (o.flags & URK_ENGINE_REUSEPORT) {
        for (uint32_t i = 0; i < o.reactors; i++) {
            int fd = urk__listen_socket(&addr, o.backlog, 1);
            if (fd < 0) {
                rc = fd;
                goto fail;
            }
            e->reactors[i]->listen_fd = fd;
            if (i == 0) {
                /* port 0: the others must bind the port the first one got */
                e->port = (uint16_t)urk__bound_port(fd);
                struct sockaddr_in *s4 = (struct sockaddr_in *)addr.bytes;
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)addr.bytes;
                if (s4->sin_family == AF_INET)
                    s4->sin_port = htons(e->port);
                else
                    s6->sin6_port = htons(e->port);
            }
        }
    } else if (!(o.flags & URK_ENGINE_NO_LISTEN)) {
        e->listen_fd = urk__listen_socket(&addr, o.backlog, 0);
        if (e->listen_fd < 0) {
            rc = e->listen_fd;
            e->listen_fd = -1;
            goto fail;
        }
        e->port = (uint16_t)urk__bound_port(e->listen_fd);
        const struct sockaddr_un *su = (const struct sockaddr_un *)addr.bytes;
        struct stat st;
        if (is_unix && su->sun_path[0] && lstat(su->sun_path, &st) == 0) {
            memcpy(e->unix_path, su->sun_path, sizeof e->unix_path);
            e->unix_dev = (uint64_t)st.st_dev;
            e->unix_ino = (uint64_t)st.st_ino;
        }
        urk_ring_opts_t ro;
        urk_ring_opts_init(&ro);
        ro.sq_entries = 256;
        ro.flags = URK_RING_DISABLED;
        rc = urk_ring_create(&ro, &e->acceptor_ring);
        if (rc)
            goto fail;
        e->acceptor_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (e->acceptor_wake_fd < 0) {
            rc = -errno;
            goto fail;
        }
    }
    *out = e;
    return 0;
fail:
    urk_engine_destroy(e);
    return rc;
}

/* ---- start / stop ---- */

int urk_engine_start(urk_engine_t *e, const urk_callbacks_t *cbs_in)
{
    if (!e)
        return -EINVAL;
    /* Stopped counts too when the engine never started: a stopped engine
     * has closed its listeners and finished its reactors. */
    pthread_mutex_lock(&e->stop_lock);
    int expected = 0;
    int ok = !e->stopped && atomic_compare_exchange_strong(&e->started, &expected, 1);
    pthread_mutex_unlock(&e->stop_lock);
    if (!ok)
        return -URK_ESTATE;
    if (cbs_in) {
        urk_callbacks_t cbs;
        urk_callbacks_init(&cbs);
        int rc = urk__copy_opts(&cbs, sizeof cbs, cbs_in);
        if (rc) {
            atomic_store(&e->started, 0);
            return rc;
        }
        /* A reactor some thread already polls: refuse before anything
         * runs, leaving that thread's reactor alone and the engine
         * startable in pull mode. */
        for (uint32_t i = 0; i < e->nreactors; i++) {
            if (atomic_load(&e->reactors[i]->owner)) {
                atomic_store(&e->started, 0);
                return -URK_ESTATE;
            }
        }
        for (uint32_t i = 0; i < e->nreactors; i++) {
            rc = urk__reactor_start_native(e->reactors[i], &cbs);
            if (rc) {
                /* Lost a race with a pull-mode claim (or no thread): the
                 * native threads already running stop and finish their
                 * reactors; a reactor another thread polls is not touched
                 * (urk_engine_destroy closes it). The engine is stopped. */
                for (uint32_t j = 0; j < i; j++) {
                    urk_reactor_t *r = e->reactors[j];
                    atomic_store(&r->stopping, 1);
                    urk__reactor_kick(r);
                    pthread_join(r->thread, NULL);
                    r->thread_started = 0;
                }
                pthread_mutex_lock(&e->stop_lock);
                e->stopped = 1;
                pthread_mutex_unlock(&e->stop_lock);
                return rc;
            }
        }
    }
    if (e->acceptor_ring) {
        int rc = pthread_create(&e->acceptor, NULL, urk__acceptor_main, e);
        if (rc) {
            urk_engine_stop(e, 0);
            return -rc;
        }
        e->acceptor_started = 1;
    }
    return 0;
}

int urk_engine_stop(urk_engine_t *e, uint32_t drain_ms)
{
    if (!e)
        return -EINVAL;
    for (uint32_t i = 0; i < e->nreactors; i++) {
        urk_reactor_t *r = e->reactors[i];
        if (r->native && r->thread_started && pthread_equal(r->thread, pthread_self()))
            return -URK_ETHREAD; /* from a callback: it would join itself */
    }
    pthread_mutex_lock(&e->stop_lock);
    if (e->stopped) {
        pthread_mutex_unlock(&e->stop_lock);
        return 0;
    }
    atomic_store(&e->stop_requested, 1);
    e->drain_ms = drain_ms;
    if (e->acceptor_started) {
        uint64_t one = 1;
        ssize_t n = write(e->acceptor_wake_fd, &one, sizeof one);
        URK_UNUSED(n);
        pthread_join(e->acceptor, NULL);
        e->acceptor_started = 0;
    }
    if (e->listen_fd >= 0) {
        close(e->listen_fd); /* a Unix path socket's file goes at destroy */
        e->listen_fd = -1;
    }
    for (uint32_t i = 0; i < e->nreactors; i++) {
        urk_reactor_t *r = e->reactors[i];
        if (r->thread_started) {
            atomic_store(&r->stopping, 1);
            urk__reactor_kick(r);
            pthread_join(r->thread, NULL);
            r->thread_started = 0;
        } else {
            urk__reactor_shutdown(r, drain_ms);
        }
    }
    e->stopped = 1;
    pthread_mutex_unlock(&e->stop_lock);
    return 0;
}

void urk_engine_destroy(urk_engine_t *e)
{
    if (!e)
        return;
    if (atomic_load(&e->started))
        urk_engine_stop(e, 0);
    for (uint32_t i = 0; i < e->nreactors; i++)
        urk__reactor_destroy(e->reactors[i]);
    free(e->reactors);
    free(e->woken);
    urk_ring_destroy(e->acceptor_ring);
    if (e->acceptor_wake_fd >= 0)
        close(e->acceptor_wake_fd);
    urk__listen_close(e);
    free(e->reactor_cpus);
    pthread_mutex_destroy(&e->stop_lock);
    free(e);
}

int urk_engine_port(const urk_engine_t *e)
{
    if (!e)
        return -EINVAL;
    return e->port;
}

int urk_engine_reactor_count(const urk_engine_t *e)
{
    if (!e)
        return -EINVAL;
    return (int)e->nreactors;
}

int urk_engine_reactor(urk_engine_t *e, uint32_t index, urk_reactor_t **out)
{
    if (!e || !out)
        return -EINVAL;
    if (index >= e->nreactors)
        return -ERANGE;
    *out = e->reactors[index];
    return 0;
}

int urk_engine_stats(const urk_engine_t *e, urk_engine_stats_t *out)
{
    if (!e || !out)
        return -EINVAL;
    urk_engine_t *m = (urk_engine_t *)e;
    out->accepted = URK_STAT_GET(m->st.accepted);
    out->accept_rearms = URK_STAT_GET(m->st.accept_rearms);
    out->accept_errors = URK_STAT_GET(m->st.accept_errors);
    out->rejected = URK_STAT_GET(m->st.rejected);
    return 0;
}

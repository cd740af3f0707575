/* internal.h - the one internal header of the shim: structures shared by the
 * subsystems (ring, bufring, probe, engine, loadgen). Nothing here is ABI. */
#ifndef URK_INTERNAL_H
#define URK_INTERNAL_H

#define URK_BUILDING_LIBRARY 1
#include "../include/urocket.h"
#include "compat.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#define URK_UNUSED(x) ((void)(x))
#define URK_LIKELY(x) __builtin_expect(!!(x), 1)
#define URK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- options structs that can grow (see abi.md, "Extensible structs") ---- */

/* Copies a caller's options struct of (*(uint32_t *)src) bytes into dst of
 * dst_size bytes that already holds defaults for fields the caller lacks.
 * Smaller structs are older callers; larger ones must have a zero tail. */
int urk__copy_opts(void *dst, size_t dst_size, const void *src);

/* ---- ring ---- */

typedef struct urk_bufring urk_bufring_t;

/* Per-SQE-slot storage for arguments the kernel reads at submission
 * (timespec, sockaddr): valid until the slot is reused, which is after the
 * kernel consumed the SQE. */
typedef union urk_sqe_arg {
    struct __kernel_timespec ts;
    struct sockaddr_storage addr;
} urk_sqe_arg_t;

/* user_data -> buffer group of in-flight buffer-select ops, needed only when
 * a ring has several buffer groups (a CQE carries the bid, not the group). */
typedef struct urk_group_map {
    uint64_t *keys;
    uint16_t *groups;
    uint32_t cap; /* power of two; 0 = empty */
    uint32_t used;
} urk_group_map_t;

struct urk_ring {
    struct io_uring io;
    uint32_t active; /* URK_RING_ACTIVE_* */
    uint32_t setup_flags;
    uint32_t sq_entries, cq_entries;
    urk_sqe_arg_t *sqe_args;   /* sq_entries slots */
    urk_bufring_t **bufrings;  /* registered groups */
    uint32_t nbufrings, bufrings_cap;
    urk_group_map_t group_map; /* used once two groups have co-existed */
    uint16_t solo_group;       /* the only group, until then */
    uint8_t multi_groups;
    const void *reg_fd_owner;  /* thread that registered the ring fd */
    urk_ring_stats_t stats;
};

struct urk_bufring {
    urk_ring_t *ring;
    struct io_uring_buf_ring *br; /* shared with the kernel */
    size_t br_bytes;
    uint8_t *base;                /* count x size bytes of buffers */
    size_t base_bytes;
    uint32_t count, size, mask, flags;
    uint16_t group;
    uint32_t available;   /* buffers the kernel owns */
    uint32_t held;        /* pieces delivered and not recycled */
    uint16_t *refs;       /* per bid: pieces the caller holds */
    uint8_t *in_kernel;   /* per bid: kernel still owns it */
    uint32_t *inc_off;    /* per bid consumed offset (URK_BUFRING_INC) */
};

/* Grabs a free SQE, submitting once if the SQ is full. NULL: still full. */
struct io_uring_sqe *urk__get_sqe(urk_ring_t *ring);
/* Applies URK_OP_* flags; returns -EINVAL for unknown bits outside `allowed`. */
int urk__op_flags(struct io_uring_sqe *sqe, uint32_t flags);
/* Resolves a raw CQE into *out, updating buffer bookkeeping. */
void urk__cqe_convert(urk_ring_t *ring, const struct io_uring_cqe *cqe, urk_cqe_t *out);
urk_bufring_t *urk__bufring_find(urk_ring_t *ring, uint16_t group);
/* Creation without public-option validation, for the engine's own rings. */
int urk__ring_enter_getevents(urk_ring_t *ring);

int urk__group_map_put(urk_group_map_t *m, uint64_t key, uint16_t group);
int urk__group_map_get(const urk_group_map_t *m, uint64_t key, uint16_t *group);
void urk__group_map_del(urk_group_map_t *m, uint64_t key);
void urk__group_map_free(urk_group_map_t *m);

/* Identity of the calling thread without a syscall. */
const void *urk__thread_self(void);

/* ---- time ---- */
uint64_t urk__now_ns(void);        /* CLOCK_MONOTONIC */
uint64_t urk__thread_cpu_ns(void); /* CLOCK_THREAD_CPUTIME_ID */

/* ---- engine (engine.c: engine + acceptor, reactor.c: reactors) ---- */

#include <pthread.h>

/* user_data on a reactor ring: kind (8) | slot (24) | generation (32). */
enum urk_ud_kind {
    UD_RECV = 1,
    UD_SEND,
    UD_CLOSE,
    UD_SHUTDOWN,
    UD_CONNECT,
    UD_CANCEL,
    UD_WAKE,     /* read on the reactor's wake eventfd */
    UD_HANDOFF,  /* msg_ring from the acceptor: connections queued */
    UD_TIMER,    /* idle-timeout tick */
    UD_ACCEPT,   /* multishot accept (acceptor, or a REUSEPORT reactor) */
    UD_MSG_SENT, /* acceptor side of a msg_ring */
    UD_ACCEPT_BACKOFF,
};
#define URK_UD(kind, slot, gen) \
    (((uint64_t)(kind) << 56) | ((uint64_t)(slot) << 32) | (uint64_t)(gen))
#define URK_UD_KIND(ud) ((uint32_t)((ud) >> 56))
#define URK_UD_SLOT(ud) ((uint32_t)(((ud) >> 32) & 0xFFFFFFu))
#define URK_UD_GEN(ud) ((uint32_t)(ud))

/* A connection id: reactor (8) | slot (24) | generation (32). */
#define URK_CONN_ID(reactor, slot, gen) \
    (((uint64_t)(reactor) << 56) | ((uint64_t)(slot) << 32) | (uint64_t)(gen))
#define URK_MAX_SLOTS (1u << 24)

/* Relaxed single-writer counters that other threads may read. */
#define URK_STAT_ADD(field, n) \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
                          memory_order_relaxed)
#define URK_STAT_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

typedef struct urk_handoff {
    int32_t fd;
    uint32_t addr_len;
    uint8_t addr[28]; /* sockaddr_in or sockaddr_in6 */
} urk_handoff_t;

/* Single-producer (acceptor) single-consumer (reactor) queue. */
typedef struct urk_spsc {
    _Atomic uint32_t head; /* consumer */
    char pad0[60];
    _Atomic uint32_t tail; /* producer */
    char pad1[60];
    uint32_t mask;
    urk_handoff_t *items;
} urk_spsc_t;

int urk__spsc_init(urk_spsc_t *q, uint32_t cap_pow2);
void urk__spsc_free(urk_spsc_t *q);
int urk__spsc_push(urk_spsc_t *q, const urk_handoff_t *item);
int urk__spsc_pop(urk_spsc_t *q, urk_handoff_t *item);

typedef struct urk_chunk urk_chunk_t;

typedef struct urk_conn_slot urk_conn_slot_t;

typedef struct urk_reactor_counters {
    _Atomic uint64_t accepted, connected, closed, bytes_in, bytes_out, events,
        enobufs_rearms, live_conns, bufs_held, send_queued, wakeups, handoff_fallbacks,
        stale_cqes, sq_full_waits, cq_overflows;
} urk_reactor_counters_t;

struct urk_engine;

struct urk_reactor {
    struct urk_engine *engine;
    uint32_t index;
    urk_ring_t *ring;
    urk_bufring_t *bufs;
    uint32_t buf_low_water;
    int event_fd;  /* urk_reactor_fd: readable when events may be pending */
    int wake_fd;   /* a read on it is always pending in the ring */
    _Atomic int fd_exposed;
    _Atomic(const void *) owner; /* thread that polls; NULL until the first poll */
    _Atomic int enabled;
    _Atomic int wake_pending;  /* a wake is on its way: coalesces kicks */
    _Atomic int user_wake;     /* urk_reactor_wake asked the poll to return */
    _Atomic int stopping;
    int native;
    urk_spsc_t handoff;
    int listen_fd; /* REUSEPORT mode: this reactor's own listener, else -1 */
    int accept_armed, accept_backoff_ms;

    urk_conn_slot_t *slots;
    uint32_t nslots_max, nslots_used; /* high-water mark of touched slots */
    uint32_t free_head;               /* free list through slot->next_free; UINT32_MAX: none */
    uint32_t *deferred;               /* slots whose peer closed: act at next poll */
    uint32_t ndeferred;
    uint32_t *starved;                /* slots whose recv stopped on ENOBUFS */
    uint32_t nstarved;
    uint32_t *auto_release;           /* RELEASE_ON_POLL: handles from the last poll */
    uint32_t nauto_release, auto_release_cap;
    uint32_t timer_armed;
    uint32_t wake_armed;
    uint32_t ops_inflight;            /* reactor-level ops (wake, timer, accept) */
    uint64_t now_ms;                  /* refreshed each poll */
    uint64_t wake_buf;                /* target of the wake eventfd read */
    uint32_t *kick;                   /* slots whose send could not be queued */
    uint32_t nkick;
    int woken;                        /* a wake arrived during this poll */

    /* events of the poll in progress; overflow waits in `pending` */
    urk_event_t *out;
    uint32_t out_n, out_max;
    int discard;                      /* stopping in pull mode: drop events */
    urk_event_t *pending;
    uint32_t pend_head, pend_n, pend_cap;
    uint64_t emitted;                 /* events queued for the caller, ever */
    uint64_t delivered;               /* of those, returned by finished polls */

    urk_reactor_counters_t st;
    pthread_t thread;
    int thread_started;
    urk_callbacks_t cbs;
};

struct urk_engine {
    urk_engine_opts_t opts;
    int32_t *reactor_cpus;
    uint64_t caps;
    int listen_fd;  /* acceptor mode */
    uint16_t port;
    uint32_t nreactors;
    urk_reactor_t **reactors;
    urk_ring_t *acceptor_ring;
    int acceptor_wake_fd;
    pthread_t acceptor;
    int acceptor_started;
    _Atomic int stop_requested;
    _Atomic int started;
    int stopped;
    pthread_mutex_t stop_lock;
    uint32_t rr_next;
    uint32_t drain_ms;
    struct {
        _Atomic uint64_t accepted, accept_rearms, accept_errors, rejected;
    } st;
};

int urk__reactor_create(struct urk_engine *e, uint32_t index, urk_reactor_t **out);
void urk__reactor_destroy(urk_reactor_t *r);
int urk__reactor_start_native(urk_reactor_t *r, const urk_callbacks_t *cbs);
/* Closes every connection and waits for every final completion. Runs on the
 * reactor's owner thread (or any thread if the ring never ran). */
void urk__reactor_shutdown(urk_reactor_t *r, uint32_t drain_ms);
/* Wakes a reactor from another thread (acceptor hand-off, urk_reactor_wake). */
void urk__reactor_kick(urk_reactor_t *r);
int urk__listen_socket(const urk_addr_t *addr, int backlog, int reuseport);


#endif

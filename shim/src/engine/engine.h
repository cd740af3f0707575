/* engine.h - the engine layer's internal header: the engine, its acceptor,
 * its reactors and their connection tables, and the calls between the
 * engine's files. The engine reaches the kernel only through the ring
 * layer (uring/uring.h). Nothing here is ABI.
 *
 * Files: engine.c (options, create, start, stop), acceptor.c (listeners,
 * the acceptor thread, accept helpers), handoff.c (acceptor -> reactor
 * queue and wake handshake), reactor.c (ownership, native mode, shutdown,
 * create/destroy), poll.c (the poll loop and event queue), conn.c
 * (connection table, ids, connect), recv.c (receiving and buffers),
 * sendq.c (send queue), chunkpool.c (send chunk pool), close.c (close state
 * machine), post.c (work posted from other threads). */
#ifndef URK_ENGINE_H
#define URK_ENGINE_H

#include "../uring/uring.h"

#include <pthread.h>
#include <sys/uio.h>
#include <sys/un.h>

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

#define URK_SEND_IOV_MAX 8
#define URK_HANDOFF_QUEUE 4096

/* ---- hand-off queue (handoff.c) ---- */

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

/* ---- connections ---- */

typedef struct urk_chunk urk_chunk_t;
struct urk_chunk {
    urk_chunk_t *next;
    const uint8_t *data;
    uint32_t len;
    uint32_t off; /* bytes already sent */
    uint32_t flags;
    uint32_t pooled; /* 1 + size class of a pool block, 0: malloc'd */
    uint64_t tag;
    /* copied data follows unless URK_SEND_NOCOPY */
};

/* Send chunks come from a per-reactor pool (chunkpool.c): size classes of
 * 128, 512 and 2048 bytes (header included), URK_CHUNK_CLASS_BYTES of each
 * in one mmap'd arena outside the malloc heap, so a pooled block never pins
 * the heap and a small send costs at most 2.x its size. Larger sends, and
 * any send once its class is used up, are malloc'd. */
#define URK_CHUNK_CLASSES 3
#define URK_CHUNK_CLASS_BYTES (256u << 10)

enum urk_conn_state { CS_FREE = 0, CS_CONNECTING, CS_OPEN, CS_CLOSING };

typedef struct urk_conn_slot {
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
    uint32_t ev_reserved; /* room held in r->pending for its must-deliver events */
    uint32_t open_batch;  /* r->batch_no of the batch holding its OPEN */
    urk_chunk_t *head, *tail;
    uint8_t peer[sizeof(struct sockaddr_un)]; /* sockaddr_in, _in6 or _un */
    struct iovec iov[URK_SEND_IOV_MAX];
} urk_conn_slot_t;

/* ---- reactors and the engine ---- */

typedef struct urk_reactor_counters {
    _Atomic uint64_t accepted, connected, closed, bytes_in, bytes_out, events,
        enobufs_rearms, live_conns, bufs_held, send_queued, wakeups, handoff_fallbacks,
        stale_cqes, sq_full_waits, cq_overflows,
        recv_bundles,     /* recv completions that covered several buffers */
        recv_bundle_bufs; /* buffers those covered (each one DATA event) */
} urk_reactor_counters_t;

struct urk_engine;
typedef struct urk_post urk_post_t;

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
    _Atomic int native;         /* set before the native thread exists */
    int start_rc;               /* the native thread's claim, for start */
    void *started_sem;          /* sem_t of the start in progress */
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
    int in_poll;                      /* inside poll_core */
    int fd_signaled;                  /* we made event_fd readable since the last drain */

    /* events of the poll in progress; overflow waits in `pending` */
    urk_event_t *out;
    uint32_t out_n, out_max;
    int discard;                      /* stopping in pull mode: drop events */
    urk_event_t *pending;
    uint32_t pend_head, pend_n, pend_cap;
    uint32_t ev_reserved;             /* sum of the slots' ev_reserved */
    uint32_t batch_no;                /* polls so far (never 0 once polled) */
    urk_event_t *dispatch_ev;         /* native batch being dispatched */
    uint32_t dispatch_n, dispatch_i;
    uint64_t emitted;                 /* events queued for the caller, ever */
    uint64_t delivered;               /* of those, returned by finished polls */

    /* urk_reactor_post: any thread appends, the owner takes */
    pthread_mutex_t post_lock;
    urk_post_t *post_head, *post_tail;
    _Atomic uint32_t posts_queued;
    int posts_closed;                 /* stopped: posts are refused */
    urk_chunk_t *graveyard;           /* chunks freed after the ring */
    uint8_t *chunk_arena;             /* chunkpool.c; NULL until the first send */
    urk_chunk_t *chunk_free[URK_CHUNK_CLASSES];
    uint32_t chunk_fresh[URK_CHUNK_CLASSES]; /* blocks never handed out start here */
    uint32_t chunk_out;               /* pool blocks not given back */

    urk_reactor_counters_t st;
    pthread_t thread;
    int thread_started;
    urk_callbacks_t cbs;
};

struct urk_engine {
    urk_engine_opts_t opts;
    int32_t *reactor_cpus;
    /* urk_probe's answer. Features are chosen from it as they are used (a
     * recv is armed as a bundle only while URK_CAP_RECV_BUNDLE is here), so
     * a C test may clear a bit between urk_engine_create and urk_engine_start
     * to run the engine as on a kernel without that feature. */
    uint64_t caps;
    int listen_fd;  /* acceptor mode */
    /* A Unix-domain listener's path socket: removed at destroy if the file
     * is still the one it bound. */
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    uint64_t unix_dev, unix_ino;
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
    /* written by the acceptor and by every reactor: URK_STAT_ADD_SHARED */
    struct {
        _Atomic uint64_t accepted, accept_rearms, accept_errors, rejected;
    } st;
    uint8_t *woken; /* acceptor: reactors to wake after a batch */
};

static inline uint64_t urk__now_ms(void) { return urk__now_ns() / 1000000u; }

static inline urk_conn_t urk__conn_id(const urk_reactor_t *r, uint32_t slot,
                                      const urk_conn_slot_t *c)
{
    return URK_CONN_ID(r->index, slot, c->gen);
}

/* ---- acceptor.c: listeners and accept helpers (acceptor and REUSEPORT
 * reactors share them) ---- */
int urk__listen_socket(const urk_addr_t *addr, int backlog, int reuseport);
/* The bound TCP port; 0 for a Unix-domain socket. */
int urk__bound_port(int fd);
/* Closes the engine's listener (if open) and unlinks the Unix path socket
 * it bound, if the file is still that socket. */
void urk__listen_close(urk_engine_t *e);
/* After a multishot accept ended with res: 0 to re-arm at once, else the
 * pause in ms (doubling up to 100 while descriptors or memory run out). */
int urk__accept_backoff(int res, int *backoff_ms);
void *urk__acceptor_main(void *arg);

/* ---- handoff.c ---- */
int urk__spsc_init(urk_spsc_t *q, uint32_t cap_pow2);
void urk__spsc_free(urk_spsc_t *q);
int urk__spsc_push(urk_spsc_t *q, const urk_handoff_t *item);
int urk__spsc_pop(urk_spsc_t *q, urk_handoff_t *item);
uint32_t urk__handoff_queued(urk_reactor_t *r);
/* Acceptor side: queue fd for a reactor; woken[i] marks reactors to wake. */
void urk__hand_off(struct urk_engine *e, int fd, uint8_t *woken);
/* Acceptor side: one wake per batch (msg_ring, else the wake eventfd). */
void urk__wake_reactor(struct urk_engine *e, urk_reactor_t *r);
/* A msg_ring the reactor's ring refused: fall back to the eventfd. */
void urk__wake_fallback(urk_reactor_t *r);
/* Wakes a reactor from another thread (acceptor hand-off, urk_reactor_wake). */
void urk__reactor_kick(urk_reactor_t *r);
/* Reactor side: opens every queued connection. */
void urk__drain_handoff(urk_reactor_t *r);
/* Reactor side, at stop: closes what is still queued. */
void urk__handoff_close_all(urk_reactor_t *r);

/* ---- reactor.c ---- */
int urk__reactor_create(struct urk_engine *e, uint32_t index, urk_reactor_t **out);
void urk__reactor_destroy(urk_reactor_t *r);
int urk__reactor_start_native(urk_reactor_t *r, const urk_callbacks_t *cbs);
/* Closes every connection and waits for every final completion. Runs on the
 * reactor's owner thread (or any thread if the ring never ran). */
void urk__reactor_shutdown(urk_reactor_t *r, uint32_t drain_ms);
/* The calling thread owns the reactor, claiming it if nobody does yet. */
int urk__claim(urk_reactor_t *r);
/* Completion of a reactor-level op (wake, timer, accept, back-off). */
void urk__reactor_op_done(urk_reactor_t *r, const urk_cqe_t *cq);
int urk__arm_wake(urk_reactor_t *r);

/* ---- poll.c ---- */
/* Queues an event. -ENOMEM (its buffer released) only for an event without
 * reserved room: the caller closes the connection. */
int urk__emit(urk_reactor_t *r, urk_conn_t conn, uint32_t type, int32_t res,
              const uint8_t *data, uint32_t len, uint32_t buf, uint64_t user);
/* Sets aside room for n must-deliver events of connection c. */
int urk__reserve_events(urk_reactor_t *r, urk_conn_slot_t *c, uint32_t n);
/* Gives back what c did not use (its slot is freed). */
void urk__unreserve_events(urk_reactor_t *r, urk_conn_slot_t *c);
/* urk_conn_set_user: the new value into conn's events not yet handed out
 * (and, in native mode, later in the batch being dispatched). */
void urk__patch_user(urk_reactor_t *r, urk_conn_t conn, uint64_t user);
int urk__poll_core(urk_reactor_t *r, urk_event_t *events, uint32_t max, int32_t timeout_ms);
/* Makes urk_reactor_fd readable if a poll would find work now; every owner
 * call that can queue a request or an event ends with it. */
void urk__signal_if_pending(urk_reactor_t *r);

/* ---- conn.c ---- */
/* NULL: max_conns reached (*err -ENOSPC) or no memory (*err -ENOMEM). */
urk_conn_slot_t *urk__slot_alloc(urk_reactor_t *r, uint32_t *slot_out, int *err);
void urk__slot_free(urk_reactor_t *r, uint32_t s);
/* The start of every per-connection call: the caller's thread owns the
 * reactor and the id names a live connection. */
int urk__conn_call(urk_reactor_t *r, urk_conn_t conn, uint32_t *s, urk_conn_slot_t **c);
int urk__list_push(uint32_t **list, uint32_t *n, uint32_t max, uint32_t s);
void urk__open_accepted(urk_reactor_t *r, int fd, const void *addr, uint32_t addr_len);
void urk__on_connect(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res);

/* ---- recv.c ---- */
/* Recvs are armed as bundles: the kernel has them and they are not off. */
static inline int urk__recv_bundles(const urk_reactor_t *r)
{
    return (r->engine->caps & URK_CAP_RECV_BUNDLE) &&
           !(r->engine->opts.flags & URK_ENGINE_NO_RECV_BUNDLE);
}
void urk__arm_recv(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);
void urk__rearm_starved(urk_reactor_t *r);
void urk__on_recv(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, const urk_cqe_t *cq);
void urk__release_handle(urk_reactor_t *r, uint32_t handle);
/* Gives back every buffer of a recv completion nobody will see (a bundle's
 * too). */
void urk__release_recv_bufs(urk_reactor_t *r, const urk_cqe_t *cq);
void urk__auto_release(urk_reactor_t *r);
void urk__remember_auto_release(urk_reactor_t *r);

/* ---- sendq.c ---- */
void urk__submit_send(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);
void urk__fail_queued(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res);
void urk__on_send(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t res);
/* Sends the FIN urk_shutdown_write asked for, once nothing is queued. */
void urk__send_fin(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);
/* At a stop that cannot drive the ring: reports every queued send as
 * cancelled, keeping the memory of those the kernel may still read on
 * r->graveyard until the ring is destroyed. */
void urk__park_inflight(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);
/* Frees chunks without telling anyone (the ring is gone). */
void urk__free_chunks(urk_conn_slot_t *c);
/* Owner thread only: a chunk with room for `data` bytes after the header,
 * from the reactor's pool when it fits a block; NULL on ENOMEM. */
urk_chunk_t *urk__chunk_get(urk_reactor_t *r, uint32_t data);
void urk__chunk_put(urk_reactor_t *r, urk_chunk_t *k);
/* Unmaps the arena if no block is out (stop), or unconditionally (destroy,
 * after the ring is gone). */
void urk__chunk_pool_drain(urk_reactor_t *r, int force);

/* ---- post.c ---- */
/* Turns queued posts into URK_EV_POST events (not while discarding). */
void urk__take_posts(urk_reactor_t *r);
/* Runs every queued post on the calling thread; close_queue: refuse later
 * ones (stop). */
void urk__run_posts(urk_reactor_t *r, int close_queue);

/* ---- close.c ---- */
void urk__begin_close(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c, int32_t reason,
                      int abort);
void urk__start_teardown(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);
void urk__finish_if_done(urk_reactor_t *r, uint32_t s, urk_conn_slot_t *c);
void urk__idle_scan(urk_reactor_t *r);

#endif

/* uring.h - the ring layer's internal header: rings, provided-buffer rings
 * and the calls the engine uses to reach the kernel. Only files in uring/
 * touch liburing's struct io_uring; the engine goes through the functions
 * declared here. Nothing here is ABI. */
#ifndef URK_URING_H
#define URK_URING_H

#include "../common/common.h"
#include "compat.h"

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

/* How the ring reaches the buffer layer without depending on it: bufring.c
 * installs these when a ring gets its first buffer group, so ring.c needs
 * nothing from bufring.c and the dependency runs one way. */
typedef struct urk_buf_hooks {
    /* Buffer bookkeeping for one completion already converted by the ring. */
    void (*on_cqe)(urk_ring_t *ring, const struct io_uring_cqe *cqe, urk_cqe_t *out);
    /* Unregisters and frees every group (ring teardown). */
    void (*release_all)(urk_ring_t *ring);
} urk_buf_hooks_t;

struct urk_ring {
    struct io_uring io;
    uint32_t active; /* URK_RING_ACTIVE_* */
    uint32_t setup_flags;
    uint32_t sq_entries, cq_entries;
    urk_sqe_arg_t *sqe_args;   /* sq_entries slots */
    const urk_buf_hooks_t *buf_hooks; /* NULL until a buffer group exists */
    urk_bufring_t **bufrings;  /* registered groups */
    uint32_t nbufrings, bufrings_cap;
    urk_group_map_t group_map; /* used once two groups have co-existed */
    uint16_t solo_group;       /* the only group, until then */
    uint8_t multi_groups;
    const void *reg_fd_owner;  /* thread that registered the ring fd */
    /* The issuer: the only thread allowed to queue, submit, harvest and
     * touch the buffer rings (urk__thread_self() of the creating thread, or
     * of the enabling one for a ring created disabled; NULL until then). */
    const void *_Atomic issuer;
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
    /* Ring order, for bundles. The kernel takes entries from the head in
     * ring order, and entries are added at the tail in whatever order
     * buffers come back, so "consecutive" means consecutive ENTRIES, not
     * consecutive ids. `pub` counts entries ever added (the tail, unwrapped);
     * slot_bid maps an entry (position & mask) to the id written there and
     * bid_pos an id to the unwrapped position it was last added at, so an
     * entry overwritten since can be told apart. */
    uint32_t pub;
    uint16_t *slot_bid;   /* per ring entry */
    uint32_t *bid_pos;    /* per bid */
    uint16_t *bundle_next; /* per held bid: the next buffer of its bundle */
    uint64_t bundles;      /* completions that covered several buffers */
    uint64_t bundle_bufs;  /* buffers those covered */
    uint64_t bundle_broken; /* bundles cut short: an entry was overwritten
                              (never expected; see buf_on_cqe) */
};

/* ---- ring.c ---- */

/* -URK_ETHREAD unless the caller is the ring's issuer. Before a disabled
 * ring is enabled there is no issuer and every thread passes (buffer rings
 * and the eventfd may be registered then; ops are refused as not enabled). */
static inline int urk__ring_issuer_check(const urk_ring_t *ring)
{
    const void *iss = atomic_load_explicit(&ring->issuer, memory_order_relaxed);
    return URK_LIKELY(iss == urk__thread_self() || iss == NULL) ? 0 : -URK_ETHREAD;
}

/* Grabs a free SQE, submitting once if the SQ is full. NULL: still full. */
struct io_uring_sqe *urk__get_sqe(urk_ring_t *ring);
/* Applies URK_OP_* flags; returns -EINVAL for unknown bits outside `allowed`. */
int urk__op_flags(struct io_uring_sqe *sqe, uint32_t flags);
/* Resolves a raw CQE into *out, updating buffer bookkeeping. */
void urk__cqe_convert(urk_ring_t *ring, const struct io_uring_cqe *cqe, urk_cqe_t *out);
/* Submits what is queued and collects completions the kernel holds back
 * (CQ overflow, deferred task work). */
int urk__ring_enter_getevents(urk_ring_t *ring);

/* The engine's path to the kernel; no argument checks, owner thread only. */
/* Submits what is queued. Returns what io_uring_submit returns. */
int urk__ring_flush(urk_ring_t *ring);
/* Submits, then blocks until a completion arrives or ts (NULL: no limit)
 * passes. Returns 0, -ETIME, -EINTR or another -errno. */
int urk__ring_wait(urk_ring_t *ring, const struct __kernel_timespec *ts);
/* Before a harvest: enters the kernel only if SQEs wait or completions are
 * held back (counting a CQ overflow in the ring's stats). */
void urk__ring_prepare_harvest(urk_ring_t *ring);
/* Takes up to max ready completions, converted, and marks them consumed. */
uint32_t urk__ring_take(urk_ring_t *ring, urk_cqe_t *out, uint32_t max);
uint32_t urk__ring_sq_ready(const urk_ring_t *ring);
/* Completions the kernel holds back until the issuer enters (deferred task
 * work, CQ overflow). */
int urk__ring_held_back(const urk_ring_t *ring);
uint32_t urk__ring_cq_ready(const urk_ring_t *ring);

/* ---- ops.c ---- */

/* read(2) on fd (an eventfd the engine waits on through the ring). */
int urk__prep_read(urk_ring_t *ring, int fd, void *buf, uint32_t len, uint64_t user_data);
/* A multishot recv with IORING_RECVSEND_BUNDLE on group_id: one completion
 * may cover several buffers (see urk__bufring_bundle_count). The caller
 * checks URK_CAP_RECV_BUNDLE first (the kernel would refuse the op).
 * -URK_ENOTSUP on an URK_BUFRING_INC group: bundles and incremental
 * consumption are not combined (see ops.c); arm a plain multishot recv
 * there. Otherwise as urk_prep_recv_multishot with flags 0. */
int urk__prep_recv_multishot_bundle(urk_ring_t *ring, int fd, uint16_t group_id,
                                    uint64_t user_data);
/* One-shot poll(2) for poll_mask (POLLIN ...) on fd. */
int urk__prep_poll(urk_ring_t *ring, int fd, uint32_t poll_mask, uint64_t user_data);
/* Cancels every request in flight on the ring (IORING_ASYNC_CANCEL_ANY). */
int urk__prep_cancel_any(urk_ring_t *ring, uint64_t user_data);

/* ---- bufring.c ---- */

/* A bundle completion: the kernel took `n` consecutive ring entries starting
 * at the one holding the CQE's buffer id, filled each to its full size except
 * possibly the last, and res is the total. The conversion marks every one
 * held (one piece each, recycled one by one like any buffer) and sets buf to
 * the first, buf_id to its id and buf_len to the bytes of the whole bundle,
 * which is how a bundle is told from a single buffer: buf_len > size (a
 * single buffer never holds more than its size). How many buffers a
 * converted completion of br covers (1 for any plain one): */
static inline uint32_t urk__bufring_bundle_count(const urk_bufring_t *br, uint32_t buf_len)
{
    return buf_len <= br->size ? 1 : (buf_len + br->size - 1) / br->size;
}
/* The buffer after bid in its bundle; valid for all but the last of a
 * bundle, while bid is held (read it before recycling bid). */
static inline uint16_t urk__bufring_bundle_next(const urk_bufring_t *br, uint16_t bid)
{
    return br->bundle_next[bid];
}

urk_bufring_t *urk__bufring_find(urk_ring_t *ring, uint16_t group);
/* Takes back every piece the caller still holds (the engine at stop).
 * Returns how many. */
uint32_t urk__bufring_reclaim(urk_bufring_t *br);
int urk__group_map_put(urk_group_map_t *m, uint64_t key, uint16_t group);
int urk__group_map_get(const urk_group_map_t *m, uint64_t key, uint16_t *group);
void urk__group_map_del(urk_group_map_t *m, uint64_t key);
void urk__group_map_free(urk_group_map_t *m);

#endif

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
    urk_group_map_t group_map;
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

#endif

/*
 * urocket.h - the one public header of uRocket, an io_uring networking engine
 * behind a stable C ABI.
 *
 * Contract (details per function in abi.md):
 *   - Every fallible function returns int: >= 0 is success (or a count),
 *     < 0 is -errno or a negative URK_E* code. No errno, no thread-local state.
 *     urk_strerror() / urk_err_name() describe any such code.
 *   - Handles are opaque. Destroy functions accept NULL.
 *   - Options structs start with `struct_size`: set it with the matching
 *     *_opts_init() call. The library accepts smaller (older) structs and
 *     larger (newer) ones whose unknown tail is all zero (otherwise
 *     -E2BIG), up to 1024 bytes: a larger struct_size is -EINVAL and
 *     nothing past the library's own struct is read.
 *   - Only fixed-width integers, pointers and plain structs cross the ABI.
 *     Structs are laid out for LP64 Linux; sizes and offsets are pinned in
 *     abi.md and checked by every binding's tests.
 */
#ifndef UROCKET_H
#define UROCKET_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(URK_BUILDING_LIBRARY)
#define URK_API __attribute__((visibility("default")))
#else
#define URK_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define URK_VERSION_MAJOR 0
#define URK_VERSION_MINOR 2
#define URK_VERSION_PATCH 0
#define URK_VERSION_NUMBER \
    ((URK_VERSION_MAJOR << 16) | (URK_VERSION_MINOR << 8) | URK_VERSION_PATCH)
/* Bumped whenever a struct layout, constant value or signature changes
 * incompatibly. Bindings refuse to load a library with another value. */
#define URK_ABI_VERSION 1

/* (major << 16) | (minor << 8) | patch of the loaded library. */
URK_API uint32_t urk_version(void);
/* "0.1.0"; static storage. */
URK_API const char *urk_version_string(void);
/* URK_ABI_VERSION of the loaded library. */
URK_API uint32_t urk_abi_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Shim-specific codes are returned negated, like -errno. They start above
 * every errno value Linux defines. */
#define URK_EBASE 10000
#define URK_ESTALE_ID (URK_EBASE + 1)  /* id names a connection that is gone */
#define URK_ECLOSING (URK_EBASE + 2)   /* connection is closing            */
#define URK_ENOTSUP (URK_EBASE + 3)    /* kernel lacks a required feature   */
#define URK_ESTATE (URK_EBASE + 4)     /* call not valid in this state      */
#define URK_ETHREAD (URK_EBASE + 5)    /* called from the wrong thread      */
#define URK_EFRAMING (URK_EBASE + 6)   /* response did not match framing    */
#define URK_ELAST URK_EFRAMING

/* Message for -errno or -URK_E* (the sign is ignored). Never NULL; static. */
URK_API const char *urk_strerror(int err);
/* Symbolic name ("EINVAL", "URK_ESTALE_ID"), or "UNKNOWN". Static. */
URK_API const char *urk_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Capabilities of the running kernel                                        */
/* ------------------------------------------------------------------------ */

#define URK_CAP_MULTISHOT_ACCEPT (1ull << 0)
#define URK_CAP_MULTISHOT_RECV (1ull << 1)
#define URK_CAP_BUF_RING (1ull << 2)
#define URK_CAP_RECV_BUNDLE (1ull << 3)
#define URK_CAP_BUF_RING_INC (1ull << 4)
#define URK_CAP_MSG_RING (1ull << 5)
#define URK_CAP_MSG_RING_FD (1ull << 6)
#define URK_CAP_SEND_ZC (1ull << 7)
#define URK_CAP_SQPOLL (1ull << 8)
#define URK_CAP_SINGLE_ISSUER (1ull << 9)
#define URK_CAP_DEFER_TASKRUN (1ull << 10)
#define URK_CAP_COOP_TASKRUN (1ull << 11)
#define URK_CAP_REGISTERED_RING_FD (1ull << 12)
#define URK_CAP_EXT_ARG (1ull << 13)
#define URK_CAP_CQE_SKIP (1ull << 14)
#define URK_CAP_NODROP (1ull << 15)
#define URK_CAP_LAST URK_CAP_NODROP

/* Probes the running kernel once (cached, thread-safe) and stores the
 * URK_CAP_* bitmask in *caps. -ENOSYS/-EPERM when io_uring is unavailable. */
URK_API int urk_probe(uint64_t *caps);
/* "multishot_accept" for URK_CAP_MULTISHOT_ACCEPT, NULL for an unknown or
 * multi-bit value. Static storage. */
URK_API const char *urk_cap_name(uint64_t cap);

/* ------------------------------------------------------------------------ */
/* Addresses                                                                  */
/* ------------------------------------------------------------------------ */

/* Big enough for sockaddr_in, sockaddr_in6 and sockaddr_un (110 bytes);
 * layout-compatible with struct sockaddr_storage's first 128 bytes. */
typedef struct urk_addr {
    uint8_t bytes[128];
    uint32_t len; /* bytes of `bytes` in use */
    uint32_t reserved;
} urk_addr_t; /* size 136 */

/* Parses a numeric IPv4 or IPv6 literal ("127.0.0.1", "::1", "[::1]") and a
 * port into *out, or a Unix-domain stream socket: "unix:/path" (at most 107
 * bytes of path) or the abstract "unix:@name" (at most 107 bytes of name);
 * the port is ignored for those. No name resolution. -ENAMETOOLONG for a
 * longer path or name, -EINVAL on anything else. */
URK_API int urk_addr_parse(const char *host, uint16_t port, urk_addr_t *out);
/* Formats *addr as "127.0.0.1:80", "[::1]:80", "unix:/path", "unix:@name"
 * or "unix:" (an unnamed Unix socket) into buf (NUL-terminated). Returns the
 * length written, -ENOSPC if cap is too small. */
URK_API int urk_addr_format(const urk_addr_t *addr, char *buf, uint32_t cap);

/* ------------------------------------------------------------------------ */
/* Ring                                                                      */
/* ------------------------------------------------------------------------ */

/* A ring has one issuer thread: the one that created it, or for a ring
 * created with URK_RING_DISABLED the one that enabled it. Issuer only (any
 * other thread gets -URK_ETHREAD and nothing changes): every urk_prep_*,
 * urk_ring_submit, urk_ring_complete, urk_ring_register_eventfd,
 * urk_ring_unregister_eventfd, urk_bufring_create, urk_bufring_recycle,
 * urk_bufring_available; also urk_ring_destroy and urk_bufring_destroy,
 * which cannot report it. Any thread: urk_ring_fd, urk_ring_info,
 * urk_ring_stats (may be stale), urk_bufring_buf, urk_bufring_group. */
typedef struct urk_ring urk_ring_t;

/* urk_ring_opts_t.flags */
#define URK_RING_SQPOLL (1u << 0)          /* kernel SQ polling thread      */
#define URK_RING_NO_DEFER_TASKRUN (1u << 1) /* use COOP_TASKRUN instead      */
#define URK_RING_NO_REGISTER_FD (1u << 2)  /* do not register the ring fd   */
#define URK_RING_FORCE_FALLBACK (1u << 3)  /* act as if the kernel refused
                                              SINGLE_ISSUER/DEFER_TASKRUN:
                                              exercises the fallback path   */
#define URK_RING_DISABLED (1u << 4)        /* create disabled; the thread
                                              calling urk_ring_enable() then
                                              becomes the single issuer     */

typedef struct urk_ring_opts {
    uint32_t struct_size;    /* sizeof(urk_ring_opts_t) */
    uint32_t flags;          /* URK_RING_* */
    uint32_t sq_entries;     /* power of two, 1..32768; default 256 */
    uint32_t cq_entries;     /* 0: 16 x sq_entries (at least 4096) */
    uint32_t sqpoll_idle_ms; /* SQPOLL idle time; default 1000 */
    int32_t sqpoll_cpu;      /* CPU for the SQPOLL thread, -1: any */
    uint32_t reserved[6];    /* must be zero */
} urk_ring_opts_t; /* size 48 */

/* urk_ring_info_t.active: what the ring really got */
#define URK_RING_ACTIVE_SQPOLL (1u << 0)
#define URK_RING_ACTIVE_SINGLE_ISSUER (1u << 1)
#define URK_RING_ACTIVE_DEFER_TASKRUN (1u << 2)
#define URK_RING_ACTIVE_COOP_TASKRUN (1u << 3)
#define URK_RING_ACTIVE_REGISTERED_FD (1u << 4)
#define URK_RING_ACTIVE_FALLBACK (1u << 5) /* DEFER_TASKRUN was refused */
#define URK_RING_ACTIVE_ENABLED (1u << 6)

typedef struct urk_ring_info {
    uint32_t struct_size;
    uint32_t active;      /* URK_RING_ACTIVE_* */
    uint32_t sq_entries;  /* as granted by the kernel */
    uint32_t cq_entries;
    uint32_t features;    /* raw IORING_FEAT_* bits */
    uint32_t setup_flags; /* raw IORING_SETUP_* bits used */
} urk_ring_info_t; /* size 24 */

typedef struct urk_ring_stats {
    uint64_t submitted;      /* SQEs handed to the kernel */
    uint64_t completed;      /* CQEs consumed */
    uint64_t sq_full_waits;  /* times the SQ was full and was flushed */
    uint64_t cq_overflows;   /* times the kernel reported CQ overflow */
    uint64_t enobufs;        /* completions with -ENOBUFS */
    uint64_t bufs_out;       /* provided buffers held by the caller now */
} urk_ring_stats_t; /* size 48 */

/* Fills defaults; sets struct_size. -EINVAL if opts is NULL. */
URK_API int urk_ring_opts_init(urk_ring_opts_t *opts);
/* Creates a ring; the calling thread becomes its issuer (unless
 * URK_RING_DISABLED). opts may be NULL (defaults). Setup errors are
 * returned, never swallowed: -ENOMEM, -EPERM, -EINVAL, ... */
URK_API int urk_ring_create(const urk_ring_opts_t *opts, urk_ring_t **out);
/* Tears down the ring, its buffer rings and every pending operation. */
URK_API void urk_ring_destroy(urk_ring_t *ring);
/* Enables a ring created with URK_RING_DISABLED; the caller's thread becomes
 * its single issuer. */
URK_API int urk_ring_enable(urk_ring_t *ring);
/* The ring's file descriptor (for urk_prep_msg_ring from another ring). */
URK_API int urk_ring_fd(const urk_ring_t *ring);
URK_API int urk_ring_info(const urk_ring_t *ring, urk_ring_info_t *out);
URK_API int urk_ring_stats(const urk_ring_t *ring, urk_ring_stats_t *out);
/* The kernel signals efd whenever completions are posted, so a host event
 * loop can wait on it. One eventfd per ring. */
URK_API int urk_ring_register_eventfd(urk_ring_t *ring, int efd);
URK_API int urk_ring_unregister_eventfd(urk_ring_t *ring);

/* ------------------------------------------------------------------------ */
/* Provided-buffer ring                                                      */
/* ------------------------------------------------------------------------ */

typedef struct urk_bufring urk_bufring_t;

#define URK_BUFRING_INC (1u << 0) /* incremental consumption (6.12+);
                                     -URK_ENOTSUP where the kernel lacks it */

typedef struct urk_bufring_opts {
    uint32_t struct_size;
    uint32_t flags;       /* URK_BUFRING_* */
    uint32_t count;       /* power of two, 1..32768 */
    uint32_t size;        /* bytes per buffer, 1..(1 << 30) */
    uint16_t group_id;    /* buffer group id used by recv ops */
    uint16_t reserved0;
    uint32_t reserved[3];
} urk_bufring_opts_t; /* size 32 */

URK_API int urk_bufring_opts_init(urk_bufring_opts_t *opts);
/* Registers count x size buffers with the ring under group_id; all start
 * owned by the kernel. -EEXIST if the group id is taken. */
URK_API int urk_bufring_create(urk_ring_t *ring, const urk_bufring_opts_t *opts,
                               urk_bufring_t **out);
/* Unregisters and frees. Pointers into the buffers die with it. */
URK_API void urk_bufring_destroy(urk_bufring_t *br);
/* Start of buffer bid in *ptr. -EINVAL for an out-of-range bid. */
URK_API int urk_bufring_buf(const urk_bufring_t *br, uint32_t bid, void **ptr);
/* Gives buffers back to the kernel: one tail publish for the whole batch.
 * Each bid must be held by the caller (delivered in a completion and not yet
 * recycled): otherwise nothing is recycled and -EALREADY (already owned by
 * the kernel) or -EINVAL (out of range) is returned. Returns n. With
 * URK_BUFRING_INC a buffer returns to the kernel once every piece delivered
 * from it has been recycled and the kernel is done with it. */
URK_API int urk_bufring_recycle(urk_bufring_t *br, const uint16_t *bids, uint32_t n);
/* Buffers the kernel can fill now. */
URK_API int urk_bufring_available(const urk_bufring_t *br);
URK_API int urk_bufring_group(const urk_bufring_t *br);

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */
/* Each urk_prep_* queues one request and returns 0, or a negative code. A
 * full SQ is submitted and retried inside the shim; if it is still full the
 * call returns -EBUSY. Nothing reaches the kernel before urk_ring_submit()
 * or urk_ring_complete(). user_data comes back in the completion.
 *
 * Flags common to every op (upper half of `flags`): */
#define URK_OP_LINK (1u << 16)         /* IOSQE_IO_LINK to the next op     */
#define URK_OP_SKIP_SUCCESS (1u << 17) /* no completion when it succeeds   */
#define URK_OP_ASYNC (1u << 18)        /* IOSQE_ASYNC                      */
/* Op-specific flags (lower half): */
#define URK_RECV_BUNDLE (1u << 0)      /* multishot recv: bundle buffers.
                                          Reserved: refused with
                                          -URK_ENOTSUP in 0.1 (a urk_cqe_t
                                          names one buffer)                 */
#define URK_CANCEL_ALL (1u << 0)       /* cancel every match, not the first */

/* Multishot accept on listen_fd; each completion's res is a new fd. When a
 * completion lacks URK_CQE_F_MORE the accept has stopped and must be
 * re-armed. */
URK_API int urk_prep_accept_multishot(urk_ring_t *ring, int listen_fd,
                                      uint64_t user_data, uint32_t flags);
/* Multishot recv selecting buffers from group_id (a urk_bufring_t of this
 * ring). -ENOENT if no such group. While it is armed its user_data must be
 * unique among the ring's in-flight ops. */
URK_API int urk_prep_recv_multishot(urk_ring_t *ring, int fd, uint16_t group_id,
                                    uint64_t user_data, uint32_t flags);
/* Single-shot recv into a caller buffer that must stay valid until the
 * completion. */
URK_API int urk_prep_recv(urk_ring_t *ring, int fd, void *buf, uint32_t len,
                          uint64_t user_data, uint32_t flags);
/* send(2) with msg_flags | MSG_NOSIGNAL. buf stays valid until completion. */
URK_API int urk_prep_send(urk_ring_t *ring, int fd, const void *buf, uint32_t len,
                          uint32_t msg_flags, uint64_t user_data, uint32_t flags);

/* Layout-identical to struct iovec on LP64. */
typedef struct urk_iovec {
    void *base;
    uint64_t len;
} urk_iovec_t; /* size 16 */

/* sendmsg(2) with an iovec array (MSG_NOSIGNAL added). The array and the
 * memory it points to stay valid until completion. iovcnt 1..1024. */
URK_API int urk_prep_sendv(urk_ring_t *ring, int fd, const urk_iovec_t *iov,
                           uint32_t iovcnt, uint32_t msg_flags, uint64_t user_data,
                           uint32_t flags);
/* connect(2). The address is copied: it need not outlive the call. */
URK_API int urk_prep_connect(urk_ring_t *ring, int fd, const urk_addr_t *addr,
                             uint64_t user_data, uint32_t flags);
URK_API int urk_prep_close(urk_ring_t *ring, int fd, uint64_t user_data,
                           uint32_t flags);
/* how: 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR */
URK_API int urk_prep_shutdown(urk_ring_t *ring, int fd, int32_t how,
                              uint64_t user_data, uint32_t flags);
/* Cancels the op(s) queued with target_user_data. res: 0 or -ENOENT/-EALREADY
 * (or the count with URK_CANCEL_ALL). The cancelled op still posts its own
 * final completion. */
URK_API int urk_prep_cancel(urk_ring_t *ring, uint64_t target_user_data,
                            uint64_t user_data, uint32_t flags);
/* Cancels ops on fd. */
URK_API int urk_prep_cancel_fd(urk_ring_t *ring, int fd, uint64_t user_data,
                               uint32_t flags);
/* Completes with -ETIME after timeout_ns (copied), or with 0 once `count`
 * other completions were posted (count 0: pure timer). */
URK_API int urk_prep_timeout(urk_ring_t *ring, uint64_t timeout_ns, uint32_t count,
                             uint64_t user_data, uint32_t flags);
/* Posts a completion {user_data = target_user_data, res = res} on the ring
 * whose fd is target_ring_fd. Wakes a thread waiting on that ring. */
URK_API int urk_prep_msg_ring(urk_ring_t *ring, int target_ring_fd, int32_t res,
                              uint64_t target_user_data, uint64_t user_data,
                              uint32_t flags);
URK_API int urk_prep_nop(urk_ring_t *ring, uint64_t user_data, uint32_t flags);

/* Hands queued ops to the kernel. Returns how many. */
URK_API int urk_ring_submit(urk_ring_t *ring);

/* ------------------------------------------------------------------------ */
/* Completions                                                                */
/* ------------------------------------------------------------------------ */

/* urk_cqe_t.flags (same values as IORING_CQE_F_*) */
#define URK_CQE_F_BUFFER (1u << 0)   /* buf/buf_id are set              */
#define URK_CQE_F_MORE (1u << 1)     /* the multishot op goes on        */
#define URK_CQE_F_SOCK_NONEMPTY (1u << 2)
#define URK_CQE_F_NOTIF (1u << 3)
#define URK_CQE_F_BUF_MORE (1u << 4) /* INC: the kernel keeps the buffer */

typedef struct urk_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;     /* URK_CQE_F_* */
    void *buf;          /* data start for a buffer completion, else NULL */
    uint32_t buf_len;   /* bytes at buf (== res when res > 0)            */
    uint16_t buf_id;    /* give back with urk_bufring_recycle()          */
    uint16_t buf_group;
} urk_cqe_t; /* size 32 */

/* Submits what is queued, then waits until at least min_complete completions
 * are available or timeout_ns passes (timeout_ns < 0: no limit; min_complete
 * 0: never waits), and copies up to max completions into out. One call per
 * batch. Returns the number copied (0 on timeout), or a negative code. */
URK_API int urk_ring_complete(urk_ring_t *ring, urk_cqe_t *out, uint32_t max,
                              uint32_t min_complete, int64_t timeout_ns);

/* ------------------------------------------------------------------------ */
/* Engine: one acceptor, N reactors                                          */
/* ------------------------------------------------------------------------ */

typedef struct urk_engine urk_engine_t;
typedef struct urk_reactor urk_reactor_t;

/* A connection id: reactor (8 bits) | slot (24 bits) | generation (32 bits).
 * 0 is never a valid id. Ids of closed connections are refused with
 * -URK_ESTALE_ID, even when their slot or fd is reused. */
typedef uint64_t urk_conn_t;

/* urk_engine_opts_t.flags */
#define URK_ENGINE_SQPOLL (1u << 0)
#define URK_ENGINE_REUSEPORT (1u << 1)     /* a listener per reactor, no
                                              acceptor thread             */
#define URK_ENGINE_NO_LISTEN (1u << 2)     /* outgoing connections only   */
#define URK_ENGINE_LEAST_CONN (1u << 3)    /* else round-robin            */
#define URK_ENGINE_NO_MSG_RING (1u << 4)   /* force the eventfd hand-off  */
#define URK_ENGINE_RELEASE_ON_POLL (1u << 5) /* DATA buffers are released by
                                              the next poll on the reactor */
#define URK_ENGINE_NO_DEFER_TASKRUN (1u << 6)
#define URK_ENGINE_HALF_CLOSE (1u << 7) /* a peer's FIN is URK_EV_EOF; the
                                          connection stays open for
                                          sending until urk_close (0.2) */
#define URK_ENGINE_NO_REGISTERED_RING (1u << 8) /* accepted, no effect:
                                          reactor rings are entered by
                                          plain fd (registering it was
                                          measured and removed) (0.2) */
#define URK_ENGINE_NO_SEND_POOL (1u << 9) /* malloc/free every send chunk
                                          instead of reusing them from a
                                          per-reactor pool (0.2) */
#define URK_ENGINE_NO_RECV_BUNDLE (1u << 10) /* one buffer per receive
                                          completion. Default: where the
                                          kernel has bundles (6.10+,
                                          URK_CAP_RECV_BUNDLE) one completion
                                          fills several buffers, still one
                                          URK_EV_DATA per buffer (0.2) */

typedef struct urk_engine_opts {
    uint32_t struct_size;
    uint32_t flags;            /* URK_ENGINE_* */
    const char *host;          /* numeric literal or "unix:/path" (port
                                  ignored); NULL: "127.0.0.1" */
    uint16_t port;             /* 0: pick a free port (urk_engine_port) */
    uint16_t reserved0;
    int32_t backlog;           /* default 4096 */
    uint32_t reactors;         /* 1..64; default 1 */
    uint32_t sq_entries;       /* per reactor ring; default 1024 */
    uint32_t cq_entries;       /* 0: default */
    uint32_t buf_count;        /* provided buffers per reactor; pow2; 1024 */
    uint32_t buf_size;         /* bytes per buffer; default 4096 */
    uint32_t buf_low_water;    /* re-arm starved recvs at this many free
                                  buffers; default max(1, buf_count / 8) */
    uint32_t max_conns;        /* per reactor; default 65536 */
    uint32_t idle_timeout_ms;  /* 0: none */
    uint32_t send_limit;       /* queued bytes per connection; default 4 MiB */
    uint32_t sqpoll_idle_ms;
    int32_t acceptor_cpu;      /* -1: not pinned */
    uint32_t reserved1;
    const int32_t *reactor_cpus; /* NULL or `reactors` entries (-1: none) */
    uint32_t reserved[8];
} urk_engine_opts_t; /* size 112 */

/* urk_event_t.type */
#define URK_EV_OPEN 1      /* new connection; data/len: peer urk_addr_t bytes,
                              user: the tag given to urk_reactor_connect (0
                              for an accepted one)                          */
#define URK_EV_DATA 2      /* data/len: received bytes; buf: handle to give
                              back with urk_reactor_release                  */
#define URK_EV_WRITABLE 3  /* queued bytes fell below send_limit after a
                              send returned -EAGAIN                          */
#define URK_EV_CLOSED 4    /* res: 0 peer closed, 1 closed by us, -errno;
                              the id is stale after this event              */
#define URK_EV_SEND_DONE 5 /* a send queued with URK_SEND_NOTIFY finished;
                              res: bytes sent or -errno; user: its tag      */
#define URK_EV_CONNECT_FAILED 6 /* urk_reactor_connect failed: res -errno,
                              user: its tag; conn is the id it had          */
#define URK_EV_EOF 7       /* URK_ENGINE_HALF_CLOSE: the peer sent FIN (after
                              its last DATA); res 0; user: the connection's
                              user value. The id stays valid and sends go
                              on until urk_close (0.2)                     */
#define URK_EV_POST 8      /* pull mode: work posted with urk_reactor_post;
                              conn 0; user: its arg (uintptr_t); data: its
                              fn (cast through uintptr_t; may be NULL). The
                              owner calls fn(r, arg) (0.2)                 */

typedef struct urk_event {
    urk_conn_t conn;
    uint32_t type;       /* URK_EV_* */
    int32_t res;
    const uint8_t *data;
    uint32_t len;
    uint32_t buf;        /* buffer handle for DATA, else 0 */
    uint64_t user;       /* OPEN, CONNECT_FAILED: connect tag; SEND_DONE: the
                            send's tag; DATA, WRITABLE, CLOSED, EOF: the
                            connection's user value (urk_conn_set_user) */
} urk_event_t; /* size 40 */

/* urk_send flags */
#define URK_SEND_NOCOPY (1u << 0) /* caller keeps data alive until the
                                     URK_EV_SEND_DONE carrying `tag`       */
#define URK_SEND_NOTIFY (1u << 1) /* post URK_EV_SEND_DONE when sent
                                     (implied by URK_SEND_NOCOPY)          */
#define URK_SEND_FORCE (1u << 2)  /* queue even over send_limit (the caller
                                     bounds memory, e.g. by pausing recv);
                                     URK_EV_WRITABLE still follows          */

typedef struct urk_send_req {
    urk_conn_t conn;
    const void *data;
    uint32_t len;
    uint32_t flags;      /* URK_SEND_* */
    uint64_t tag;
    int32_t result;      /* out: 0 or a negative code */
    uint32_t reserved;
} urk_send_req_t; /* size 40 */

typedef struct urk_reactor_stats {
    uint64_t accepted;        /* connections handed to this reactor */
    uint64_t connected;       /* outgoing connections established   */
    uint64_t closed;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t events;          /* events delivered to the caller     */
    uint64_t enobufs_rearms;  /* recvs re-armed after -ENOBUFS (or after
                                 a bundle emptied the buffer ring) */
    uint64_t sq_full_waits;
    uint64_t cq_overflows;
    uint64_t live_conns;
    uint64_t bufs_held;       /* DATA buffers not yet released       */
    uint64_t send_queued;     /* bytes queued, not yet sent          */
    uint64_t wakeups;         /* cross-thread wake-ups received      */
    uint64_t handoff_fallbacks; /* hand-offs through the eventfd queue */
} urk_reactor_stats_t; /* size 112 */

typedef struct urk_engine_stats {
    uint64_t accepted;
    uint64_t accept_rearms;   /* multishot accept re-armed after stopping */
    uint64_t accept_errors;   /* e.g. EMFILE                              */
    uint64_t rejected;        /* dropped: every reactor at max_conns      */
} urk_engine_stats_t; /* size 32 */

/* Native-mode callbacks; each runs on its reactor's thread. Any may be NULL.
 * on_data returns 0 to let the engine release the buffer when it returns, or
 * 1 when it keeps buf and will call urk_reactor_release itself. */
typedef struct urk_callbacks {
    uint32_t struct_size;
    uint32_t reserved0;
    void *user;
    void (*on_open)(urk_reactor_t *r, urk_conn_t conn, const urk_addr_t *peer,
                    uint64_t tag, void *user);
    int32_t (*on_data)(urk_reactor_t *r, urk_conn_t conn, const uint8_t *data,
                       uint32_t len, uint32_t buf, void *user);
    void (*on_writable)(urk_reactor_t *r, urk_conn_t conn, void *user);
    void (*on_close)(urk_reactor_t *r, urk_conn_t conn, int32_t reason, void *user);
    void (*on_send_done)(urk_reactor_t *r, urk_conn_t conn, int32_t res,
                         uint64_t tag, void *user);
    void (*on_connect_failed)(urk_reactor_t *r, urk_conn_t conn, int32_t res,
                              uint64_t tag, void *user);
    /* 0.2, URK_ENGINE_HALF_CLOSE: the peer sent FIN. NULL: the engine
     * closes the connection gracefully. A 64-byte struct (0.1) has none. */
    void (*on_eof)(urk_reactor_t *r, urk_conn_t conn, void *user);
} urk_callbacks_t; /* size 72 */

URK_API int urk_engine_opts_init(urk_engine_opts_t *opts);
URK_API int urk_callbacks_init(urk_callbacks_t *cbs);
/* Validates opts, binds the listener(s), creates every ring. Nothing runs
 * until urk_engine_start. Every setup error is returned. */
URK_API int urk_engine_create(const urk_engine_opts_t *opts, urk_engine_t **out);
/* Starts the acceptor. cbs NULL: pull mode (the caller drives each reactor
 * with urk_reactor_poll). Else native mode: one C thread per reactor calling
 * cbs (copied). */
URK_API int urk_engine_start(urk_engine_t *e, const urk_callbacks_t *cbs);
/* Stops accepting, lets queued sends drain for up to drain_ms, cancels every
 * op, waits for every final completion, closes every socket, joins every
 * thread. Safe from any thread except a reactor's own callbacks; idempotent.
 * In pull mode, reactors must not be polled concurrently with it. */
URK_API int urk_engine_stop(urk_engine_t *e, uint32_t drain_ms);
/* Stops if needed, then frees. NULL is accepted. */
URK_API void urk_engine_destroy(urk_engine_t *e);
/* The bound port (useful with port 0). */
URK_API int urk_engine_port(const urk_engine_t *e);
URK_API int urk_engine_reactor_count(const urk_engine_t *e);
URK_API int urk_engine_reactor(urk_engine_t *e, uint32_t index, urk_reactor_t **out);
URK_API int urk_engine_stats(const urk_engine_t *e, urk_engine_stats_t *out);

/* Pull mode. Fills up to max events; waits up to timeout_ms for the first
 * (-1: no limit, 0: never waits). Returns the count. The first thread to
 * poll a reactor becomes its owner: every reactor call below except
 * urk_reactor_wake, urk_reactor_post, urk_reactor_fd, urk_reactor_stats and
 * urk_reactor_index must come from it (-URK_ETHREAD otherwise). */
URK_API int urk_reactor_poll(urk_reactor_t *r, urk_event_t *events, uint32_t max,
                             int32_t timeout_ms);
/* Level-triggered: readable whenever urk_reactor_poll(..., 0) would return
 * an event or has work to do (also requests queued outside a poll, posts,
 * wakes). Register it with a host event loop and poll on readiness; no
 * unprompted poll is needed. Owned by the reactor. */
URK_API int urk_reactor_fd(urk_reactor_t *r);
/* Hands queued sends and closes to the kernel now. urk_reactor_poll does
 * this too. A host loop that queued work outside a poll may call it before
 * waiting on urk_reactor_fd again (else the fd turns readable and the next
 * poll hands them over). Returns the number of requests sent. */
URK_API int urk_reactor_flush(urk_reactor_t *r);
/* Makes a blocked or future urk_reactor_poll return. Any thread. */
URK_API int urk_reactor_wake(urk_reactor_t *r);
/* Work for the reactor's thread (0.2). Any thread. Native mode: fn(r, arg)
 * runs on the reactor's thread at its next loop turn, like a callback. Pull
 * mode: the next poll returns a URK_EV_POST event and the owner calls fn.
 * Posts run in order; none is lost: those still queued at stop are run by
 * the stopping thread. 0, -EINVAL (r NULL), -ENOMEM, -URK_ESTATE (the
 * reactor stopped). */
typedef void (*urk_post_fn)(urk_reactor_t *r, void *arg);
URK_API int urk_reactor_post(urk_reactor_t *r, urk_post_fn fn, void *arg);
/* Gives DATA buffers back. Returns n or a negative code (-EINVAL for a
 * handle not held; nothing is released then). */
URK_API int urk_reactor_release(urk_reactor_t *r, const uint32_t *bufs, uint32_t n);
/* Queues data for conn in order. 0, -EAGAIN (over send_limit: nothing
 * queued; URK_EV_WRITABLE follows), -URK_ESTALE_ID, -URK_ECLOSING. */
URK_API int urk_send(urk_reactor_t *r, urk_conn_t conn, const void *data,
                     uint32_t len, uint32_t flags, uint64_t tag);
/* urk_send for each request (results in reqs[i].result). Returns how many
 * succeeded. */
URK_API int urk_send_batch(urk_reactor_t *r, urk_send_req_t *reqs, uint32_t n);
/* Graceful (abort 0: queued sends finish, then FIN) or abortive (abort 1:
 * RST, queued sends fail). URK_EV_CLOSED follows. */
URK_API int urk_close(urk_reactor_t *r, urk_conn_t conn, uint32_t abort);
/* Stops (pause 1) or resumes (pause 0) receiving on conn: backpressure for
 * a peer that sends faster than it reads. Data already received is still
 * delivered. */
URK_API int urk_conn_pause_recv(urk_reactor_t *r, urk_conn_t conn, uint32_t pause);
/* FIN after queued sends; reading goes on. */
URK_API int urk_shutdown_write(urk_reactor_t *r, urk_conn_t conn);
/* Opens an outgoing connection; *out gets its id at once. URK_EV_OPEN (with
 * tag) or URK_EV_CONNECT_FAILED follows. */
URK_API int urk_reactor_connect(urk_reactor_t *r, const urk_addr_t *addr,
                                uint64_t tag, urk_conn_t *out);
URK_API int urk_conn_peer(urk_reactor_t *r, urk_conn_t conn, urk_addr_t *out);
/* A caller value kept with the connection and echoed in the `user` field of
 * its URK_EV_DATA, URK_EV_WRITABLE, URK_EV_EOF and URK_EV_CLOSED events. Starts as the
 * urk_reactor_connect tag, or 0 for an accepted connection. */
URK_API int urk_conn_set_user(urk_reactor_t *r, urk_conn_t conn, uint64_t user);
URK_API int urk_conn_user(urk_reactor_t *r, urk_conn_t conn, uint64_t *user);
URK_API int urk_reactor_stats(const urk_reactor_t *r, urk_reactor_stats_t *out);
URK_API int urk_reactor_index(const urk_reactor_t *r);

/* ------------------------------------------------------------------------ */
/* Load generator                                                            */
/* ------------------------------------------------------------------------ */

typedef struct urk_loadgen urk_loadgen_t;

/* urk_loadgen_opts_t.framing */
#define URK_FRAME_FIXED 1 /* each response is response_len bytes        */
#define URK_FRAME_DELIM 2 /* each response ends with delim               */
#define URK_FRAME_HTTP 3  /* HTTP/1.x: Content-Length, chunked, close-
                             delimited; keep-alive and Connection: close */

/* urk_loadgen_opts_t.flags */
#define URK_LOAD_OPEN_LOOP (1u << 0) /* send at `rate`, latency measured
                                        from the intended send time       */

/* One kind of request of a scenario (urk_loadgen_opts_t.requests). */
typedef struct urk_loadgen_request {
    const void *data;          /* request bytes (copied) */
    uint32_t len;
    uint32_t weight;           /* share of the requests sent; 0 counts as 1 */
    uint32_t reserved[2];      /* must be 0 */
} urk_loadgen_request_t; /* size 24 */
#define URK_LOADGEN_MAX_REQUESTS 32

typedef struct urk_loadgen_opts {
    uint32_t struct_size;
    uint32_t flags;            /* URK_LOAD_* */
    const char *host;          /* numeric literal */
    uint16_t port;
    uint16_t framing;          /* URK_FRAME_*; default URK_FRAME_HTTP */
    uint32_t connections;      /* total, spread over threads; default 64 */
    uint32_t threads;          /* default 1 */
    uint32_t response_len;     /* URK_FRAME_FIXED */
    const void *request;       /* bytes sent per request (copied) */
    uint32_t request_len;
    uint32_t delim_len;
    const void *delim;         /* URK_FRAME_DELIM (copied) */
    uint64_t duration_ms;      /* 0: until max_requests */
    uint64_t max_requests;     /* 0: until duration */
    uint64_t rate;             /* open loop: requests per second, total */
    uint64_t timeout_ms;       /* per request/connect; 0: 5000 */
    int32_t cpu;               /* pin thread i to cpu + i; -1: no pinning */
    uint32_t reserved[7];
    /* UROCKET_0.2 */
    const urk_loadgen_request_t *requests; /* a scenario: several kinds of
                                  request, chosen by weight, counted apart
                                  (copied; `request` must then be NULL) */
    uint32_t nrequests;        /* 1..URK_LOADGEN_MAX_REQUESTS with requests */
    uint32_t ramp_ms;          /* connections start spread over this time */
} urk_loadgen_opts_t; /* size 136 */

typedef struct urk_loadgen_result {
    uint64_t requests;         /* requests sent */
    uint64_t responses;        /* complete responses received */
    uint64_t bytes_out;
    uint64_t bytes_in;
    uint64_t elapsed_ns;
    uint64_t err_connect;
    uint64_t err_read;         /* includes peer closes mid-response */
    uint64_t err_write;
    uint64_t err_timeout;
    uint64_t err_framing;
    uint64_t lat_min_ns;
    uint64_t lat_mean_ns;
    uint64_t lat_max_ns;
    uint64_t lat_p50_ns;
    uint64_t lat_p90_ns;
    uint64_t lat_p99_ns;
    uint64_t lat_p999_ns;
    uint64_t cpu_ns;           /* CPU time of the generator's threads */
    /* UROCKET_0.2: filled by urk_loadgen_result_ex only */
    uint64_t reconnects;       /* connections the server ended cleanly
                                  (Connection: close, HTTP/1.0, close-
                                  delimited body, close between responses),
                                  each replaced; not errors */
    uint64_t non2xx;           /* HTTP responses with a status outside
                                  200..299 (also counted in responses) */
    uint64_t lat_sum_ns;       /* sum of the recorded latencies */
} urk_loadgen_result_t; /* size 168 */
/* The 0.1 size of urk_loadgen_result_t (what urk_loadgen_result writes). */
#define URK_LOADGEN_RESULT_SIZE_0_1 144

/* The latency histogram (urk_loadgen_histogram): URK_LOADGEN_HIST_BUCKETS
 * counts; bucket i < 128 holds the value i (ns); above, with j = i - 128,
 * s = j / 128: values [(128 + j % 128) << s, ((129 + j % 128) << s) - 1].
 * Values of 2^44 ns and more land in the last bucket. Two runs' histograms
 * add bucket by bucket into the histogram of both. */
#define URK_LOADGEN_HIST_SUB_BITS 7
#define URK_LOADGEN_HIST_BUCKETS 4864

typedef struct urk_loadgen_second {
    uint64_t responses;
    uint64_t errors;
    uint64_t lat_p50_ns;
    uint64_t lat_p99_ns;
} urk_loadgen_second_t; /* size 32 */

URK_API int urk_loadgen_opts_init(urk_loadgen_opts_t *opts);
URK_API int urk_loadgen_create(const urk_loadgen_opts_t *opts, urk_loadgen_t **out);
/* Runs to completion on the calling thread plus threads-1 helpers. */
URK_API int urk_loadgen_run(urk_loadgen_t *lg);
/* Ends a run early. Any thread. */
URK_API int urk_loadgen_stop(urk_loadgen_t *lg);
/* Totals so far; any thread, during or after a run. */
URK_API int urk_loadgen_result(const urk_loadgen_t *lg, urk_loadgen_result_t *out);
/* Latency (ns) at quantile q_ppm (parts per million, 0..1000000). */
URK_API int urk_loadgen_percentile(const urk_loadgen_t *lg, uint32_t q_ppm,
                                   uint64_t *ns);
/* Copies up to max per-second samples; returns the number available. */
URK_API int urk_loadgen_timeline(const urk_loadgen_t *lg, urk_loadgen_second_t *out,
                                 uint32_t max);
URK_API void urk_loadgen_destroy(urk_loadgen_t *lg);
/* UROCKET_0.2. Totals as urk_loadgen_result, for a struct of `size` bytes
 * (sizeof(urk_loadgen_result_t) of the caller's header; at least
 * URK_LOADGEN_RESULT_SIZE_0_1, a multiple of 8): fills the fields this
 * library knows, zeroes the rest. */
URK_API int urk_loadgen_result_ex(const urk_loadgen_t *lg, urk_loadgen_result_t *out,
                                  uint32_t size);
/* UROCKET_0.2. HTTP responses by status code, ascending: up to max (code,
 * count) pairs; returns the number of distinct codes seen. */
URK_API int urk_loadgen_status(const urk_loadgen_t *lg, uint32_t *codes, uint64_t *counts,
                               uint32_t max);
/* UROCKET_0.2. Copies up to max latency histogram buckets (layout above);
 * returns URK_LOADGEN_HIST_BUCKETS. */
URK_API int urk_loadgen_histogram(const urk_loadgen_t *lg, uint64_t *counts, uint32_t max);
/* UROCKET_0.2. The same three for request kind `index` of a scenario
 * (0..nrequests-1): its requests, responses, errors by kind, latency and
 * non2xx (elapsed_ns and cpu_ns are the run's; bytes and reconnects are
 * not split: 0). -EINVAL for an index out of range or no scenario. */
URK_API int urk_loadgen_request_result(const urk_loadgen_t *lg, uint32_t index,
                                       urk_loadgen_result_t *out, uint32_t size);
URK_API int urk_loadgen_request_status(const urk_loadgen_t *lg, uint32_t index, uint32_t *codes,
                                       uint64_t *counts, uint32_t max);
URK_API int urk_loadgen_request_histogram(const urk_loadgen_t *lg, uint32_t index,
                                          uint64_t *counts, uint32_t max);

#ifdef __cplusplus
}
#endif
#endif /* UROCKET_H */

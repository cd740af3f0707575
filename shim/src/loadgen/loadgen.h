/* loadgen.h - internals of the load generator (shim/src/loadgen/): the
 * latency histogram, the response framing parser, and the run's shared
 * state. Nothing here is ABI.
 *
 * The load generator: many client connections on io_uring, one
 * ring per thread, closed or open loop, exact request counts, a latency
 * histogram with bounded relative error and a per-second timeline.
 *
 * Per connection: a connect, then one multishot recv on the thread's
 * provided-buffer ring for the connection's life, and at most one send in
 * flight (two sends on one socket may interleave). A failed connection is cancelled, drained of
 * its own completions, closed and reconnected (backing off while it keeps
 * failing), so a completion can never reach a later socket in its slot.
 *
 * Open loop: request k of thread i (of T) is due at t0 + (k*T + i)/rate. A
 * due request waits for a free connection and its latency runs from the due
 * time, so a slow server cannot hide its stalls (no coordinated omission).
 *
 * max_requests N: a request that fails (error, timeout, peer close) is
 * retried on another attempt, so exactly N responses are counted and a
 * clean run sends exactly N requests. With no duration, the run gives up
 * once max_requests + connections errors were counted.
 *
 * Run phases: every thread first connects its connections (bounded by
 * min(timeout, 1 s); not measured), then all start together at t0, from
 * which elapsed_ns, the duration and the timeline count.
 *
 * Errors: err_connect: connect failed or timed out (and socket() failures);
 * err_read: recv error, or the peer closed with a request outstanding, a
 * response half read or before any response (a close after a response is
 * a normal keep-alive close: counted in reconnects, not an error); err_write: send failed; err_timeout:
 * no complete response within timeout_ms of the send; err_framing: the
 * bytes do not parse (see loadgen_frame.c) or arrive
 * with no request outstanding. Each closes and replaces the connection.
 *
 * Files: loadgen_api.c (options, create, results), loadgen_conn.c (one
 * connection's life and its completions), loadgen_run.c (threads, start
 * barrier, timeline), loadgen_frame.c (framing), loadgen_histogram.c. */
#ifndef URK_LOADGEN_H
#define URK_LOADGEN_H
#include "../internal.h"

#include <pthread.h>
#include <unistd.h>

/* Latency histogram, log-linear like HdrHistogram: values below 128 get a
 * bucket each; every range [2^k, 2^(k+1)) above is split into 128 linear
 * sub-buckets, so a bucket is at most 1/128 (< 0.8%) of its value wide.
 * Values of 2^44 ns (~4.9 h) and more land in the last bucket. One thread
 * records (relaxed load + store, no locked instruction); any thread may read
 * at the same time (a snapshot may be a few samples behind). */
#define URK_HIST_SUB_BITS 7
#define URK_HIST_SUB (1u << URK_HIST_SUB_BITS)
#define URK_HIST_MAX_BITS 44
#define URK_HIST_BUCKETS (URK_HIST_SUB + (URK_HIST_MAX_BITS - URK_HIST_SUB_BITS) * URK_HIST_SUB)

typedef struct urk_hist {
    _Atomic uint64_t total, sum, min, max;
    _Atomic uint64_t counts[URK_HIST_BUCKETS];
} urk_hist_t;

void urk__hist_init(urk_hist_t *h);
void urk__hist_record(urk_hist_t *h, uint64_t value);
/* dst += src. dst must not be written by anyone else meanwhile. */
void urk__hist_merge(urk_hist_t *dst, const urk_hist_t *src);
/* Value at quantile q_ppm (0..1000000): the highest value of the bucket
 * holding that rank, clamped to [min, max]; so never below the true value
 * and at most 1/128 above it. 0 when empty. */
uint64_t urk__hist_percentile(const urk_hist_t *h, uint32_t q_ppm);
uint32_t urk__hist_index(uint64_t value);
uint64_t urk__hist_bucket_high(uint32_t index);

/* Response framing: an incremental parser fed any split of the byte stream.
 * urk__lg_parse_step consumes data up to the end of the next complete
 * response: it returns 1 with *used the bytes consumed and p->resp_status /
 * p->resp_close describing that response, 0 with *used = len when the bytes
 * end inside a response, or -URK_EFRAMING (sticky: every later call fails
 * too). urk__lg_parse feeds all `len` bytes and returns the number of
 * responses completed. Neither reads outside data[0..len) nor keeps a
 * pointer to it. urk__lg_parse_eof tells the parser the peer closed: 1 when
 * that completed a close-delimited response, 0 when the parser was between
 * responses, -URK_EFRAMING when a response was cut short.
 * HTTP: "HTTP/1.x NNN" status line (NNN 100..999), headers (names
 * case-insensitive, lines ending in CRLF or LF), a blank line, then the
 * body: none for HEAD requests, 1xx, 204 and 304; chunked when the last
 * Transfer-Encoding coding is "chunked" (chunk extensions and trailers
 * skipped); else Content-Length bytes; else (no length, or another
 * transfer coding) everything until the peer closes. 1xx interim responses
 * (except 101) are skipped. resp_close: the server ends the connection after
 * this response (Connection: close, HTTP/1.0 without keep-alive, or a
 * close-delimited body); a byte after such a response is a framing error.
 * Framing errors also: a bad status line, a header line without ':', bad or
 * conflicting Content-Length, a bad chunk size, 101, a head or trailer over
 * 64 KiB. */
typedef struct urk_lg_framing {
    uint32_t kind;            /* URK_FRAME_* */
    uint32_t response_len;    /* FIXED */
    const uint8_t *delim;     /* DELIM */
    const uint32_t *fallback; /* DELIM: KMP failure table, delim_len entries */
    uint32_t delim_len;
    uint32_t no_body;         /* HTTP: requests are HEAD */
} urk_lg_framing_t;

#define URK_LG_LINE_CAP 64
typedef struct urk_lg_parser {
    const urk_lg_framing_t *f;
    uint64_t need;         /* FIXED, body, chunk data: bytes still to come */
    uint64_t content_length;
    uint32_t state;
    uint32_t matched;      /* DELIM: bytes of delim matched */
    uint32_t line_len;     /* HTTP: bytes in the current head/trailer line */
    uint32_t line_no;      /* HTTP: 0 = status line */
    uint32_t head_bytes;   /* HTTP: bytes of the current head (or trailers) */
    uint32_t status;
    uint8_t have_length, chunked, te_other, conn_close, conn_keep, http10;
    uint8_t digits, cr;    /* chunk size line: hex digits seen; CR seen */
    uint32_t partial;      /* bytes seen since the last complete response */
    uint32_t no_body;      /* this request is HEAD (set per request) */
    uint32_t resp_status;  /* of the response step/eof just completed */
    uint32_t resp_close;
    char line[URK_LG_LINE_CAP];
} urk_lg_parser_t;

/* Builds the DELIM failure table (freed with urk__lg_framing_free). */
int urk__lg_framing_init(urk_lg_framing_t *f, uint32_t kind, uint32_t response_len,
                         const uint8_t *delim, uint32_t delim_len, uint32_t no_body);
void urk__lg_framing_free(urk_lg_framing_t *f);
void urk__lg_parser_init(urk_lg_parser_t *p, const urk_lg_framing_t *f);
int urk__lg_parse_step(urk_lg_parser_t *p, const uint8_t *data, size_t len, size_t *used);
int urk__lg_parse(urk_lg_parser_t *p, const uint8_t *data, size_t len);
int urk__lg_parse_eof(urk_lg_parser_t *p);
/* 1 when the parser sits between responses with no partial bytes (also
 * after a resp_close response). */
int urk__lg_parser_idle(const urk_lg_parser_t *p);


#define LG_MAX_THREADS 64
#define LG_MAX_CONNS (1u << 20)
#define LG_MAX_DELIM 65536u
#define LG_STATUS_CODES 1000 /* status codes are three digits */
#define LG_TL_WINDOW 8        /* seconds the timeline waits for slow threads */
#define LG_BATCH 256
#define LG_BUF_SIZE 8192
#define LG_GROUP 1
#define LG_NONE UINT32_MAX
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define LG_DRAIN_NS (1000 * NS_PER_MS)
#define LG_BACKOFF_MAX_NS (250 * NS_PER_MS)

#define RELAXED memory_order_relaxed

/* user_data: kind (8 bits) | connection index within the thread. */
enum lg_kind { K_CONNECT = 1, K_RECV, K_SEND, K_CANCEL, K_STOP, K_CANCEL_ALL };
#define LG_UD(kind, idx) (((uint64_t)(kind) << 56) | (uint64_t)(idx))

enum lg_err { E_NONE = 0, E_CONNECT, E_READ, E_WRITE, E_TIMEOUT, E_FRAMING };

enum lg_conn_state { C_IDLE_SLOT = 0, C_CONNECTING, C_READY, C_CLOSING, C_BACKOFF };

/* Live totals of one thread: written by that thread only (relaxed load +
 * store), read by urk_loadgen_result from anywhere. */
typedef struct lg_counters {
    _Alignas(64) _Atomic uint64_t requests;
    _Atomic uint64_t responses, bytes_out, bytes_in;
    _Atomic uint64_t err[E_FRAMING + 1];
    _Atomic uint64_t cpu_ns;
    _Atomic uint64_t reconnects;
    _Atomic uint64_t status[LG_STATUS_CODES]; /* HTTP responses by status code */
    urk_hist_t hist;
} lg_counters_t;

/* One kind of request (a scenario has several; a plain run has one). */
typedef struct lg_template {
    uint8_t *data;
    uint32_t len, weight, no_body;
} lg_template_t;

/* Per request kind of a scenario, per thread (scenario runs only). */
typedef struct lg_tcounters {
    _Alignas(64) _Atomic uint64_t requests;
    _Atomic uint64_t responses;
    _Atomic uint64_t err[E_FRAMING + 1];
    _Atomic uint64_t status[LG_STATUS_CODES];
    urk_hist_t hist;
} lg_tcounters_t;

typedef struct lg_conn {
    int fd;
    uint32_t index;
    uint8_t state;
    uint8_t recv_armed, send_busy, send_pending, outstanding, starved, idle;
    uint32_t ops;    /* this connection's ops in flight (incl. its cancel) */
    uint32_t sent;   /* bytes of the current request sent */
    uint32_t streak; /* failures since the last response */
    uint32_t idle_prev, idle_next;
    uint64_t issued_ns, intended_ns;
    uint64_t deadline_ns; /* connect or response deadline */
    uint64_t reconnect_ns;
    uint64_t start_ns; /* ramp: not connected before this time (0: no wait) */
    uint32_t tmpl;     /* request kind of the current request */
    uint32_t send_tmpl; /* request kind of the request being written */
    uint32_t served;    /* responses on this socket */
    urk_lg_parser_t parser;
} lg_conn_t;

struct urk_loadgen;

typedef struct lg_thread {
    struct urk_loadgen *lg;
    uint32_t index;
    lg_counters_t *ctr;
    lg_tcounters_t *tctr; /* scenario: this thread's ntmpl counters */
    int64_t *swrr;        /* smooth weighted round robin over request kinds */
    urk_ring_t *ring;
    urk_bufring_t *br;
    uint32_t low_water;
    lg_conn_t *conns;
    uint32_t nconns;
    uint32_t idle_head;
    uint32_t nstarved;
    uint32_t nconnecting;
    uint32_t ops; /* every op in flight on the ring */
    int draining;
    int rc;
    uint64_t now, t0, end_ns, scan_ns, next_scan;
    uint64_t cpu0;
    /* open loop */
    uint64_t sched_k, quota;
    uint64_t *retry;
    uint32_t retry_head, retry_n, retry_cap;
    /* timeline */
    urk_hist_t *sec_hist;
    uint64_t sec, sec_resp0, sec_err0;
    pthread_t tid;
    uint32_t nbids;
    uint16_t bids[LG_BATCH];
} lg_thread_t;

typedef struct lg_pending_second {
    uint64_t sec, responses, errors;
    uint32_t flushed, used;
    urk_hist_t *hist;
} lg_pending_second_t;

struct urk_loadgen {
    urk_loadgen_opts_t o;
    urk_addr_t addr;
    lg_template_t *tmpl; /* ntmpl request kinds */
    uint32_t ntmpl;
    uint32_t scenario;   /* opts.requests given: per-kind results kept */
    lg_tcounters_t *tctr; /* scenario: nthreads * ntmpl */
    uint64_t ramp_ns;
    uint8_t *delim;
    urk_lg_framing_t framing;
    uint32_t nthreads;
    lg_counters_t *ctr;
    int stop_fd;
    uint64_t timeout_ns;
    uint64_t error_budget; /* 0: none */
    _Atomic int stop;
    _Atomic int state;    /* 0 new, 1 running, 2 done */
    _Atomic int fatal;    /* first setup error of a run */
    _Atomic int finished; /* `final` is valid */
    _Atomic uint64_t t0, end_ns;
    _Atomic uint64_t responses; /* global, for max_requests */
    _Atomic uint64_t tickets;   /* closed loop: requests not failed */
    _Atomic uint64_t errors;
    /* start barrier: a thread that was never created is subtracted */
    pthread_mutex_t bar_lock;
    pthread_cond_t bar_cond;
    uint32_t bar_expected, bar_arrived;
    uint64_t bar_t0;
    /* timeline */
    pthread_mutex_t tl_lock;
    urk_loadgen_second_t *tl;
    uint32_t tl_n, tl_cap;
    lg_pending_second_t pend[LG_TL_WINDOW];
    urk_hist_t *final;
};

/* ---- small helpers ---- */

static inline void bump(_Atomic uint64_t *p, uint64_t d)
{
    atomic_store_explicit(p, atomic_load_explicit(p, RELAXED) + d, RELAXED);
}

static inline uint64_t rd(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, RELAXED);
}

static inline uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static inline uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static inline uint32_t pow2_clamp(uint64_t v, uint32_t lo, uint32_t hi)
{
    uint32_t p = lo;
    while (p < v && p < hi)
        p <<= 1;
    return p;
}

static inline void signal_stop(struct urk_loadgen *lg)
{
    atomic_store(&lg->stop, 1);
    uint64_t one = 1;
    /* The eventfd only ever needs to be readable; EAGAIN means it already
     * is (counter saturated), so the result does not matter. */
    ssize_t n = write(lg->stop_fd, &one, sizeof one);
    URK_UNUSED(n);
}

static inline int stopping(const lg_thread_t *t)
{
    return atomic_load_explicit(&t->lg->stop, RELAXED) || t->now >= t->end_ns;
}

static inline int open_loop(const lg_thread_t *t)
{
    return (t->lg->o.flags & URK_LOAD_OPEN_LOOP) != 0;
}

/* loadgen_conn.c */
void urk__lg_count_err(lg_thread_t *t, int kind);
void urk__lg_idle_push(lg_thread_t *t, lg_conn_t *c);
void urk__lg_op_started(lg_thread_t *t, lg_conn_t *c);
uint64_t urk__lg_sched_time(const lg_thread_t *t, uint64_t k);
void urk__lg_dispatch(lg_thread_t *t);
void urk__lg_conn_connect(lg_thread_t *t, lg_conn_t *c);
int urk__lg_pump(lg_thread_t *t, uint64_t wait_ns);
void urk__lg_scan(lg_thread_t *t);
/* loadgen_run.c */
uint64_t urk__lg_thread_errors(const lg_counters_t *c);
void urk__lg_tl_flush(struct urk_loadgen *lg, uint64_t sec, const urk_hist_t *h,
                      uint64_t responses, uint64_t errors);

#endif

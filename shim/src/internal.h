/* internal.h - what the load generator and the top-level files (addr.c,
 * error.c) include: the ring layer's header plus the load generator's own
 * declarations. The engine has its own header (engine/engine.h). Nothing
 * here is ABI. */
#ifndef URK_INTERNAL_H
#define URK_INTERNAL_H

#include "uring/uring.h"

/* ======================================================================== */
/* ---- loadgen (owned by the load generator: loadgen.c, loadgen_frame.c,   */
/*      histogram.c) ----                                                   */
/* ======================================================================== */

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
 * urk__lg_parse consumes all `len` bytes and returns the number of responses
 * completed inside them, or -URK_EFRAMING (sticky: every later call fails
 * too). It never reads outside data[0..len) and keeps no pointer to it.
 * HTTP: "HTTP/1.x NNN" status line, headers (names case-insensitive, lines
 * ending in CRLF or LF), a blank line, then Content-Length bytes of body.
 * 204/304 and responses to HEAD have no body; 1xx interim responses (except
 * 101) are skipped. Framing errors: Transfer-Encoding (chunked is not
 * supported), a missing Content-Length where a body is allowed, bad or
 * conflicting Content-Length, 101, a head over 64 KiB. */
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
    uint64_t need;         /* FIXED/HTTP body: bytes still to come */
    uint64_t content_length;
    uint32_t state;
    uint32_t matched;      /* DELIM: bytes of delim matched */
    uint32_t line_len;     /* HTTP: bytes in the current head line */
    uint32_t line_no;      /* HTTP: 0 = status line */
    uint32_t head_bytes;   /* HTTP: bytes of the current head */
    uint32_t status;
    uint32_t have_length;
    uint32_t partial;      /* bytes seen since the last complete response */
    char line[URK_LG_LINE_CAP];
} urk_lg_parser_t;

/* Builds the DELIM failure table (freed with urk__lg_framing_free). */
int urk__lg_framing_init(urk_lg_framing_t *f, uint32_t kind, uint32_t response_len,
                         const uint8_t *delim, uint32_t delim_len, uint32_t no_body);
void urk__lg_framing_free(urk_lg_framing_t *f);
void urk__lg_parser_init(urk_lg_parser_t *p, const urk_lg_framing_t *f);
int urk__lg_parse(urk_lg_parser_t *p, const uint8_t *data, size_t len);
/* 1 when the parser sits between responses with no partial bytes. */
int urk__lg_parser_idle(const urk_lg_parser_t *p);

/* ---- end loadgen ---- */

#endif

/* loadgen_frame.c - incremental response framing for the load generator.
 * A byte-at-a-time state machine (bulk copies only inside bodies), so a
 * response split at any byte across receive completions parses the same as
 * one delivered whole. Self-contained (libc + loadgen.h declarations) so
 * tests and fuzzers can build it alone. The rules are in loadgen.h. */
#include "loadgen.h"

#include <stdlib.h>

enum {
    P_LINE = 0,       /* HTTP: inside a head line (status line or header) */
    P_BODY = 1,       /* Content-Length body */
    P_ERROR = 2,      /* sticky failure */
    P_CHUNK_SIZE = 3, /* chunk-size line, extensions included */
    P_CHUNK_DATA = 4,
    P_CHUNK_END = 5,  /* the CRLF after chunk data */
    P_TRAILER = 6,    /* trailer lines after the last chunk */
    P_EOF_BODY = 7,   /* close-delimited body: everything until the close */
    P_CLOSED = 8,     /* after a resp_close response: no byte may follow */
};

#define HEAD_LIMIT (64u * 1024u)
#define LENGTH_LIMIT (1ull << 40) /* a larger Content-Length or chunk is garbage */

int urk__lg_framing_init(urk_lg_framing_t *f, uint32_t kind, uint32_t response_len,
                         const uint8_t *delim, uint32_t delim_len, uint32_t no_body)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->response_len = response_len;
    f->no_body = no_body ? 1 : 0;
    if (kind == URK_FRAME_FIXED)
        return response_len ? 0 : -EINVAL;
    if (kind == URK_FRAME_HTTP)
        return 0;
    if (kind != URK_FRAME_DELIM || !delim || !delim_len)
        return -EINVAL;
    uint32_t *fb = malloc((size_t)delim_len * sizeof *fb);
    if (!fb)
        return -ENOMEM;
    /* KMP failure table: fb[i] = length of the longest proper prefix of
     * delim[0..i] that is also its suffix. Needed so "aab" is found in
     * "aaab" even when the stream splits between the a's. */
    fb[0] = 0;
    for (uint32_t i = 1, k = 0; i < delim_len; i++) {
        while (k && delim[i] != delim[k])
            k = fb[k - 1];
        if (delim[i] == delim[k])
            k++;
        fb[i] = k;
    }
    f->delim = delim;
    f->delim_len = delim_len;
    f->fallback = fb;
    return 0;
}

void urk__lg_framing_free(urk_lg_framing_t *f)
{
    if (!f)
        return;
    free((void *)(uintptr_t)f->fallback);
    f->fallback = NULL;
}

static void start_head(urk_lg_parser_t *p)
{
    p->state = P_LINE;
    p->line_no = 0;
    p->line_len = 0;
    p->head_bytes = 0;
    p->have_length = p->chunked = p->te_other = 0;
    p->conn_close = p->conn_keep = p->http10 = 0;
    p->content_length = 0;
    p->status = 0;
}

void urk__lg_parser_init(urk_lg_parser_t *p, const urk_lg_framing_t *f)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->no_body = f->no_body;
    start_head(p);
    if (f->kind == URK_FRAME_FIXED)
        p->need = f->response_len;
}

int urk__lg_parser_idle(const urk_lg_parser_t *p)
{
    return p->state != P_ERROR && !p->partial;
}

static int fail(urk_lg_parser_t *p)
{
    p->state = P_ERROR;
    return -URK_EFRAMING;
}

/* ---- FIXED and DELIM ---- */

static int step_fixed(urk_lg_parser_t *p, size_t len, size_t *used)
{
    uint64_t take = p->need < len ? p->need : len;
    p->need -= take;
    *used = (size_t)take;
    p->partial = 1;
    if (p->need)
        return 0;
    p->need = p->f->response_len;
    p->partial = 0;
    return 1;
}

static int step_delim(urk_lg_parser_t *p, const uint8_t *data, size_t len, size_t *used)
{
    const uint8_t *d = p->f->delim;
    const uint32_t *fb = p->f->fallback;
    uint32_t n = p->f->delim_len, k = p->matched;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        while (k && d[k] != c)
            k = fb[k - 1];
        if (d[k] == c)
            k++;
        p->partial = 1;
        if (k == n) {
            /* Responses do not overlap: matching restarts after one. */
            p->matched = 0;
            p->partial = 0;
            *used = i + 1;
            return 1;
        }
    }
    p->matched = k;
    *used = len;
    return 0;
}

/* ---- HTTP head ---- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ows(int c) { return c == ' ' || c == '\t'; }

static int hex_value(int c)
{
    if (is_digit(c))
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Case-insensitive: does line[0..n) begin with the header name `name`
 * followed by ':'? */
static int header_is(const char *line, uint32_t n, const char *name)
{
    uint32_t i = 0;
    for (; name[i]; i++)
        if (i >= n || lower((unsigned char)line[i]) != name[i])
            return 0;
    return i < n && line[i] == ':';
}

/* Case-insensitive comparison of a token with a lower-case word. */
static int token_is(const char *t, uint32_t n, const char *word)
{
    uint32_t i = 0;
    for (; i < n && word[i]; i++)
        if (lower((unsigned char)t[i]) != word[i])
            return 0;
    return i == n && !word[i];
}

static int status_line(urk_lg_parser_t *p, uint32_t n)
{
    const char *l = p->line;
    /* "HTTP/1.x NNN" then end of line or " reason" */
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || !is_digit(l[7]) || l[8] != ' ' ||
        !is_digit(l[9]) || !is_digit(l[10]) || !is_digit(l[11]))
        return -1;
    if (n > 12 && l[12] != ' ')
        return -1;
    p->status = (uint32_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
    if (p->status < 100)
        return -1;
    p->http10 = l[7] == '0';
    return 0;
}

static int content_length(urk_lg_parser_t *p, const char *l, uint32_t n, int truncated)
{
    if (truncated)
        return -1; /* a sane Content-Length line fits in the capture */
    uint32_t i = sizeof "content-length";
    while (i < n && is_ows(l[i]))
        i++;
    if (i == n || !is_digit(l[i]))
        return -1;
    uint64_t v = 0;
    while (i < n && is_digit(l[i])) {
        v = v * 10 + (uint64_t)(l[i] - '0');
        if (v > LENGTH_LIMIT)
            return -1;
        i++;
    }
    while (i < n && is_ows(l[i]))
        i++;
    if (i != n)
        return -1; /* "5, 5", trailing junk */
    if (p->have_length && p->content_length != v)
        return -1;
    p->have_length = 1;
    p->content_length = v;
    return 0;
}

/* Calls fn on each comma-separated token of the header value starting at
 * l[i]; with `truncated`, the last token may be cut and is skipped. */
static void each_token(urk_lg_parser_t *p, const char *l, uint32_t i, uint32_t n, int truncated,
                       void (*fn)(urk_lg_parser_t *, const char *, uint32_t, int))
{
    while (i < n) {
        while (i < n && (is_ows(l[i]) || l[i] == ','))
            i++;
        uint32_t s = i;
        while (i < n && l[i] != ',')
            i++;
        uint32_t e = i;
        while (e > s && is_ows(l[e - 1]))
            e--;
        if (e > s && !(truncated && i == n))
            fn(p, l + s, e - s, i == n);
    }
}

static void connection_token(urk_lg_parser_t *p, const char *t, uint32_t n, int last)
{
    URK_UNUSED(last);
    if (token_is(t, n, "close"))
        p->conn_close = 1;
    else if (token_is(t, n, "keep-alive"))
        p->conn_keep = 1;
}

static void coding_token(urk_lg_parser_t *p, const char *t, uint32_t n, int last)
{
    if (!last)
        return;
    /* Only the final coding decides the framing (RFC 9112 6.3). */
    p->chunked = token_is(t, n, "chunked");
    p->te_other = !p->chunked;
}

static int header_line(urk_lg_parser_t *p, uint32_t n, int truncated)
{
    const char *l = p->line;
    if (header_is(l, n, "content-length"))
        return content_length(p, l, n, truncated);
    if (header_is(l, n, "transfer-encoding")) {
        if (truncated)
            return -1; /* codings longer than the capture: cannot tell */
        p->chunked = p->te_other = 0;
        each_token(p, l, sizeof "transfer-encoding", n, 0, coding_token);
        if (!p->chunked && !p->te_other)
            return -1; /* empty value */
        return 0;
    }
    if (header_is(l, n, "connection")) {
        each_token(p, l, sizeof "connection", n, truncated, connection_token);
        return 0;
    }
    /* Any other header: require a name followed by ':' somewhere, unless
     * the captured prefix is too short to tell. */
    if (truncated || memchr(l, ':', n))
        return 0;
    return -1;
}

/* The response just completed: record it and get ready for the next. */
static int finish(urk_lg_parser_t *p, int close)
{
    p->resp_status = p->status;
    p->resp_close = (uint32_t)close;
    p->partial = 0;
    if (close)
        p->state = P_CLOSED;
    else
        start_head(p);
    return 1;
}

static int end_of_head(urk_lg_parser_t *p)
{
    int close = p->conn_close || (p->http10 && !p->conn_keep);
    if (p->status < 200) {
        if (p->status == 101)
            return -1; /* a protocol switch cannot be load-tested */
        start_head(p); /* interim response: the real one follows */
        return 0;
    }
    if (p->no_body || p->status == 204 || p->status == 304)
        return finish(p, close);
    if (p->chunked) {
        p->state = P_CHUNK_SIZE;
        p->need = 0;
        p->digits = p->cr = 0;
        p->head_bytes = 0;
        return 0;
    }
    if (p->te_other || !p->have_length) {
        p->state = P_EOF_BODY;
        return 0;
    }
    if (p->content_length == 0)
        return finish(p, close);
    p->need = p->content_length;
    p->state = P_BODY;
    return 0;
}

/* A complete head or trailer line (terminator stripped) in p->line;
 * returns 1 when a response completed, 0 to go on, -1 on a framing error. */
static int end_of_line(urk_lg_parser_t *p)
{
    uint32_t n = p->line_len;
    /* A long line keeps only its first URK_LG_LINE_CAP bytes: enough for the
     * status code and a header name; a blank line is never truncated. */
    int truncated = n > URK_LG_LINE_CAP;
    if (truncated)
        n = URK_LG_LINE_CAP;
    else if (n && p->line[n - 1] == '\r')
        n--;
    p->line_len = 0;
    if (p->state == P_TRAILER) {
        if (n == 0)
            return finish(p, p->conn_close || (p->http10 && !p->conn_keep));
        return truncated || memchr(p->line, ':', n) ? 0 : -1;
    }
    if (p->line_no++ == 0)
        return status_line(p, n) ? -1 : 0;
    if (n)
        return header_line(p, n, truncated) ? -1 : 0;
    return end_of_head(p);
}

/* One byte of a chunk-size line: hex digits, then optional whitespace and
 * ";ext" up to LF. p->cr: 1 past the digits, 2 inside the extensions. */
static int chunk_size_byte(urk_lg_parser_t *p, uint8_t c)
{
    if (++p->head_bytes > HEAD_LIMIT)
        return -1;
    if (c == '\n') {
        if (!p->digits)
            return -1;
        if (p->need == 0) {
            p->state = P_TRAILER; /* last chunk: trailers, then a blank line */
            p->line_len = 0;
            p->head_bytes = 0;
            return 0;
        }
        p->state = P_CHUNK_DATA;
        return 0;
    }
    int v = p->cr ? -1 : hex_value(c);
    if (v >= 0) {
        p->need = p->need * 16 + (uint64_t)v;
        if (p->need > LENGTH_LIMIT)
            return -1;
        p->digits = 1;
        return 0;
    }
    if (p->cr == 2)
        return 0; /* extension bytes are skipped up to LF */
    if (!p->digits)
        return -1;
    if (c == ';')
        p->cr = 2;
    else if (is_ows(c) || c == '\r')
        p->cr = 1;
    else
        return -1;
    return 0;
}

static int step_http(urk_lg_parser_t *p, const uint8_t *data, size_t len, size_t *used)
{
    size_t i = 0;
    while (i < len) {
        uint32_t st = p->state;
        if (st == P_BODY || st == P_CHUNK_DATA) {
            size_t left = len - i;
            uint64_t take = p->need < left ? p->need : left;
            p->need -= take;
            i += (size_t)take;
            if (p->need)
                continue;
            if (st == P_BODY) {
                *used = i;
                return finish(p, p->conn_close || (p->http10 && !p->conn_keep));
            }
            p->state = P_CHUNK_END;
            p->cr = 0;
            continue;
        }
        if (st == P_EOF_BODY) {
            i = len; /* ends when the peer closes */
            continue;
        }
        if (st == P_CLOSED)
            return fail(p);
        uint8_t c = data[i++];
        p->partial = 1;
        if (st == P_CHUNK_END) {
            if (c == '\r' && !p->cr) {
                p->cr = 1;
            } else if (c == '\n') {
                p->state = P_CHUNK_SIZE;
                p->need = 0;
                p->digits = p->cr = 0;
                p->head_bytes = 0;
            } else {
                return fail(p);
            }
            continue;
        }
        if (st == P_CHUNK_SIZE) {
            if (chunk_size_byte(p, c) < 0)
                return fail(p);
            continue;
        }
        /* P_LINE or P_TRAILER */
        if (++p->head_bytes > HEAD_LIMIT)
            return fail(p);
        if (c == '\n') {
            int r = end_of_line(p);
            if (r < 0)
                return fail(p);
            if (r > 0) {
                *used = i;
                return 1;
            }
            continue;
        }
        /* Garbage instead of a status line is caught at its first byte. */
        if (st == P_LINE && p->line_no == 0 && p->line_len < 5 &&
            c != (uint8_t)"HTTP/"[p->line_len])
            return fail(p);
        if (p->line_len < URK_LG_LINE_CAP)
            p->line[p->line_len] = (char)c;
        p->line_len++;
    }
    *used = len;
    return 0;
}

int urk__lg_parse_step(urk_lg_parser_t *p, const uint8_t *data, size_t len, size_t *used)
{
    *used = 0;
    if (p->state == P_ERROR)
        return -URK_EFRAMING;
    if (!len)
        return 0;
    if (!data || len > (size_t)INT32_MAX)
        return fail(p);
    switch (p->f->kind) {
    case URK_FRAME_FIXED:
        return step_fixed(p, len, used);
    case URK_FRAME_DELIM:
        return step_delim(p, data, len, used);
    case URK_FRAME_HTTP:
        return step_http(p, data, len, used);
    default:
        return fail(p);
    }
}

int urk__lg_parse(urk_lg_parser_t *p, const uint8_t *data, size_t len)
{
    int done = 0;
    size_t off = 0;
    do {
        size_t used;
        int r = urk__lg_parse_step(p, data ? data + off : NULL, len - off, &used);
        if (r < 0)
            return r;
        off += used;
        if (r == 0)
            break;
        done++;
    } while (off < len);
    return done;
}

int urk__lg_parse_eof(urk_lg_parser_t *p)
{
    if (p->state == P_ERROR)
        return -URK_EFRAMING;
    if (p->f->kind == URK_FRAME_HTTP && p->state == P_EOF_BODY)
        return finish(p, 1);
    if (p->partial)
        return fail(p); /* cut short */
    return 0;
}

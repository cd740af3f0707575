/* loadgen_frame.c - incremental response framing for the load generator.
 * A byte-at-a-time state machine, so a response split at any byte across
 * receive completions parses the same as one delivered whole. Self-contained
 * (libc + internal.h declarations) so tests and fuzzers can build it alone. */
#include "loadgen.h"

#include <stdlib.h>

enum {
    P_LINE = 0,  /* HTTP: inside a head line (status line or header) */
    P_BODY = 1,  /* HTTP: inside a Content-Length body */
    P_ERROR = 2, /* sticky failure */
};

#define HEAD_LIMIT (64u * 1024u)
#define LENGTH_LIMIT (1ull << 40) /* a larger Content-Length is garbage */

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

void urk__lg_parser_init(urk_lg_parser_t *p, const urk_lg_framing_t *f)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->state = P_LINE;
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

static int parse_fixed(urk_lg_parser_t *p, const uint8_t *data, size_t len)
{
    URK_UNUSED(data);
    int done = 0;
    while (len) {
        uint64_t take = p->need < len ? p->need : len;
        p->need -= take;
        len -= (size_t)take;
        p->partial = 1;
        if (p->need == 0) {
            done++;
            p->need = p->f->response_len;
            p->partial = 0;
        }
    }
    return done;
}

static int parse_delim(urk_lg_parser_t *p, const uint8_t *data, size_t len)
{
    const uint8_t *d = p->f->delim;
    const uint32_t *fb = p->f->fallback;
    uint32_t n = p->f->delim_len, k = p->matched;
    int done = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        while (k && d[k] != c)
            k = fb[k - 1];
        if (d[k] == c)
            k++;
        p->partial = 1;
        if (k == n) {
            /* Responses do not overlap: matching restarts after one. */
            done++;
            k = 0;
            p->partial = 0;
        }
    }
    p->matched = k;
    return done;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

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

static int is_digit(int c) { return c >= '0' && c <= '9'; }

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
    return 0;
}

static int header_line(urk_lg_parser_t *p, uint32_t n, int truncated)
{
    const char *l = p->line;
    if (header_is(l, n, "transfer-encoding"))
        return -1; /* chunked (or any coding) is not supported */
    if (!header_is(l, n, "content-length")) {
        /* Any other header: require a name followed by ':' somewhere, unless
         * the captured prefix is too short to tell. */
        if (truncated || memchr(l, ':', n))
            return 0;
        return -1;
    }
    if (truncated)
        return -1; /* a sane Content-Length line fits in the capture */
    uint32_t i = sizeof "content-length";
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
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
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    if (i != n)
        return -1; /* "5, 5", trailing junk */
    if (p->have_length && p->content_length != v)
        return -1;
    p->have_length = 1;
    p->content_length = v;
    return 0;
}

static void start_head(urk_lg_parser_t *p)
{
    p->state = P_LINE;
    p->line_no = 0;
    p->line_len = 0;
    p->head_bytes = 0;
    p->have_length = 0;
    p->content_length = 0;
    p->status = 0;
}

/* A complete head line (terminator stripped) in p->line; returns 1 when a
 * response completed, 0 to go on, -1 on a framing error. */
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
    if (p->line_no++ == 0)
        return status_line(p, n) ? -1 : 0;
    if (n)
        return header_line(p, n, truncated) ? -1 : 0;

    /* Blank line: the head is over. */
    if (p->status < 200) {
        if (p->status == 101)
            return -1;
        start_head(p); /* interim response: the real one follows */
        return 0;
    }
    if (p->f->no_body || p->status == 204 || p->status == 304) {
        start_head(p);
        return 1;
    }
    if (!p->have_length)
        return -1; /* close-delimited body: cannot frame on keep-alive */
    if (p->content_length == 0) {
        start_head(p);
        return 1;
    }
    p->need = p->content_length;
    p->state = P_BODY;
    return 0;
}

static int parse_http(urk_lg_parser_t *p, const uint8_t *data, size_t len)
{
    int done = 0;
    size_t i = 0;
    while (i < len) {
        if (p->state == P_BODY) {
            size_t left = len - i;
            uint64_t take = p->need < left ? p->need : left;
            p->need -= take;
            i += (size_t)take;
            if (p->need == 0) {
                start_head(p);
                p->partial = 0;
                done++;
            }
            continue;
        }
        uint8_t c = data[i++];
        p->partial = 1;
        if (++p->head_bytes > HEAD_LIMIT)
            return fail(p);
        if (c == '\n') {
            int r = end_of_line(p);
            if (r < 0)
                return fail(p);
            if (r > 0) {
                p->partial = 0;
                done++;
            }
            continue;
        }
        /* Garbage instead of a status line is caught at its first byte. */
        if (p->line_no == 0 && p->line_len < 5 && c != (uint8_t)"HTTP/"[p->line_len])
            return fail(p);
        if (p->line_len < URK_LG_LINE_CAP)
            p->line[p->line_len] = (char)c;
        p->line_len++;
    }
    return done;
}

int urk__lg_parse(urk_lg_parser_t *p, const uint8_t *data, size_t len)
{
    if (p->state == P_ERROR)
        return -URK_EFRAMING;
    if (!len)
        return 0;
    if (!data || len > (size_t)INT32_MAX)
        return fail(p);
    switch (p->f->kind) {
    case URK_FRAME_FIXED:
        return parse_fixed(p, data, len);
    case URK_FRAME_DELIM:
        return parse_delim(p, data, len);
    case URK_FRAME_HTTP:
        return parse_http(p, data, len);
    default:
        return fail(p);
    }
}

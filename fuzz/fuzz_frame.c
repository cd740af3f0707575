/* fuzz_frame - the load generator's incremental response framing
 * (shim/src/loadgen/loadgen_frame.c) under libFuzzer.
 *
 * Input: a 4-byte header, then the byte stream.
 *   [0] framing kind (FIXED, DELIM, HTTP; other values too: must fail cleanly)
 *   [1] FIXED: response_len; DELIM: delim_len (the delimiter is the next
 *       delim_len bytes); HTTP: bit 0 = requests are HEAD
 *   [2..3] seed for the split points
 * Oracles: the stream parsed whole and parsed in random pieces (including
 * empty ones) give the same responses (status code and close flag of each),
 * the same error status, the same idle state and the same end-of-stream
 * outcome (the parser is documented to be split-invariant); FIXED and DELIM
 * counts match a naive reference, and HTTP matches a reference model
 * (ref_http below: whole-buffer, line-at-a-time, written from the rules in
 * loadgen.h, covering Content-Length, chunked with extensions and trailers,
 * close-delimited bodies, Connection: close and HTTP/1.0); ASan/UBSan catch
 * reads outside each piece (every piece is copied into its own exact-size
 * heap buffer). */
#include "loadgen/loadgen.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_RESP 4096

struct outcome {
    long responses; /* before the first error */
    uint32_t status[MAX_RESP];
    uint8_t close[MAX_RESP];
    int failed;
    int idle;
    int eof; /* urk__lg_parse_eof, when not failed */
};

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void add(struct outcome *o, uint32_t status, uint32_t close)
{
    if (o->responses < MAX_RESP) {
        o->status[o->responses] = status;
        o->close[o->responses] = (uint8_t)close;
    }
    o->responses++;
}

/* Feeds data in pieces through urk__lg_parse_step; split_seed 0 means one
 * piece. */
static void run(const urk_lg_framing_t *f, const uint8_t *data, size_t len, uint32_t split_seed,
                struct outcome *o)
{
    urk_lg_parser_t p;
    urk__lg_parser_init(&p, f);
    memset(o, 0, sizeof *o);
    size_t off = 0;
    uint32_t s = split_seed;
    while (off < len || (split_seed && next_rand(&s) % 8 == 0)) {
        size_t piece = len - off;
        if (split_seed) {
            uint32_t r = next_rand(&s);
            /* mostly small pieces, some empty, some long */
            size_t max = (r & 3) == 0 ? 64 : (r & 3) == 1 ? 1 : 7;
            size_t want = (r >> 2) % (max + 1);
            if (want < piece)
                piece = want;
        }
        uint8_t *copy = malloc(piece ? piece : 1);
        if (!copy)
            abort();
        memcpy(copy, data + off, piece);
        size_t done = 0;
        int rc = 0;
        do {
            size_t used = 0;
            rc = urk__lg_parse_step(&p, piece ? copy + done : NULL, piece - done, &used);
            if (rc < 0)
                break;
            if (used > piece - done || (rc == 0 && used != piece - done))
                abort(); /* consumed more than given, or stopped early */
            done += used;
            if (rc == 1)
                add(o, p.resp_status, p.resp_close);
        } while (rc == 1 && done < piece);
        free(copy);
        off += piece;
        if (rc == -URK_EFRAMING) {
            o->failed = 1;
            /* sticky: the next calls fail too */
            uint8_t one = 'x';
            size_t used;
            if (urk__lg_parse_step(&p, &one, 1, &used) != -URK_EFRAMING ||
                urk__lg_parse(&p, &one, 1) != -URK_EFRAMING || urk__lg_parse_eof(&p) >= 0)
                abort();
            break;
        }
        if (rc < 0)
            abort(); /* no other code is documented */
        if (off >= len && !split_seed)
            break;
    }
    o->idle = urk__lg_parser_idle(&p);
    if (!o->failed) {
        o->eof = urk__lg_parse_eof(&p);
        if (o->eof == 1)
            add(o, p.resp_status, p.resp_close);
        else if (o->eof != 0 && o->eof != -URK_EFRAMING)
            abort();
    }
}

static long reference_count(const urk_lg_framing_t *f, const uint8_t *data, size_t len)
{
    if (f->kind == URK_FRAME_FIXED)
        return (long)(len / f->response_len);
    long n = 0;
    size_t i = 0;
    while (i + f->delim_len <= len) {
        if (memcmp(data + i, f->delim, f->delim_len) == 0) {
            n++;
            i += f->delim_len;
        } else {
            i++;
        }
    }
    return n;
}

/* ---- HTTP reference model ---- */

enum { R_ERR = -1, R_IDLE = 0, R_DONE = 1, R_PARTIAL = 2, R_EOFBODY = 3 };
#define R_HEAD_LIMIT 65536u
#define R_CAP 64u

struct rhead {
    uint32_t status;
    int http10, close_tok, keep_tok, chunked, te_other, have_len;
    uint64_t clen;
};

static int r_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int r_name(const uint8_t *l, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || l[k] != ':')
        return 0;
    for (size_t i = 0; i < k; i++)
        if (r_lower(l[i]) != name[i])
            return 0;
    return 1;
}

static int r_word(const uint8_t *t, size_t n, const char *w)
{
    if (n != strlen(w))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (r_lower(t[i]) != w[i])
            return 0;
    return 1;
}

/* Splits v[0..n) at commas, trims spaces/tabs; calls back with each
 * non-empty token and whether it is the last piece. */
static void r_tokens(const uint8_t *v, size_t n, int skip_last, struct rhead *h, int te)
{
    size_t start = 0;
    while (start <= n) {
        size_t end = start;
        while (end < n && v[end] != ',')
            end++;
        size_t a = start, b = end;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        int last = end >= n;
        /* the parser's `last` is "this token runs to the end of the line" */
        if (b > a && !(skip_last && last)) {
            if (te) {
                if (last) {
                    h->chunked = r_word(v + a, b - a, "chunked");
                    h->te_other = !h->chunked;
                }
            } else if (r_word(v + a, b - a, "close")) {
                h->close_tok = 1;
            } else if (r_word(v + a, b - a, "keep-alive")) {
                h->keep_tok = 1;
            }
        }
        start = end + 1;
    }
}

/* One header line (the captured part: at most R_CAP bytes). 0 ok, -1 error. */
static int r_header(struct rhead *h, const uint8_t *l, size_t n, int trunc)
{
    if (r_name(l, n, "content-length")) {
        if (trunc)
            return -1;
        size_t i = 15;
        while (i < n && (l[i] == ' ' || l[i] == '\t'))
            i++;
        size_t d = i;
        uint64_t v = 0;
        while (i < n && l[i] >= '0' && l[i] <= '9') {
            v = v * 10 + (uint64_t)(l[i] - '0');
            if (v > (1ull << 40))
                return -1;
            i++;
        }
        if (i == d)
            return -1;
        while (i < n && (l[i] == ' ' || l[i] == '\t'))
            i++;
        if (i != n || (h->have_len && h->clen != v))
            return -1;
        h->have_len = 1;
        h->clen = v;
        return 0;
    }
    if (r_name(l, n, "transfer-encoding")) {
        if (trunc)
            return -1;
        h->chunked = h->te_other = 0;
        r_tokens(l + 18, n - 18, 0, h, 1);
        return h->chunked || h->te_other ? 0 : -1;
    }
    if (r_name(l, n, "connection")) {
        r_tokens(l + 11, n - 11, trunc, h, 0);
        return 0;
    }
    return trunc || memchr(l, ':', n) ? 0 : -1;
}

/* Reads lines from *pos: a head (status line + headers) when head is set,
 * else trailers. Returns R_DONE at the blank line, R_PARTIAL or R_ERR. */
static int r_lines(const uint8_t *b, size_t len, size_t *pos, struct rhead *h, int head)
{
    size_t total = 0;
    for (int line_no = 0;; line_no++) {
        const uint8_t *nl = memchr(b + *pos, '\n', len - *pos);
        size_t rest = nl ? (size_t)(nl - (b + *pos)) : len - *pos;
        size_t check = rest < 5 ? rest : 5;
        if (head && line_no == 0 && memcmp(b + *pos, "HTTP/", check) != 0)
            return R_ERR;
        if (total + rest + (nl ? 1 : 0) > R_HEAD_LIMIT)
            return R_ERR;
        if (!nl)
            return R_PARTIAL;
        total += rest + 1;
        const uint8_t *l = b + *pos;
        *pos += rest + 1;
        size_t n = rest;
        int trunc = n > R_CAP;
        if (trunc)
            n = R_CAP;
        else if (n && l[n - 1] == '\r')
            n--;
        if (head && line_no == 0) {
            if (n < 12 || memcmp(l, "HTTP/1.", 7) || l[7] < '0' || l[7] > '9' || l[8] != ' ')
                return R_ERR;
            for (int i = 9; i < 12; i++)
                if (l[i] < '0' || l[i] > '9')
                    return R_ERR;
            if (n > 12 && l[12] != ' ')
                return R_ERR;
            h->status = (uint32_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
            if (h->status < 100)
                return R_ERR;
            h->http10 = l[7] == '0';
            continue;
        }
        if (n == 0)
            return R_DONE;
        if (head ? r_header(h, l, n, trunc) : !(trunc || memchr(l, ':', n)))
            return R_ERR;
    }
}

static int r_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = r_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A chunked body from *pos: R_DONE, R_PARTIAL or R_ERR. */
static int r_chunked(const uint8_t *b, size_t len, size_t *pos)
{
    for (;;) {
        /* chunk-size [ws] [; ext] [CR] LF, checked byte by byte like the
         * parser, since a bad byte fails before the line is complete */
        uint64_t size = 0;
        int digits = 0, phase = 0; /* 0 digits, 1 after digits, 2 extension */
        size_t used = 0;
        for (;;) {
            if (*pos >= len)
                return R_PARTIAL;
            uint8_t c = b[(*pos)++];
            if (++used > R_HEAD_LIMIT)
                return R_ERR;
            if (c == '\n')
                break;
            if (phase == 2)
                continue;
            int v = phase == 0 ? r_hex(c) : -1;
            if (v >= 0) {
                size = size * 16 + (uint64_t)v;
                if (size > (1ull << 40))
                    return R_ERR;
                digits = 1;
            } else if (!digits) {
                return R_ERR;
            } else if (c == ';') {
                phase = 2;
            } else if (c == ' ' || c == '\t' || c == '\r') {
                phase = 1;
            } else {
                return R_ERR;
            }
        }
        if (!digits)
            return R_ERR;
        if (size == 0) {
            struct rhead unused;
            return r_lines(b, len, pos, &unused, 0);
        }
        if (len - *pos < size)
            return R_PARTIAL;
        *pos += size;
        if (*pos < len && b[*pos] == '\r')
            (*pos)++;
        if (*pos >= len)
            return R_PARTIAL;
        if (b[(*pos)++] != '\n')
            return R_ERR;
    }
}

/* Parses the whole stream into o (responses, then the end state). */
static int ref_http(const uint8_t *b, size_t len, int no_body, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    size_t pos = 0;
    for (;;) {
        if (pos == len)
            return R_IDLE;
        struct rhead h;
        int r;
        do { /* interim 1xx heads are skipped */
            memset(&h, 0, sizeof h);
            r = r_lines(b, len, &pos, &h, 1);
            if (r != R_DONE)
                return r;
            if (h.status == 101)
                return R_ERR;
        } while (h.status < 200);
        int close = h.close_tok || (h.http10 && !h.keep_tok);
        if (no_body || h.status == 204 || h.status == 304) {
            /* no body */
        } else if (h.chunked) {
            r = r_chunked(b, len, &pos);
            if (r != R_DONE)
                return r;
        } else if (h.te_other || !h.have_len) {
            add(o, h.status, 1); /* completes at EOF */
            return R_EOFBODY;
        } else {
            if (len - pos < h.clen)
                return R_PARTIAL;
            pos += h.clen;
        }
        add(o, h.status, (uint32_t)close);
        if (close)
            return pos == len ? R_IDLE : R_ERR;
    }
}

static void same_responses(const struct outcome *a, const struct outcome *b, const char *what)
{
    long n = a->responses < MAX_RESP ? a->responses : MAX_RESP;
    if (a->responses != b->responses) {
        fprintf(stderr, "%s: %ld vs %ld responses\n", what, a->responses, b->responses);
        abort();
    }
    for (long i = 0; i < n; i++)
        if (a->status[i] != b->status[i] || a->close[i] != b->close[i]) {
            fprintf(stderr, "%s: response %ld: %u/%u vs %u/%u\n", what, i, a->status[i],
                    a->close[i], b->status[i], b->close[i]);
            abort();
        }
}

static void check_http_model(const uint8_t *in, size_t size, int no_body,
                             const struct outcome *whole)
{
    static struct outcome ref;
    int end = ref_http(in, size, no_body, &ref);
    if (end == R_ERR) {
        if (!whole->failed) {
            fprintf(stderr, "reference: framing error; parser: none\n");
            abort();
        }
        same_responses(whole, &ref, "error prefix");
        return;
    }
    if (whole->failed) {
        fprintf(stderr, "parser: framing error; reference: end %d\n", end);
        abort();
    }
    same_responses(whole, &ref, "model");
    int want_eof = end == R_EOFBODY ? 1 : end == R_PARTIAL ? -URK_EFRAMING : 0;
    if (whole->eof != want_eof || whole->idle != (end == R_IDLE)) {
        fprintf(stderr, "eof %d idle %d, reference end %d\n", whole->eof, whole->idle, end);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t kind = in[0] % 5; /* 0 and 4: invalid kinds */
    uint32_t param = in[1];
    uint32_t seed = ((uint32_t)in[2] << 8 | in[3]) + 1;
    in += 4;
    size -= 4;

    uint8_t *delim = NULL;
    uint32_t delim_len = 0, response_len = 0, no_body = 0;
    if (kind == URK_FRAME_FIXED) {
        response_len = param;
    } else if (kind == URK_FRAME_DELIM) {
        delim_len = param % 8;
        if (delim_len > size)
            delim_len = (uint32_t)size;
        delim = malloc(delim_len ? delim_len : 1);
        memcpy(delim, in, delim_len);
        in += delim_len;
        size -= delim_len;
    } else if (kind == URK_FRAME_HTTP) {
        no_body = param & 1;
    }

    urk_lg_framing_t f;
    int rc = urk__lg_framing_init(&f, kind, response_len, delim_len ? delim : NULL, delim_len,
                                  no_body);
    int valid = (kind == URK_FRAME_FIXED && response_len) ||
                (kind == URK_FRAME_DELIM && delim_len) || kind == URK_FRAME_HTTP;
    if (rc != 0) {
        if (valid || rc != -EINVAL)
            abort(); /* init refused a valid framing, or an undocumented code */
        urk__lg_framing_free(&f);
        free(delim);
        return 0;
    }
    if (!valid)
        abort(); /* init accepted an invalid framing */

    static struct outcome whole, split;
    run(&f, in, size, 0, &whole);
    run(&f, in, size, seed, &split);
    if (whole.failed != split.failed) {
        fprintf(stderr, "error status differs: whole %d split %d\n", whole.failed, split.failed);
        abort();
    }
    same_responses(&whole, &split, "whole vs split");
    if (!whole.failed && (whole.idle != split.idle || whole.eof != split.eof)) {
        fprintf(stderr, "whole: idle %d eof %d; split: idle %d eof %d\n", whole.idle, whole.eof,
                split.idle, split.eof);
        abort();
    }
    if (kind != URK_FRAME_HTTP) {
        if (whole.failed)
            abort(); /* FIXED and DELIM accept any bytes */
        long ref = reference_count(&f, in, size) + (whole.eof == 1);
        if (ref != whole.responses || whole.eof == 1) {
            fprintf(stderr, "kind %u: %ld responses, reference %ld\n", kind, whole.responses, ref);
            abort();
        }
    } else {
        check_http_model(in, size, (int)no_body, &whole);
    }
    urk__lg_framing_free(&f);
    free(delim);
    return 0;
}

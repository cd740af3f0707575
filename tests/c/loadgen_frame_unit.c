/* The framing state machine alone (compiled into this test from its source):
 * every framing kind fed whole, byte by byte and at random splits gives the
 * same counts; malformed HTTP fails and stays failed; random bytes never
 * crash it (run under ASan/valgrind to catch out-of-bounds reads). */
#include "testutil.h"

#include "loadgen/loadgen_frame.c"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (uint32_t)(rng % n) : 0;
}

/* Feeds buf in pieces: mode 0 whole, 1 byte by byte, 2 random splits. Each
 * piece is copied to its own heap block so ASan sees any over-read. Returns
 * the response count, or the error. */
static int feed(const urk_lg_framing_t *f, const uint8_t *buf, size_t len, int mode, int *idle)
{
    urk_lg_parser_t p;
    urk__lg_parser_init(&p, f);
    int total = 0;
    size_t off = 0;
    while (off < len) {
        size_t n = mode == 0 ? len - off : mode == 1 ? 1 : 1 + rnd((uint32_t)(len - off));
        if (n > len - off)
            n = len - off;
        uint8_t *piece = malloc(n);
        CHECK(piece);
        memcpy(piece, buf + off, n);
        int r = urk__lg_parse(&p, piece, n);
        free(piece);
        if (r < 0) {
            CHECK(r == -URK_EFRAMING);
            CHECK(urk__lg_parse(&p, (const uint8_t *)"x", 1) == -URK_EFRAMING); /* sticky */
            CHECK(!urk__lg_parser_idle(&p));
            return r;
        }
        total += r;
        off += n;
    }
    if (idle)
        *idle = urk__lg_parser_idle(&p);
    return total;
}

/* Every split of a well-formed stream of `count` responses gives `count`. */
static void check_stream(const urk_lg_framing_t *f, const uint8_t *buf, size_t len, int count)
{
    for (int mode = 0; mode < 3; mode++) {
        int reps = mode == 2 ? 200 : 1;
        for (int i = 0; i < reps; i++) {
            int idle = 0;
            int got = feed(f, buf, len, mode, &idle);
            if (got != count || !idle) {
                fprintf(stderr, "mode %d: got %d want %d (idle %d) for:\n%.*s\n", mode, got,
                        count, idle, (int)len, buf);
                exit(1);
            }
        }
    }
    /* every prefix: never more responses, and a cut mid-response is not idle */
    for (size_t cut = 0; cut < len; cut++) {
        int idle = 0;
        int got = feed(f, buf, cut, 1, &idle);
        CHECK(got >= 0 && got <= count);
    }
}

static void check_error(const urk_lg_framing_t *f, const char *s)
{
    for (int mode = 0; mode < 3; mode++) {
        int r = feed(f, (const uint8_t *)s, strlen(s), mode, NULL);
        if (r != -URK_EFRAMING) {
            fprintf(stderr, "expected a framing error (mode %d, got %d) for:\n%s\n", mode, r, s);
            exit(1);
        }
    }
}

static void test_fixed(void)
{
    urk_lg_framing_t f;
    CHECK_OK(urk__lg_framing_init(&f, URK_FRAME_FIXED, 7, NULL, 0, 0));
    uint8_t buf[7 * 50];
    t_fill(buf, sizeof buf, 1);
    check_stream(&f, buf, sizeof buf, 50);
    int idle = 1;
    CHECK(feed(&f, buf, 10, 0, &idle) == 1 && !idle);
    CHECK_OK(urk__lg_framing_init(&f, URK_FRAME_FIXED, 1, NULL, 0, 0));
    check_stream(&f, buf, 100, 100);
    CHECK_RC(urk__lg_framing_init(&f, URK_FRAME_FIXED, 0, NULL, 0, 0), -EINVAL);
}

static void test_delim(void)
{
    static const char *delims[] = {"\n", "\r\n", "aab", "abab", "aaaa", "abcabd", "END\r\n"};
    for (size_t d = 0; d < sizeof delims / sizeof delims[0]; d++) {
        const char *dl = delims[d];
        size_t dn = strlen(dl);
        urk_lg_framing_t f;
        CHECK_OK(urk__lg_framing_init(&f, URK_FRAME_DELIM, 0, (const uint8_t *)dl,
                                      (uint32_t)dn, 0));
        /* bodies over the delimiter's own alphabet, so near-misses abound */
        char alphabet[16];
        size_t an = 0;
        for (size_t i = 0; i < dn; i++)
            if (!memchr(alphabet, dl[i], an))
                alphabet[an++] = dl[i];
        alphabet[an++] = 'z';
        uint8_t buf[8192];
        size_t len = 0;
        int count = 0;
        while (count < 60) {
            char body[24];
            size_t bn = rnd(20);
            for (size_t i = 0; i < bn; i++)
                body[i] = alphabet[rnd((uint32_t)an)];
            /* the delimiter must first occur exactly at the end */
            char tmp[64];
            memcpy(tmp, body, bn);
            memcpy(tmp + bn, dl, dn);
            if (memmem(tmp, bn + dn - 1, dl, dn))
                continue;
            memcpy(buf + len, tmp, bn + dn);
            len += bn + dn;
            count++;
        }
        check_stream(&f, buf, len, count);
        urk__lg_framing_free(&f);
    }
    urk_lg_framing_t f;
    CHECK_RC(urk__lg_framing_init(&f, URK_FRAME_DELIM, 0, NULL, 0, 0), -EINVAL);
    CHECK_RC(urk__lg_framing_init(&f, 9, 0, NULL, 0, 0), -EINVAL);
}

static void test_http(void)
{
    urk_lg_framing_t f, head;
    CHECK_OK(urk__lg_framing_init(&f, URK_FRAME_HTTP, 0, NULL, 0, 0));
    CHECK_OK(urk__lg_framing_init(&head, URK_FRAME_HTTP, 0, NULL, 0, 1));
    static const char *good[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n",
        "HTTP/1.0 404 Not Found\nCONTENT-LENGTH: 3\nConnection: Keep-Alive\nX: y\n\nabc",
        "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", /* no reason phrase */
        "HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", /* no body */
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 A very long reason phrase that goes past the sixty-four byte capture\r\n"
        "X-Long-Header-Name-That-Is-Much-Longer-Than-Sixty-Four-Bytes-In-Total: v\r\n"
        "Set-Cookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
        "Content-Length:\t4\t\r\nContent-Length: 4\r\n\r\nHTTP", /* equal duplicates */
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\r\n\r\n\r\n", /* body looks like a head */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\ntransfer-encoding: gzip, CHUNKED\r\n"
        "Content-Length: 3\r\n\r\n" /* Transfer-Encoding wins */
        "A;name=value;x=\"q;\"\r\n0123456789\r\n1f  \r\n0123456789012345678901234567890\n"
        "0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
        "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n0\n\n", /* bare LF */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\n\r\n\r\r\n00000\r\n\r\n", /* data that looks like CRLF; zeros */
        "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 500 Oops\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 0\r\n\r\n",
    };
    uint8_t buf[16384];
    size_t len = 0;
    int count = 0;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = strlen(good[i]);
        check_stream(&f, (const uint8_t *)good[i], n, 1);
        for (int k = 0; k < 3; k++) {
            memcpy(buf + len, good[i], n);
            len += n;
            count++;
        }
    }
    check_stream(&f, buf, len, count); /* keep-alive: back to back */

    /* HEAD: no body whatever Content-Length says */
    static const char head_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    check_stream(&head, (const uint8_t *)head_resp, strlen(head_resp), 1);

    static const char *bad[] = {
        "XTTP/1.1 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\na\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nH",
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1" "                                                  "
        "                  \r\n\r\nx", /* too long to be a sane Content-Length line */
        "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxgarbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_error(&f, bad[i]);

    /* an endless head is cut off at 64 KiB */
    size_t big = 70 * 1024;
    char *h = malloc(big + 1);
    CHECK(h);
    strcpy(h, "HTTP/1.1 200 OK\r\n");
    for (size_t i = strlen(h); i < big; i++)
        h[i] = (i % 50 == 49) ? '\n' : (i % 50 == 0 ? 'X' : (i % 50 == 1 ? ':' : 'v'));
    h[big] = 0;
    check_error(&f, h);
    free(h);
}

/* Steps through a stream whole or byte by byte, collecting status codes and
 * close flags of each response and finally reporting the EOF outcome. */
struct steps {
    int n, err, eof;
    uint32_t status[16], close[16];
};

static struct steps run_steps(const urk_lg_framing_t *f, const char *s, size_t len, int bytewise)
{
    struct steps r;
    memset(&r, 0, sizeof r);
    urk_lg_parser_t p;
    urk__lg_parser_init(&p, f);
    size_t off = 0;
    while (off < len) {
        size_t n = bytewise ? 1 : len - off, used = 0, done = 0;
        while (done < n) {
            int rc = urk__lg_parse_step(&p, (const uint8_t *)s + off + done, n - done, &used);
            if (rc < 0) {
                r.err = 1;
                return r;
            }
            CHECK(used <= n - done);
            done += used;
            if (rc == 0)
                break;
            CHECK(r.n < 16);
            r.status[r.n] = p.resp_status;
            r.close[r.n++] = p.resp_close;
        }
        CHECK(done == n);
        off += n;
    }
    r.eof = urk__lg_parse_eof(&p);
    if (r.eof == 1) {
        CHECK(r.n < 16);
        r.status[r.n] = p.resp_status;
        r.close[r.n++] = p.resp_close;
    }
    return r;
}

/* expect: "status:close" pairs, e.g. "200:0 404:1"; eof: the EOF result */
static void check_steps(const urk_lg_framing_t *f, const char *s, const char *expect, int eof)
{
    for (int bw = 0; bw < 2; bw++) {
        struct steps r = run_steps(f, s, strlen(s), bw);
        char got[256] = "";
        size_t gl = 0;
        for (int i = 0; i < r.n; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%u:%u", i ? " " : "",
                                   r.status[i], r.close[i]);
        if (r.err || strcmp(got, expect) != 0 || r.eof != eof) {
            fprintf(stderr, "bytewise %d: got '%s' eof %d err %d, want '%s' eof %d for:\n%s\n",
                    bw, got, r.eof, r.err, expect, eof, s);
            exit(1);
        }
    }
}

static void test_http_status_close(void)
{
    urk_lg_framing_t f, head;
    CHECK_OK(urk__lg_framing_init(&f, URK_FRAME_HTTP, 0, NULL, 0, 0));
    CHECK_OK(urk__lg_framing_init(&head, URK_FRAME_HTTP, 0, NULL, 0, 1));
    check_steps(&f, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
                    "HTTP/1.1 404 NF\r\nContent-Length: 0\r\n\r\n"
                    "HTTP/1.1 503 U\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
                "200:0 404:0 503:0", 0);
    /* Connection: close ends the connection after the response */
    check_steps(&f, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                "200:1", 0);
    check_steps(&f, "HTTP/1.1 200 OK\r\nConnection: x, Close\r\nTransfer-Encoding: chunked"
                    "\r\n\r\n0\r\n\r\n", "200:1", 0);
    /* HTTP/1.0: close unless keep-alive */
    check_steps(&f, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "200:1", 0);
    check_steps(&f, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
                    "HTTP/1.0 201 OK\r\nContent-Length: 0\r\n\r\n", "200:0 201:1", 0);
    /* close-delimited bodies end at EOF */
    check_steps(&f, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body bytes", "200:1", 1);
    check_steps(&f, "HTTP/1.0 200 OK\r\n\r\n", "200:1", 1);
    check_steps(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n"
                    "abcdef", "200:1", 1);
    check_steps(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "200:0 200:1", 1);
    /* no body: 1xx skipped, 204, 304, HEAD */
    check_steps(&f, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                    "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 NM\r\nContent-Length: 9\r\n"
                    "\r\n", "204:0 304:0", 0);
    check_steps(&head, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
                       "HTTP/1.1 404 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "HTTP/1.1 200 OK\r\n\r\n", "200:0 404:0 200:0", 0);
    /* cut short: EOF mid-response is an error, between responses is not */
    const char *cut[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Le",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n",
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++)
        check_steps(&f, cut[i], "", -URK_EFRAMING);
    check_steps(&f, "", "", 0);

    /* a chunked body split at every byte position (two pieces) */
    static const char ch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                             "0\r\nT: 1\r\n\r\n";
    size_t n = strlen(ch);
    for (size_t cutp = 0; cutp <= n; cutp++) {
        urk_lg_parser_t p;
        urk__lg_parser_init(&p, &f);
        int a = urk__lg_parse(&p, (const uint8_t *)ch, cutp);
        int b = urk__lg_parse(&p, (const uint8_t *)ch + cutp, n - cutp);
        CHECK(a >= 0 && b >= 0 && a + b == 1 && urk__lg_parser_idle(&p));
        CHECK(p.resp_status == 200 && p.resp_close == 0);
    }
}

/* Random bytes and mutations of good responses: any result, no crash, and
 * the count never depends on how the bytes were split. */
static void test_random(void)
{
    urk_lg_framing_t fs[3];
    CHECK_OK(urk__lg_framing_init(&fs[0], URK_FRAME_HTTP, 0, NULL, 0, 0));
    CHECK_OK(urk__lg_framing_init(&fs[1], URK_FRAME_DELIM, 0, (const uint8_t *)"\r\n\r\n", 4, 0));
    CHECK_OK(urk__lg_framing_init(&fs[2], URK_FRAME_FIXED, 13, NULL, 0, 0));
    static const char seed[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\n\r\nabc";
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t buf[512];
        size_t len = 1 + rnd(sizeof buf);
        if (iter % 2) {
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd(256);
        } else {
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)seed[i % (sizeof seed - 1)];
            for (int m = 0; m < 3; m++)
                buf[rnd((uint32_t)len)] = (uint8_t)rnd(256);
        }
        for (int k = 0; k < 3; k++) {
            int whole = feed(&fs[k], buf, len, 0, NULL);
            int bytes = feed(&fs[k], buf, len, 1, NULL);
            int split = feed(&fs[k], buf, len, 2, NULL);
            if (whole >= 0 && (bytes != whole || split != whole)) {
                fprintf(stderr, "split-dependent count %d/%d/%d (kind %d)\n", whole, bytes,
                        split, k);
                exit(1);
            }
            if (whole < 0)
                CHECK(bytes < 0 && split < 0);
        }
    }
    urk__lg_framing_free(&fs[1]);
}

int main(void)
{
    test_fixed();
    test_delim();
    test_http();
    test_http_status_close();
    test_random();
    printf("ok\n");
    return 0;
}

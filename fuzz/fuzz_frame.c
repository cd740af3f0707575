/* fuzz_frame - the load generator's incremental response framing
 * (shim/src/loadgen/loadgen_frame.c) under libFuzzer.
 *
 * Input: a 4-byte header, then the byte stream.
 *   [0] framing kind (FIXED, DELIM, HTTP; other values too: must fail cleanly)
 *   [1] FIXED: response_len; DELIM: delim_len (the delimiter is the next
 *       delim_len bytes); HTTP: bit 0 = requests are HEAD
 *   [2..3] seed for the split points
 * Oracles: the stream parsed whole and parsed in random pieces (including
 * empty ones) give the same response count, the same error status and the
 * same idle state (the parser is documented to be split-invariant); FIXED
 * and DELIM counts also match a naive reference; ASan/UBSan catch reads
 * outside each piece (every piece is copied into its own exact-size heap
 * buffer). */
#include "loadgen/loadgen.h"

#include <stdio.h>
#include <stdlib.h>

struct outcome {
    long responses; /* before the first error */
    int failed;
    int idle;
};

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Feeds data in pieces; split_seed 0 means one piece. */
static struct outcome run(const urk_lg_framing_t *f, const uint8_t *data, size_t len,
                          uint32_t split_seed)
{
    urk_lg_parser_t p;
    urk__lg_parser_init(&p, f);
    struct outcome o = {0, 0, 0};
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
        int rc = urk__lg_parse(&p, piece ? copy : NULL, piece);
        free(copy);
        off += piece;
        if (rc == -URK_EFRAMING) {
            o.failed = 1;
            /* sticky: the next call fails too */
            uint8_t one = 'x';
            if (urk__lg_parse(&p, &one, 1) != -URK_EFRAMING)
                abort();
            break;
        }
        if (rc < 0)
            abort(); /* no other code is documented */
        o.responses += rc;
        if (off >= len && !split_seed)
            break;
    }
    o.idle = urk__lg_parser_idle(&p);
    return o;
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

    struct outcome whole = run(&f, in, size, 0);
    struct outcome split = run(&f, in, size, seed);
    if (whole.failed != split.failed) {
        fprintf(stderr, "error status differs: whole %d split %d\n", whole.failed, split.failed);
        abort();
    }
    if (!whole.failed && (whole.responses != split.responses || whole.idle != split.idle)) {
        fprintf(stderr, "whole: %ld responses idle %d; split: %ld responses idle %d\n",
                whole.responses, whole.idle, split.responses, split.idle);
        abort();
    }
    if (kind != URK_FRAME_HTTP) {
        if (whole.failed)
            abort(); /* FIXED and DELIM accept any bytes */
        long ref = reference_count(&f, in, size);
        if (ref != whole.responses) {
            fprintf(stderr, "kind %u: %ld responses, reference %ld\n", kind, whole.responses, ref);
            abort();
        }
    }
    urk__lg_framing_free(&f);
    free(delim);
    return 0;
}

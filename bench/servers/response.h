/* The one canned response every benchmark server sends, byte for byte.
 * bench/run.py and bench/servers/asyncio_server.py parse BENCH_RESPONSE out
 * of this file, so keep it a single string literal on one line. wrk needs
 * nothing beyond Content-Length to frame a keep-alive response. */
#ifndef BENCH_RESPONSE_H
#define BENCH_RESPONSE_H

#include <stddef.h>
#include <string.h>

#define BENCH_RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
#define BENCH_RESPONSE_LEN (sizeof(BENCH_RESPONSE) - 1)

/* Counts complete requests ("\r\n\r\n" terminators, non-overlapping, left to
 * right) in p[0..n). *state carries how many bytes of a terminator ended the
 * previous read (0..3), so a terminator split across reads counts once. No
 * HTTP parsing: the benchmark protocol is "one response per request". */
static inline size_t bench_count_requests(const char *p, size_t n, unsigned *state)
{
    static const char term[4] = {'\r', '\n', '\r', '\n'};
    size_t count = 0, i = 0;
    unsigned s = *state;

    /* Finish a terminator begun in the previous read, byte by byte. */
    while (s != 0 && i < n) {
        char c = p[i++];
        if (c == term[s]) {
            if (++s == 4) {
                count++;
                s = 0;
            }
        } else {
            s = (c == '\r') ? 1 : 0;
        }
    }
    if (s != 0) {
        *state = s;
        return count;
    }
    /* Whole terminators: memmem is vectorised in glibc. */
    size_t start = i;
    for (;;) {
        const char *hit = memmem(p + start, n - start, term, 4);
        if (!hit)
            break;
        count++;
        start = (size_t)(hit - p) + 4;
    }
    /* A terminator prefix at the very end: only the last 3 bytes matter. */
    size_t from = (n - start > 3) ? n - 3 : start;
    for (size_t k = from; k < n; k++) {
        char c = p[k];
        if (c == term[s])
            s++;
        else
            s = (c == '\r') ? 1 : 0;
    }
    *state = s;
    return count;
}

#endif

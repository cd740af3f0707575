/* fuzz_addr - urk_addr_parse / urk_addr_format under libFuzzer.
 *
 * Input: 2 bytes of port, then the host string (not NUL-terminated: the
 * harness copies it into an exact-size buffer, NUL added, so ASan sees any
 * read past the terminator). Oracles: parse returns 0 or -EINVAL and leaves
 * *out all zero on failure; on success the address is AF_INET/AF_INET6 with
 * the right length and port, formats without error, and the formatted
 * "host:port" parses back (brackets stripped) to the same bytes; format
 * never writes past cap and reports -ENOSPC for every cap too small. Also
 * format of arbitrary bytes (the struct as a caller could fill it). */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>

static void check_format(const urk_addr_t *a, int expect_ok)
{
    char big[128];
    int n = urk_addr_format(a, big, sizeof big);
    if (expect_ok && n <= 0)
        abort();
    if (n < 0) {
        if (n != -EAFNOSUPPORT && n != -ENOSPC)
            abort();
        return;
    }
    if ((size_t)n != strlen(big))
        abort();
    /* every too-small cap: -ENOSPC, and nothing written past cap */
    for (uint32_t cap = 0; cap <= (uint32_t)n; cap++) {
        char *small = malloc(cap ? cap : 1);
        int m = urk_addr_format(a, small, cap);
        free(small);
        if (m != -ENOSPC)
            abort();
    }
    char *exact = malloc((size_t)n + 1);
    if (urk_addr_format(a, exact, (uint32_t)n + 1) != n || memcmp(exact, big, (size_t)n + 1))
        abort();
    free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 2)
        return 0;
    uint16_t port = (uint16_t)(in[0] << 8 | in[1]);
    in += 2;
    size -= 2;

    /* arbitrary struct contents: format must not crash or overread */
    if (size >= sizeof(urk_addr_t)) {
        urk_addr_t *raw = malloc(sizeof *raw);
        memcpy(raw, in, sizeof *raw);
        check_format(raw, 0);
        free(raw);
    }

    char *host = malloc(size + 1);
    memcpy(host, in, size);
    host[size] = '\0';
    urk_addr_t a;
    memset(&a, 0xA5, sizeof a);
    int rc = urk_addr_parse(host, port, &a);
    if (rc != 0) {
        /* -ENAMETOOLONG: a "unix:" path or name over 107 bytes */
        if (rc != -EINVAL && rc != -ENAMETOOLONG)
            abort();
        static const urk_addr_t zero;
        if (memcmp(&a, &zero, sizeof a) != 0)
            abort(); /* failure leaves *out cleared */
        free(host);
        return 0;
    }
    const struct sockaddr *sa = (const struct sockaddr *)a.bytes;
    if (sa->sa_family == AF_INET) {
        if (a.len != sizeof(struct sockaddr_in) ||
            ntohs(((const struct sockaddr_in *)a.bytes)->sin_port) != port)
            abort();
    } else if (sa->sa_family == AF_INET6) {
        if (a.len != sizeof(struct sockaddr_in6) ||
            ntohs(((const struct sockaddr_in6 *)a.bytes)->sin6_port) != port)
            abort();
    } else if (sa->sa_family == AF_UNIX) {
        /* "unix:/path" or "unix:@name" (the port is ignored): the formatted
         * spelling parses back to the same bytes (a C string holds no NUL,
         * so an abstract name formats without substitutions). */
        if (a.len <= offsetof(struct sockaddr_un, sun_path) || a.len > sizeof(struct sockaddr_un))
            abort();
        for (size_t i = a.len; i < sizeof a.bytes; i++)
            if (a.bytes[i])
                abort();
        check_format(&a, 1);
        char text[sizeof(struct sockaddr_un) + 16];
        urk_addr_t back;
        if (urk_addr_format(&a, text, sizeof text) < 0 || urk_addr_parse(text, 0, &back) != 0 ||
            back.len != a.len || memcmp(back.bytes, a.bytes, a.len) != 0)
            abort();
        free(host);
        return 0;
    } else {
        abort();
    }
    for (size_t i = a.len; i < sizeof a.bytes; i++)
        if (a.bytes[i])
            abort();

    check_format(&a, 1);
    char text[128];
    int n = urk_addr_format(&a, text, sizeof text);
    /* split "host:port" at the last ':' and parse the host back */
    char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        abort();
    *colon = '\0';
    if ((unsigned)atoi(colon + 1) != port)
        abort();
    urk_addr_t back;
    if (urk_addr_parse(text, port, &back) != 0 || back.len != a.len ||
        memcmp(back.bytes, a.bytes, a.len) != 0) {
        fprintf(stderr, "round trip of '%s' -> '%.*s' failed\n", host, n, text);
        abort();
    }
    free(host);
    return 0;
}

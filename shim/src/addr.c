/* addr.c - numeric IPv4/IPv6 address parsing and formatting. No name
 * resolution: the library never blocks on DNS. */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

int urk_addr_parse(const char *host, uint16_t port, urk_addr_t *out)
{
    if (!host || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strnlen(host, sizeof buf);
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, host, n + 1);
    char *h = buf;
    int bracketed = 0;
    if (h[0] == '[') {
        if (h[n - 1] != ']' || n < 3)
            return -EINVAL;
        h[n - 1] = '\0';
        h++;
        bracketed = 1;
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out->bytes;
    struct sockaddr_in *s4 = (struct sockaddr_in *)out->bytes;
    if (!bracketed && inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        out->len = sizeof *s4;
        return 0;
    }
    if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        out->len = sizeof *s6;
        return 0;
    }
    memset(out, 0, sizeof *out);
    return -EINVAL;
}

int urk_addr_format(const urk_addr_t *addr, char *buf, uint32_t cap)
{
    if (!addr || !buf)
        return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    int n;
    const struct sockaddr *sa = (const struct sockaddr *)addr->bytes;
    if (sa->sa_family == AF_INET && addr->len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)addr->bytes;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        n = snprintf(buf, cap, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6 && addr->len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr->bytes;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        n = snprintf(buf, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (uint32_t)n >= cap)
        return -ENOSPC;
    return n;
}

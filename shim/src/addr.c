/* addr.c - address parsing and formatting: numeric IPv4/IPv6 literals and
 * Unix-domain stream socket paths ("unix:/path", abstract "unix:@name").
 * No name resolution: the library never blocks on DNS. */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/un.h>

_Static_assert(sizeof(struct sockaddr_un) <= sizeof(((urk_addr_t *)0)->bytes),
               "urk_addr_t holds a sockaddr_un");

/* "unix:/path" (a file system socket; the path is kept NUL-terminated, so
 * at most sizeof sun_path - 1 = 107 bytes) or "unix:@name" (Linux abstract
 * namespace: no file; the name's bytes follow a leading NUL, at most 107). */
static int parse_unix(const char *spec, urk_addr_t *out)
{
    struct sockaddr_un *su = (struct sockaddr_un *)out->bytes;
    size_t max = sizeof su->sun_path - 1;
    size_t n = strnlen(spec, max + 1);
    if (n == 0 || (spec[0] == '@' && n == 1))
        return -EINVAL;
    if (n > max)
        return -ENAMETOOLONG;
    su->sun_family = AF_UNIX;
    if (spec[0] == '@') {
        /* abstract: sun_path[0] = 0, then the name; the length ends it */
        memcpy(su->sun_path + 1, spec + 1, n - 1);
        out->len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(su->sun_path, spec, n);
        out->len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int urk_addr_parse(const char *host, uint16_t port, urk_addr_t *out)
{
    if (!host || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (strncmp(host, "unix:", 5) == 0) {
        int rc = parse_unix(host + 5, out);
        if (rc)
            memset(out, 0, sizeof *out);
        return rc; /* the port is ignored */
    }
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
    } else if (sa->sa_family == AF_UNIX && addr->len >= sizeof(sa_family_t) &&
               addr->len <= sizeof(struct sockaddr_un)) {
        const struct sockaddr_un *su = (const struct sockaddr_un *)addr->bytes;
        size_t plen = addr->len - offsetof(struct sockaddr_un, sun_path);
        if (addr->len <= offsetof(struct sockaddr_un, sun_path)) {
            n = snprintf(buf, cap, "unix:"); /* unnamed (a client that did not bind) */
        } else if (su->sun_path[0] == '\0') {
            /* abstract: "@" for the leading NUL. The name may hold any byte;
             * a NUL inside it is shown as '@' too (as ss(8) does). */
            char name[sizeof su->sun_path];
            for (size_t i = 1; i < plen; i++)
                name[i - 1] = su->sun_path[i] ? su->sun_path[i] : '@';
            n = snprintf(buf, cap, "unix:@%.*s", (int)(plen - 1), name);
        } else {
            n = snprintf(buf, cap, "unix:%.*s", (int)strnlen(su->sun_path, plen), su->sun_path);
        }
    } else {
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (uint32_t)n >= cap)
        return -ENOSPC;
    return n;
}

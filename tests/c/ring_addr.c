/* urk_addr_parse / urk_addr_format: IPv4, IPv6, bracketed IPv6, ports
 * 0..65535, round trips, garbage and overlong input refused with -EINVAL
 * (and *out cleared), formatting into small buffers refused with -ENOSPC,
 * no name resolution. */
#include "testutil.h"

static void round_trip(const char *host, uint16_t port, const char *want)
{
    urk_addr_t a;
    memset(&a, 0xCC, sizeof a);
    CHECK_RC(urk_addr_parse(host, port, &a), 0);
    CHECK(a.reserved == 0);
    char buf[64];
    int n = urk_addr_format(&a, buf, sizeof buf);
    if (n != (int)strlen(want) || strcmp(buf, want) != 0) {
        fprintf(stderr, "%s port %u: formatted '%s' (%d), want '%s'\n", host, port, buf, n,
                want);
        exit(1);
    }
    /* Exactly enough room (length + NUL) works, one less does not. */
    char small[64];
    CHECK_RC(urk_addr_format(&a, small, (uint32_t)n + 1), n);
    CHECK_RC(urk_addr_format(&a, small, (uint32_t)n), -ENOSPC);
    CHECK_RC(urk_addr_format(&a, small, 0), -ENOSPC);
    /* Parse the formatted form back (host part, without the port). */
    char host2[64];
    const char *colon = strrchr(buf, ':');
    memcpy(host2, buf, (size_t)(colon - buf));
    host2[colon - buf] = 0;
    urk_addr_t b;
    CHECK_OK(urk_addr_parse(host2, port, &b));
    CHECK(a.len == b.len && memcmp(a.bytes, b.bytes, a.len) == 0);
}

int main(void)
{
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("127.0.0.1", 8080, &a));
    CHECK(a.len == sizeof(struct sockaddr_in));
    struct sockaddr_in *s4 = (struct sockaddr_in *)a.bytes;
    CHECK(s4->sin_family == AF_INET && ntohs(s4->sin_port) == 8080);
    CHECK(s4->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    for (size_t i = a.len; i < sizeof a.bytes; i++)
        CHECK(a.bytes[i] == 0);

    CHECK_OK(urk_addr_parse("::1", 443, &a));
    CHECK(a.len == sizeof(struct sockaddr_in6));
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)a.bytes;
    CHECK(s6->sin6_family == AF_INET6 && ntohs(s6->sin6_port) == 443);
    CHECK(memcmp(&s6->sin6_addr, &in6addr_loopback, 16) == 0);
    CHECK(s6->sin6_flowinfo == 0 && s6->sin6_scope_id == 0);

    round_trip("127.0.0.1", 80, "127.0.0.1:80");
    round_trip("0.0.0.0", 0, "0.0.0.0:0");
    round_trip("255.255.255.255", 65535, "255.255.255.255:65535");
    round_trip("::1", 80, "[::1]:80");
    round_trip("[::1]", 80, "[::1]:80");
    round_trip("::", 1, "[::]:1");
    round_trip("2001:db8::8a2e:370:7334", 9, "[2001:db8::8a2e:370:7334]:9");
    round_trip("2001:0DB8:0000:0000:0000:0000:0000:0001", 9, "[2001:db8::1]:9");
    round_trip("::ffff:10.1.2.3", 7, "[::ffff:10.1.2.3]:7");
    round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]", 65535,
               "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");

    const char *bad[] = {"", "localhost", "example.com", "1.2.3", "1.2.3.4.5", "256.0.0.1",
                         "127.0.0.1:80", "[127.0.0.1]", "[::1", "::1]", "[]", "[", "]",
                         ":::", "1::2::3", "fe80::1%lo", "[fe80::1%lo]", " 127.0.0.1",
                         "127.0.0.1 ", "0x7f.0.0.1", "::1\n", "[[::1]]", "12345::",
                         "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&a, 0xCC, sizeof a);
        int rc = urk_addr_parse(bad[i], 80, &a);
        if (rc != -EINVAL) {
            fprintf(stderr, "'%s' parsed: %d\n", bad[i], rc);
            return 1;
        }
        CHECK(a.len == 0);
    }
    /* Overlong: longer than any literal, and far longer (no overread of a
     * huge string: strnlen bounds it). */
    char longs[4096];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    CHECK_RC(urk_addr_parse(longs, 1, &a), -EINVAL);
    char pad6[80];
    snprintf(pad6, sizeof pad6, "0000:0000:0000:0000:0000:0000:0000:0001%s", "0000000000");
    CHECK_RC(urk_addr_parse(pad6, 1, &a), -EINVAL);

    CHECK_RC(urk_addr_parse(NULL, 1, &a), -EINVAL);
    CHECK_RC(urk_addr_parse("::1", 1, NULL), -EINVAL);
    char buf[64];
    CHECK_OK(urk_addr_parse("::1", 1, &a));
    CHECK_RC(urk_addr_format(NULL, buf, sizeof buf), -EINVAL);
    CHECK_RC(urk_addr_format(&a, NULL, 10), -EINVAL);
    /* Unknown family, or a length too short for the family. */
    urk_addr_t z;
    memset(&z, 0, sizeof z);
    CHECK_RC(urk_addr_format(&z, buf, sizeof buf), -EAFNOSUPPORT);
    z.len = sizeof(struct sockaddr_in);
    ((struct sockaddr *)z.bytes)->sa_family = AF_PACKET;
    CHECK_RC(urk_addr_format(&z, buf, sizeof buf), -EAFNOSUPPORT);
    ((struct sockaddr *)z.bytes)->sa_family = AF_UNIX; /* shorter than its family */
    z.len = 1;
    CHECK_RC(urk_addr_format(&z, buf, sizeof buf), -EAFNOSUPPORT);
    z.len = 111; /* longer than a sockaddr_un */
    CHECK_RC(urk_addr_format(&z, buf, sizeof buf), -EAFNOSUPPORT);
    /* An abstract name with NUL bytes inside: each shows as '@'. */
    z.len = 2 + 4; /* sun_path = "\0\0\0\0" */
    CHECK(urk_addr_format(&z, buf, sizeof buf) == 9 && strcmp(buf, "unix:@@@@") == 0);
    CHECK_OK(urk_addr_parse("::1", 1, &z));
    z.len = sizeof(struct sockaddr_in);
    CHECK_RC(urk_addr_format(&z, buf, sizeof buf), -EAFNOSUPPORT);

    /* A parsed address is directly usable with connect(2). */
    uint16_t port;
    int lfd = t_listen(1, &port);
    CHECK_OK(urk_addr_parse("[::1]", port, &a));
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)a.bytes, a.len) == 0);
    close(fd);
    close(lfd);
    printf("ok\n");
    return 0;
}

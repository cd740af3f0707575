/* urk_addr_parse / urk_addr_format for Unix-domain stream sockets:
 * "unix:/path" (kept NUL-terminated: at most 107 bytes of path) and the
 * abstract "unix:@name" (at most 107 bytes of name). The port is ignored.
 * Longer is -ENAMETOOLONG, empty is -EINVAL, and a refused parse leaves
 * *out all zero. The result connects a real AF_UNIX socket. */
#include "testutil.h"

#include <stddef.h>
#include <sys/un.h>

static void roundtrip(const char *spec)
{
    urk_addr_t a;
    CHECK_OK(urk_addr_parse(spec, 1234, &a));
    char buf[160];
    int n = urk_addr_format(&a, buf, sizeof buf);
    CHECK(n == (int)strlen(spec));
    if (strcmp(buf, spec) != 0) {
        fprintf(stderr, "format gave %s for %s\n", buf, spec);
        exit(1);
    }
    urk_addr_t b;
    CHECK_OK(urk_addr_parse(buf, 0, &b));
    CHECK(a.len == b.len && memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0);
}

static int all_zero(const urk_addr_t *a)
{
    const uint8_t *p = (const uint8_t *)a;
    for (size_t i = 0; i < sizeof *a; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(void)
{
    CHECK(sizeof(struct sockaddr_un) <= sizeof(((urk_addr_t *)0)->bytes));
    urk_addr_t a;
    CHECK_OK(urk_addr_parse("unix:/tmp/x.sock", 80, &a));
    const struct sockaddr_un *su = (const struct sockaddr_un *)a.bytes;
    CHECK(su->sun_family == AF_UNIX);
    CHECK(strcmp(su->sun_path, "/tmp/x.sock") == 0);
    CHECK(a.len == offsetof(struct sockaddr_un, sun_path) + strlen("/tmp/x.sock") + 1);
    CHECK(a.reserved == 0);

    CHECK_OK(urk_addr_parse("unix:@abstract-name", 0, &a));
    CHECK(su->sun_path[0] == '\0' && memcmp(su->sun_path + 1, "abstract-name", 13) == 0);
    CHECK(a.len == offsetof(struct sockaddr_un, sun_path) + 1 + 13);

    roundtrip("unix:/tmp/x.sock");
    roundtrip("unix:relative/path");
    roundtrip("unix:@abstract-name");

    /* Length limits: 107 bytes fit, 108 do not. */
    char spec[300];
    memcpy(spec, "unix:/", 6);
    memset(spec + 6, 'p', 106);
    spec[6 + 106] = 0; /* path of 107 bytes */
    CHECK_OK(urk_addr_parse(spec, 0, &a));
    roundtrip(spec);
    spec[6 + 106] = 'p';
    spec[6 + 107] = 0; /* 108 */
    memset(&a, 0xAB, sizeof a);
    CHECK_RC(urk_addr_parse(spec, 0, &a), -ENAMETOOLONG);
    CHECK(all_zero(&a));
    memcpy(spec, "unix:@", 6); /* abstract: 107-byte name fits, 108 not */
    CHECK_RC(urk_addr_parse(spec, 0, &a), -ENAMETOOLONG);
    spec[6 + 106] = 0;
    CHECK_OK(urk_addr_parse(spec, 0, &a));
    memset(spec + 5, 'q', 250);
    spec[255] = 0;
    CHECK_RC(urk_addr_parse(spec, 0, &a), -ENAMETOOLONG);

    /* Empty. */
    memset(&a, 0xAB, sizeof a);
    CHECK_RC(urk_addr_parse("unix:", 0, &a), -EINVAL);
    CHECK(all_zero(&a));
    CHECK_RC(urk_addr_parse("unix:@", 0, &a), -EINVAL);
    CHECK_RC(urk_addr_parse("unix", 0, &a), -EINVAL);
    CHECK_RC(urk_addr_parse("UNIX:/x", 0, &a), -EINVAL);

    /* Formatting: too small a buffer, and an unnamed socket's address. */
    CHECK_OK(urk_addr_parse("unix:/tmp/x.sock", 0, &a));
    char small[8];
    CHECK_RC(urk_addr_format(&a, small, sizeof small), -ENOSPC);
    urk_addr_t unnamed;
    memset(&unnamed, 0, sizeof unnamed);
    ((struct sockaddr_un *)unnamed.bytes)->sun_family = AF_UNIX;
    unnamed.len = sizeof(sa_family_t);
    char buf[32];
    CHECK(urk_addr_format(&unnamed, buf, sizeof buf) == 5 && strcmp(buf, "unix:") == 0);

    /* The parsed address is what bind/connect take. */
    char dir[] = "/tmp/urk_addr_unix_XXXXXX";
    CHECK(mkdtemp(dir));
    char path_spec[200];
    snprintf(path_spec, sizeof path_spec, "unix:%s/s", dir);
    CHECK_OK(urk_addr_parse(path_spec, 0, &a));
    int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(l >= 0 && c >= 0);
    CHECK(bind(l, (struct sockaddr *)a.bytes, a.len) == 0 && listen(l, 1) == 0);
    CHECK(connect(c, (struct sockaddr *)a.bytes, a.len) == 0);
    close(c);
    close(l);
    unlink(path_spec + 5);
    rmdir(dir);
    printf("ok\n");
    return 0;
}

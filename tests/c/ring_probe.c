/* urk_probe: cached, thread-safe, consistent with the running kernel (6.18
 * here: every networking feature the engine relies on is present), and each
 * bit has a name; 0, multi-bit and unknown bits have none. */
#include "testutil.h"

#include <pthread.h>
#include <sys/utsname.h>

static uint64_t thread_caps[4];

static void *probe_thread(void *arg)
{
    uint64_t *out = arg;
    CHECK_OK(urk_probe(out));
    return NULL;
}

static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    CHECK(uname(&u) == 0);
    int ma = 0, mi = 0;
    sscanf(u.release, "%d.%d", &ma, &mi);
    return ma > major || (ma == major && mi >= minor);
}

int main(void)
{
    CHECK_RC(urk_probe(NULL), -EINVAL);
    /* Concurrent first calls agree (pthread_once). */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, probe_thread, &thread_caps[i]) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    uint64_t caps = 0;
    CHECK_OK(urk_probe(&caps));
    for (int i = 0; i < 4; i++)
        CHECK(thread_caps[i] == caps);
    CHECK(caps != 0);
    CHECK((caps & ~((URK_CAP_LAST << 1) - 1)) == 0); /* no undefined bits */

    /* Dependencies between features. */
    if (caps & URK_CAP_DEFER_TASKRUN)
        CHECK(caps & URK_CAP_SINGLE_ISSUER);
    if (caps & URK_CAP_BUF_RING_INC)
        CHECK(caps & URK_CAP_BUF_RING);
    if (caps & URK_CAP_MSG_RING_FD)
        CHECK(caps & URK_CAP_MSG_RING);
    if (caps & URK_CAP_MULTISHOT_RECV)
        CHECK(caps & URK_CAP_BUF_RING);

    /* Kernel versions that added each feature. */
    struct {
        uint64_t cap;
        int major, minor;
    } since[] = {
        {URK_CAP_MULTISHOT_ACCEPT, 5, 19}, {URK_CAP_BUF_RING, 5, 19},
        {URK_CAP_MULTISHOT_RECV, 6, 0},    {URK_CAP_SEND_ZC, 6, 0},
        {URK_CAP_MSG_RING, 5, 18},         {URK_CAP_MSG_RING_FD, 6, 0},
        {URK_CAP_SINGLE_ISSUER, 6, 0},     {URK_CAP_DEFER_TASKRUN, 6, 1},
        {URK_CAP_COOP_TASKRUN, 5, 19},     {URK_CAP_REGISTERED_RING_FD, 5, 18},
        {URK_CAP_EXT_ARG, 5, 11},          {URK_CAP_CQE_SKIP, 5, 17},
        {URK_CAP_NODROP, 5, 5},            {URK_CAP_RECV_BUNDLE, 6, 10},
        {URK_CAP_BUF_RING_INC, 6, 12},     {URK_CAP_SQPOLL, 5, 11},
    };
    int missing = 0;
    for (size_t i = 0; i < sizeof since / sizeof since[0]; i++) {
        if (kernel_at_least(since[i].major, since[i].minor) && !(caps & since[i].cap)) {
            fprintf(stderr, "kernel >= %d.%d but %s missing\n", since[i].major,
                    since[i].minor, urk_cap_name(since[i].cap));
            missing++;
        }
    }
    CHECK(missing == 0);

    /* Names: one per defined bit, distinct, lowercase identifiers. */
    const char *names[64] = {0};
    int n = 0;
    for (uint64_t cap = 1; cap && cap <= URK_CAP_LAST; cap <<= 1) {
        const char *name = urk_cap_name(cap);
        CHECK(name != NULL && name[0]);
        for (const char *p = name; *p; p++)
            CHECK((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int j = 0; j < n; j++)
            CHECK(strcmp(names[j], name) != 0);
        names[n++] = name;
        printf("%-20s %s\n", name, (caps & cap) ? "yes" : "no");
    }
    CHECK(n == 16);
    CHECK(strcmp(urk_cap_name(URK_CAP_MULTISHOT_ACCEPT), "multishot_accept") == 0);
    CHECK(strcmp(urk_cap_name(URK_CAP_BUF_RING_INC), "buf_ring_inc") == 0);
    CHECK(strcmp(urk_cap_name(URK_CAP_NODROP), "nodrop") == 0);
    CHECK(urk_cap_name(0) == NULL);
    CHECK(urk_cap_name(URK_CAP_LAST << 1) == NULL);
    CHECK(urk_cap_name(1ull << 63) == NULL);
    CHECK(urk_cap_name(URK_CAP_BUF_RING | URK_CAP_MSG_RING) == NULL);
    CHECK(urk_cap_name(~0ull) == NULL);
    CHECK(urk_cap_name(3) == NULL);
    printf("ok\n");
    return 0;
}

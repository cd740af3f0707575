/* util.c - options copying, clocks, thread identity and socket options,
 * shared by every layer. */
#include "common.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

static _Thread_local char thread_marker;
const void *urk__thread_self(void) { return &thread_marker; }

uint64_t urk__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t urk__thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

_Static_assert(sizeof(urk_ring_opts_t) <= URK__OPTS_SIZE_MAX &&
                   sizeof(urk_bufring_opts_t) <= URK__OPTS_SIZE_MAX &&
                   sizeof(urk_engine_opts_t) <= URK__OPTS_SIZE_MAX &&
                   sizeof(urk_callbacks_t) <= URK__OPTS_SIZE_MAX &&
                   sizeof(urk_loadgen_opts_t) <= URK__OPTS_SIZE_MAX,
               "an options struct outgrew URK__OPTS_SIZE_MAX");

int urk__copy_opts(void *dst, size_t dst_size, const void *src)
{
    uint32_t src_size;
    memcpy(&src_size, src, sizeof src_size);
    /* Every options struct is a multiple of 8 bytes, as is every older
     * version of it: any other size would end inside a field (half a
     * pointer, say). */
    if (src_size < sizeof(uint32_t) * 2 || src_size % 8 || src_size > URK__OPTS_SIZE_MAX)
        return -EINVAL;
    if (src_size > dst_size) {
        const uint8_t *tail = (const uint8_t *)src + dst_size;
        for (size_t i = 0; i < src_size - dst_size; i++)
            if (tail[i])
                return -E2BIG;
        src_size = (uint32_t)dst_size;
    }
    memcpy(dst, src, src_size);
    memcpy(dst, &(uint32_t){(uint32_t)dst_size}, sizeof(uint32_t));
    return 0;
}

void urk__set_nodelay(int fd, int family)
{
    if (family != AF_INET && family != AF_INET6)
        return; /* a Unix-domain socket has no Nagle to turn off */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

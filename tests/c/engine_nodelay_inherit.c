/* A direct descriptor has no fd for setsockopt, so the engine sets
 * TCP_NODELAY on the listener and relies on Linux copying it into every
 * accepted socket. This checks that on the running kernel, over IPv4 and
 * IPv6, and that without it on the listener an accepted socket has Nagle
 * on (so the check can fail). */
#include "testutil.h"

#include <netinet/tcp.h>

static int accepted_nodelay(int v6, int on_listener)
{
    uint16_t port;
    int l = t_listen(v6, &port);
    int one = 1;
    if (on_listener)
        CHECK(setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    int c = t_connect(v6, port);
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0);
    int v = -1;
    socklen_t len = sizeof v;
    CHECK(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    close(a);
    close(c);
    close(l);
    return v != 0;
}

int main(void)
{
    for (int v6 = 0; v6 < 2; v6++) {
        CHECK(accepted_nodelay(v6, 1) == 1);
        CHECK(accepted_nodelay(v6, 0) == 0);
    }
    printf("ok\n");
    return 0;
}

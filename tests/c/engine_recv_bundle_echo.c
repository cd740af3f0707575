/* Receive bundles on (the default where the kernel has them): with 256-byte
 * buffers, large messages and pipelined small ones over 64 connections, many
 * receive completions cover several buffers (asserted: otherwise this test
 * would prove nothing), each split into one DATA event per buffer, every
 * buffer full but a bundle's last; the echo is byte-exact with buffers given
 * back out of id order; afterwards no buffer is held or lost. */
#include "recv_bundle_util.h"

int main(void)
{
    uint64_t caps = 0;
    if (urk_probe(&caps) != 0 || !(caps & URK_CAP_RECV_BUNDLE))
        t_skip("kernel without receive bundles (6.10+)");
    rb_result_t r = rb_run(0, 0);
    CHECK(r.bundles > 0);
    CHECK(r.bundle_bufs >= 2 * r.bundles);
    /* the split: a bundle's buffers before its last are full ones */
    CHECK(r.full_events >= r.bundle_bufs - r.bundles);
    printf("ok\n");
    return 0;
}

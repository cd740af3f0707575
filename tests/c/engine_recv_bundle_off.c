/* Receive bundles off: the bundle workload (see recv_bundle_util.h) with
 * URK_ENGINE_NO_RECV_BUNDLE, then with bundles on but the kernel's
 * URK_CAP_RECV_BUNDLE hidden from the engine (as on a kernel before 6.10).
 * Both echo byte-exact with one buffer per completion (no completion covers
 * several) and leave no buffer held or lost. */
#include "recv_bundle_util.h"

int main(void)
{
    rb_result_t r = rb_run(URK_ENGINE_NO_RECV_BUNDLE, 0);
    CHECK(r.bundles == 0 && r.bundle_bufs == 0);
    r = rb_run(0, 1);
    CHECK(r.bundles == 0 && r.bundle_bufs == 0);
    printf("ok\n");
    return 0;
}

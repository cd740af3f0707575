/* Option validation: every bad field is -EINVAL, an unknown non-zero tail is
 * -E2BIG, an older (smaller) struct gets defaults; nothing crashes. */
#include "loadgen_server.h"

#include <stddef.h>

static urk_loadgen_opts_t good(void)
{
    urk_loadgen_opts_t o = lg_opts(8080, "x", URK_FRAME_FIXED);
    o.response_len = 1;
    o.duration_ms = 100;
    return o;
}

static int create(const urk_loadgen_opts_t *o)
{
    urk_loadgen_t *lg = (urk_loadgen_t *)1;
    int rc = urk_loadgen_create(o, &lg);
    if (rc == 0)
        urk_loadgen_destroy(lg);
    else
        CHECK(lg == NULL);
    return rc;
}

#define BAD(stmt)                                                                \
    do {                                                                         \
        urk_loadgen_opts_t b = good();                                           \
        stmt;                                                                    \
        CHECK_RC(create(&b), -EINVAL);                                           \
    } while (0)

int main(void)
{
    urk_loadgen_opts_t o = good();
    CHECK_OK(create(&o));
    CHECK_RC(urk_loadgen_opts_init(NULL), -EINVAL);
    CHECK_RC(urk_loadgen_create(NULL, NULL), -EINVAL);
    CHECK_RC(urk_loadgen_create(&o, NULL), -EINVAL);
    urk_loadgen_t *lg;
    CHECK_RC(urk_loadgen_create(NULL, &lg), -EINVAL);

    BAD(b.host = NULL);
    BAD(b.host = "localhost"); /* no name resolution */
    BAD(b.host = "1.2.3");
    BAD(b.port = 0);
    BAD(b.connections = 0);
    BAD(b.threads = 0);
    BAD(b.threads = 65; b.connections = 100);
    BAD(b.threads = 5; b.connections = 4);
    BAD(b.framing = 0);
    BAD(b.framing = 4);
    BAD(b.request_len = 0);
    BAD(b.request = NULL);
    BAD(b.response_len = 0);
    BAD(b.framing = URK_FRAME_DELIM; b.delim = "\n"; b.delim_len = 0);
    BAD(b.framing = URK_FRAME_DELIM; b.delim = NULL; b.delim_len = 1);
    BAD(b.duration_ms = 0; b.max_requests = 0);
    BAD(b.flags = URK_LOAD_OPEN_LOOP; b.rate = 0);
    BAD(b.flags = 1u << 7);
    BAD(b.reserved[3] = 1);
    BAD(b.cpu = -2);
    BAD(b.struct_size = 4);

    /* fine: FIXED ignores delim, HTTP needs neither response_len nor delim */
    o = good();
    o.framing = URK_FRAME_DELIM;
    o.delim = "\r\n";
    o.delim_len = 2;
    o.response_len = 0;
    CHECK_OK(create(&o));
    o = good();
    o.framing = URK_FRAME_HTTP;
    o.response_len = 0;
    o.host = "[::1]";
    CHECK_OK(create(&o));

    /* newer caller: a zero tail is fine, a non-zero one is not */
    struct {
        urk_loadgen_opts_t o;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    big.o = good();
    big.o.struct_size = sizeof big;
    CHECK_OK(create(&big.o));
    big.extra = 1;
    CHECK_RC(create(&big.o), -E2BIG);

    /* older caller without `cpu` and `reserved`: cpu defaults to -1 */
    o = good();
    o.struct_size = offsetof(urk_loadgen_opts_t, cpu);
    o.cpu = 12345; /* beyond the struct the caller claims: ignored */
    CHECK_OK(create(&o));

    /* a CPU the machine does not have: run refuses, nothing runs */
    o = good();
    o.cpu = 1000;
    CHECK_OK(urk_loadgen_create(&o, &lg));
    CHECK_RC(urk_loadgen_run(lg), -EINVAL);
    urk_loadgen_destroy(lg);

    CHECK_RC(urk_loadgen_run(NULL), -EINVAL);
    urk_loadgen_result_t r;
    CHECK_RC(urk_loadgen_result(NULL, &r), -EINVAL);
    o = good();
    CHECK_OK(urk_loadgen_create(&o, &lg));
    CHECK_RC(urk_loadgen_result(lg, NULL), -EINVAL);
    CHECK_OK(urk_loadgen_result(lg, &r)); /* before any run: all zero */
    CHECK(r.requests == 0 && r.elapsed_ns == 0 && r.lat_p50_ns == 0);
    CHECK_RC(urk_loadgen_timeline(lg, NULL, 1), -EINVAL);
    CHECK(urk_loadgen_timeline(lg, NULL, 0) == 0);
    uint64_t v = 7;
    CHECK_OK(urk_loadgen_percentile(lg, 500000, &v));
    CHECK(v == 0);
    urk_loadgen_destroy(lg);
    printf("ok\n");
    return 0;
}

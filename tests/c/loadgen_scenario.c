/* Scenarios: several request kinds chosen by weight (smooth weighted round
 * robin: exact shares), counted apart with their own latency histograms;
 * bad scenarios are refused; ramp_ms starts connections spread over time. */
#include "loadgen_server.h"

static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

int main(void)
{
    lgs_opts_t so = {.request_len = 6, .response = ok, .response_len = sizeof ok - 1};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_request_t reqs[3] = {
        {.data = "GET a\n", .len = 6, .weight = 3},
        {.data = "GET b\n", .len = 6, .weight = 1},
        {.data = "GET c\n", .len = 6, .weight = 0}, /* counts as 1 */
    };
    urk_loadgen_opts_t o = lg_opts(s->port, "x", URK_FRAME_HTTP);
    o.request = NULL;
    o.request_len = 0;
    o.requests = reqs;
    o.nrequests = 3;
    o.connections = 1;
    o.max_requests = 500;
    urk_loadgen_t *lg = NULL;
    CHECK_OK(urk_loadgen_create(&o, &lg));
    memset(reqs, 0, sizeof reqs); /* copied at create */
    CHECK_OK(urk_loadgen_run(lg));
    urk_loadgen_result_t total, r[3];
    CHECK_OK(urk_loadgen_result_ex(lg, &total, sizeof total));
    lg_print("total", &total);
    CHECK(total.responses == 500 && total.requests == 500 && lg_errors(&total) == 0);
    uint64_t want[3] = {300, 100, 100}, sum = 0;
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_OK(urk_loadgen_request_result(lg, i, &r[i], sizeof r[i]));
        lg_print("kind", &r[i]);
        CHECK(r[i].responses == want[i] && r[i].requests == want[i]);
        CHECK(r[i].lat_min_ns >= total.lat_min_ns && r[i].lat_max_ns <= total.lat_max_ns);
        CHECK(r[i].elapsed_ns == total.elapsed_ns);
        uint32_t code;
        uint64_t count;
        CHECK(urk_loadgen_request_status(lg, i, &code, &count, 1) == 1);
        CHECK(code == 200 && count == want[i]);
        uint64_t h[URK_LOADGEN_HIST_BUCKETS], n = 0;
        CHECK(urk_loadgen_request_histogram(lg, i, h, URK_LOADGEN_HIST_BUCKETS) ==
              URK_LOADGEN_HIST_BUCKETS);
        for (int k = 0; k < URK_LOADGEN_HIST_BUCKETS; k++)
            n += h[k];
        CHECK(n == want[i]);
        sum += r[i].lat_sum_ns;
    }
    CHECK(sum == total.lat_sum_ns);
    CHECK_RC(urk_loadgen_request_result(lg, 3, &r[0], sizeof r[0]), -EINVAL);
    CHECK_RC(urk_loadgen_request_status(lg, 3, NULL, NULL, 0), -EINVAL);
    urk_loadgen_destroy(lg);
    CHECK(lgs_stop(s) == 500);

    /* no scenario: the per-kind calls refuse */
    s = lgs_start(&so);
    o = lg_opts(s->port, "GET a\n", URK_FRAME_HTTP);
    o.max_requests = 5;
    CHECK_OK(urk_loadgen_create(&o, &lg));
    CHECK_OK(urk_loadgen_run(lg));
    CHECK_RC(urk_loadgen_request_result(lg, 0, &r[0], sizeof r[0]), -EINVAL);
    urk_loadgen_destroy(lg);

    /* bad scenarios */
    urk_loadgen_request_t bad[2] = {{.data = "GET a\n", .len = 6}, {.data = NULL, .len = 6}};
    o.requests = bad;
    o.nrequests = 2;
    CHECK_RC(urk_loadgen_create(&o, &lg), -EINVAL); /* request set too */
    o.request = NULL;
    o.request_len = 0;
    CHECK_RC(urk_loadgen_create(&o, &lg), -EINVAL); /* NULL data */
    bad[1].data = "x";
    bad[1].reserved[0] = 1;
    CHECK_RC(urk_loadgen_create(&o, &lg), -EINVAL);
    o.nrequests = 0;
    CHECK_RC(urk_loadgen_create(&o, &lg), -EINVAL);
    o.nrequests = URK_LOADGEN_MAX_REQUESTS + 1;
    CHECK_RC(urk_loadgen_create(&o, &lg), -EINVAL);
    lgs_stop(s);

    /* ramp: over 20 s, a 300 ms run starts only the first of 4 connections */
    s = lgs_start(&so);
    o = lg_opts(s->port, "GET a\n", URK_FRAME_HTTP);
    o.connections = 4;
    o.duration_ms = 300;
    o.ramp_ms = 20000;
    urk_loadgen_result_t rr = lg_run(&o);
    lg_print("ramp", &rr);
    CHECK(rr.responses > 0 && lg_errors(&rr) == 0);
    CHECK(atomic_load(&s->accepted) == 1);
    lgs_stop(s);
    printf("ok\n");
    return 0;
}

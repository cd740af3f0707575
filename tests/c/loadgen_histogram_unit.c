/* The latency histogram alone: bucket boundaries are contiguous, every
 * percentile is within 1/128 above the exact one and never below it, merge
 * adds, and huge values are clamped, not lost. */
#include "testutil.h"

#include "loadgen/loadgen_histogram.c"

static uint64_t rng = 0x1234567ull;
static uint64_t rnd64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    /* contiguous buckets: index(high(i)) == i and high(i) + 1 starts i+1 */
    for (uint32_t i = 0; i + 1 < URK_HIST_BUCKETS; i++) {
        uint64_t hi = urk__hist_bucket_high(i);
        CHECK(urk__hist_index(hi) == i);
        CHECK(urk__hist_index(hi + 1) == i + 1);
        uint64_t lo = i ? urk__hist_bucket_high(i - 1) + 1 : 0;
        CHECK(hi - lo <= lo / 128); /* width bounds the relative error */
    }
    CHECK(urk__hist_index(UINT64_MAX) == URK_HIST_BUCKETS - 1);
    CHECK(urk__hist_index(1ull << URK_HIST_MAX_BITS) == URK_HIST_BUCKETS - 1);

    static urk_hist_t h, a, b, m;
    urk__hist_init(&h);
    CHECK(urk__hist_percentile(&h, 500000) == 0);

    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof *v);
    CHECK(v);
    urk__hist_init(&a);
    urk__hist_init(&b);
    for (int i = 0; i < N; i++) {
        /* log-uniform from 1 ns to ~17 s, plus exact small values */
        int bits = (int)(rnd64() % 34);
        v[i] = (rnd64() & ((1ull << bits) - 1)) + (i % 7 == 0 ? 0 : 1);
        urk__hist_record(&h, v[i]);
        urk__hist_record(i % 2 ? &a : &b, v[i]);
    }
    qsort(v, N, sizeof *v, cmp);
    urk__hist_init(&m);
    urk__hist_merge(&m, &a);
    urk__hist_merge(&m, &b);
    static const uint32_t qs[] = {0, 1, 10, 1000, 100000, 250000, 500000, 900000,
                                  990000, 999000, 999900, 999999, 1000000};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        uint64_t rank = ((uint64_t)N * qs[i] + 999999) / 1000000;
        uint64_t exact = v[rank ? rank - 1 : 0];
        uint64_t got = urk__hist_percentile(&h, qs[i]);
        if (got < exact || got - exact > exact / 128) {
            fprintf(stderr, "q=%u exact %llu got %llu\n", qs[i], (unsigned long long)exact,
                    (unsigned long long)got);
            exit(1);
        }
        CHECK(urk__hist_percentile(&m, qs[i]) == got);
    }
    CHECK(urk__hist_percentile(&h, 0) == v[0]);
    CHECK(urk__hist_percentile(&h, 1000000) == v[N - 1]);
    CHECK(atomic_load(&m.total) == N && atomic_load(&m.min) == v[0] &&
          atomic_load(&m.max) == v[N - 1]);

    /* one sample: every percentile is exactly it */
    urk__hist_init(&h);
    urk__hist_record(&h, 20123456);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        CHECK(urk__hist_percentile(&h, qs[i]) == 20123456);
    /* beyond the range: clamped into the last bucket, max kept exactly */
    urk__hist_record(&h, UINT64_MAX / 2);
    CHECK(urk__hist_percentile(&h, 1000000) == UINT64_MAX / 2);
    CHECK(atomic_load(&h.total) == 2);
    free(v);
    printf("ok\n");
    return 0;
}

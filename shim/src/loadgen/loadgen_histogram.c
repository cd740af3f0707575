/* histogram.c - log-linear latency histogram with bounded relative error
 * (see internal.h, "loadgen"). One writer per histogram; readers on other
 * threads see relaxed snapshots, which is all a live progress line needs. */
#include "loadgen.h"

#define RELAXED memory_order_relaxed

static inline uint64_t load(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, RELAXED);
}

static inline void store(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, RELAXED);
}

void urk__hist_init(urk_hist_t *h)
{
    store(&h->total, 0);
    store(&h->sum, 0);
    store(&h->min, UINT64_MAX);
    store(&h->max, 0);
    for (uint32_t i = 0; i < URK_HIST_BUCKETS; i++)
        store(&h->counts[i], 0);
}

uint32_t urk__hist_index(uint64_t v)
{
    if (v < URK_HIST_SUB)
        return (uint32_t)v;
    if (v >> URK_HIST_MAX_BITS)
        v = (1ull << URK_HIST_MAX_BITS) - 1;
    uint32_t k = 63u - (uint32_t)__builtin_clzll(v); /* URK_HIST_SUB_BITS.. */
    uint32_t shift = k - URK_HIST_SUB_BITS;
    uint32_t sub = (uint32_t)(v >> shift) - URK_HIST_SUB;
    return URK_HIST_SUB + shift * URK_HIST_SUB + sub;
}

uint64_t urk__hist_bucket_high(uint32_t index)
{
    if (index < URK_HIST_SUB)
        return index;
    if (index >= URK_HIST_BUCKETS)
        index = URK_HIST_BUCKETS - 1;
    uint32_t j = index - URK_HIST_SUB;
    uint32_t shift = j / URK_HIST_SUB;
    uint64_t low = (uint64_t)(URK_HIST_SUB + j % URK_HIST_SUB) << shift;
    return low + (1ull << shift) - 1;
}

void urk__hist_record(urk_hist_t *h, uint64_t v)
{
    _Atomic uint64_t *c = &h->counts[urk__hist_index(v)];
    store(c, load(c) + 1);
    store(&h->total, load(&h->total) + 1);
    store(&h->sum, load(&h->sum) + v);
    if (v < load(&h->min))
        store(&h->min, v);
    if (v > load(&h->max))
        store(&h->max, v);
}

void urk__hist_merge(urk_hist_t *dst, const urk_hist_t *src)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < URK_HIST_BUCKETS; i++) {
        uint64_t n = load(&src->counts[i]);
        if (n) {
            store(&dst->counts[i], load(&dst->counts[i]) + n);
            total += n;
        }
    }
    /* total from the buckets themselves, so a snapshot taken while the
     * writer runs stays self-consistent for percentiles. */
    store(&dst->total, load(&dst->total) + total);
    store(&dst->sum, load(&dst->sum) + load(&src->sum));
    uint64_t mn = load(&src->min), mx = load(&src->max);
    if (total && mn < load(&dst->min))
        store(&dst->min, mn);
    if (total && mx > load(&dst->max))
        store(&dst->max, mx);
}

uint64_t urk__hist_percentile(const urk_hist_t *h, uint32_t q_ppm)
{
    uint64_t total = load(&h->total);
    if (total == 0)
        return 0;
    uint64_t mn = load(&h->min), mx = load(&h->max);
    if (q_ppm == 0)
        return mn;
    if (q_ppm >= 1000000)
        return mx;
    /* rank = ceil(q * total), at least 1; 128-bit to avoid overflow. */
    unsigned __int128 r = (unsigned __int128)total * q_ppm + 999999u;
    uint64_t rank = (uint64_t)(r / 1000000u);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    uint32_t i;
    for (i = 0; i < URK_HIST_BUCKETS; i++) {
        seen += load(&h->counts[i]);
        if (seen >= rank)
            break;
    }
    uint64_t v = urk__hist_bucket_high(i);
    if (v > mx)
        v = mx;
    if (v < mn)
        v = mn;
    return v;
}

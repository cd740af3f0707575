/* bufring.c - provided-buffer rings: registration (liburing 2.3 lacks
 * io_uring_setup_buf_ring), per-buffer ownership so no buffer is lost or
 * recycled twice, batched recycling, incremental consumption. */
#include "uring.h"

#include <stdlib.h>
#include <sys/mman.h>

int urk_bufring_opts_init(urk_bufring_opts_t *opts)
{
    if (!opts)
        return -EINVAL;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->count = 256;
    opts->size = 4096;
    return 0;
}

urk_bufring_t *urk__bufring_find(urk_ring_t *ring, uint16_t group)
{
    for (uint32_t i = 0; i < ring->nbufrings; i++)
        if (ring->bufrings[i]->group == group)
            return ring->bufrings[i];
    return NULL;
}

static void bufring_free_memory(urk_bufring_t *br)
{
    if (br->br)
        munmap(br->br, br->br_bytes);
    if (br->base)
        munmap(br->base, br->base_bytes);
    free(br->refs);
    free(br->in_kernel);
    free(br->inc_off);
    free(br->slot_bid);
    free(br->bid_pos);
    free(br->bundle_next);
    free(br);
}

/* Adds bid at entry tail + offset (visible to the kernel at advance()). */
static inline void publish_one(urk_bufring_t *br, uint32_t bid, int offset)
{
    uint32_t pos = br->pub + (uint32_t)offset;
    io_uring_buf_ring_add(br->br, br->base + (size_t)bid * br->size, br->size,
                          (unsigned short)bid, (int)br->mask, offset);
    br->slot_bid[pos & br->mask] = (uint16_t)bid;
    br->bid_pos[bid] = pos;
}

static inline void advance(urk_bufring_t *br, int n)
{
    io_uring_buf_ring_advance(br->br, n);
    br->pub += (uint32_t)n;
}

static void buf_on_cqe(urk_ring_t *ring, const struct io_uring_cqe *cqe, urk_cqe_t *out);

static void buf_release_all(urk_ring_t *ring)
{
    while (ring->nbufrings)
        urk_bufring_destroy(ring->bufrings[ring->nbufrings - 1]);
    free(ring->bufrings);
    ring->bufrings = NULL;
    ring->bufrings_cap = 0;
    urk__group_map_free(&ring->group_map);
}

static const urk_buf_hooks_t buf_hooks = {buf_on_cqe, buf_release_all};

int urk_bufring_create(urk_ring_t *ring, const urk_bufring_opts_t *opts_in,
                       urk_bufring_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!ring)
        return -EINVAL;
    urk_bufring_opts_t opts;
    urk_bufring_opts_init(&opts);
    if (opts_in) {
        int rc = urk__copy_opts(&opts, sizeof opts, opts_in);
        if (rc)
            return rc;
    }
    if (opts.flags & ~URK_BUFRING_INC)
        return -EINVAL;
    if (!opts.count || (opts.count & (opts.count - 1)) || opts.count > 32768)
        return -EINVAL;
    if (!opts.size || opts.size > (1u << 30))
        return -EINVAL;
    if (opts.reserved0 || opts.reserved[0] || opts.reserved[1] || opts.reserved[2])
        return -EINVAL;
    int trc = urk__ring_issuer_check(ring);
    if (trc)
        return trc;
    if (urk__bufring_find(ring, opts.group_id))
        return -EEXIST;

    urk_bufring_t *br = calloc(1, sizeof *br);
    if (!br)
        return -ENOMEM;
    br->ring = ring;
    br->count = opts.count;
    br->size = opts.size;
    br->mask = (uint32_t)io_uring_buf_ring_mask(opts.count);
    br->flags = opts.flags;
    br->group = opts.group_id;
    br->refs = calloc(opts.count, sizeof *br->refs);
    br->in_kernel = calloc(opts.count, 1);
    if (opts.flags & URK_BUFRING_INC)
        br->inc_off = calloc(opts.count, sizeof *br->inc_off);
    br->slot_bid = calloc(opts.count, sizeof *br->slot_bid);
    br->bid_pos = calloc(opts.count, sizeof *br->bid_pos);
    br->bundle_next = calloc(opts.count, sizeof *br->bundle_next);
    br->br_bytes = (size_t)opts.count * sizeof(struct io_uring_buf);
    br->base_bytes = (size_t)opts.count * opts.size;
    if (br->base_bytes / opts.count != opts.size) {
        bufring_free_memory(br);
        return -EINVAL;
    }
    void *rmem = mmap(NULL, br->br_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *bmem = mmap(NULL, br->base_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    br->br = rmem == MAP_FAILED ? NULL : rmem;
    br->base = bmem == MAP_FAILED ? NULL : bmem;
    if (!br->refs || !br->in_kernel || !br->br || !br->base || !br->slot_bid ||
        !br->bid_pos || !br->bundle_next ||
        ((opts.flags & URK_BUFRING_INC) && !br->inc_off)) {
        bufring_free_memory(br);
        return -ENOMEM;
    }
    io_uring_buf_ring_init(br->br);

    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br->br;
    reg.ring_entries = opts.count;
    reg.bgid = opts.group_id;
    /* 2.3 headers call the flags field `pad`. */
    if (opts.flags & URK_BUFRING_INC)
        reg.pad = IOU_PBUF_RING_INC;
    int rc = io_uring_register_buf_ring(&ring->io, &reg, 0);
    if (rc) {
        bufring_free_memory(br);
        if ((opts.flags & URK_BUFRING_INC) && rc == -EINVAL)
            return -URK_ENOTSUP;
        return rc;
    }

    if (ring->nbufrings == ring->bufrings_cap) {
        uint32_t cap = ring->bufrings_cap ? ring->bufrings_cap * 2 : 4;
        urk_bufring_t **nb = realloc(ring->bufrings, cap * sizeof *nb);
        if (!nb) {
            io_uring_unregister_buf_ring(&ring->io, opts.group_id);
            bufring_free_memory(br);
            return -ENOMEM;
        }
        ring->bufrings = nb;
        ring->bufrings_cap = cap;
    }
    if (ring->nbufrings == 0 && !ring->multi_groups)
        ring->solo_group = opts.group_id;
    else
        ring->multi_groups = 1;
    ring->bufrings[ring->nbufrings++] = br;
    ring->buf_hooks = &buf_hooks;

    for (uint32_t bid = 0; bid < opts.count; bid++) {
        publish_one(br, bid, (int)bid);
        br->in_kernel[bid] = 1;
    }
    advance(br, (int)opts.count);
    br->available = opts.count;
    *out = br;
    return 0;
}

void urk_bufring_destroy(urk_bufring_t *br)
{
    if (!br)
        return;
    urk_ring_t *ring = br->ring;
    io_uring_unregister_buf_ring(&ring->io, br->group);
    for (uint32_t i = 0; i < ring->nbufrings; i++) {
        if (ring->bufrings[i] == br) {
            ring->bufrings[i] = ring->bufrings[--ring->nbufrings];
            break;
        }
    }
    ring->stats.bufs_out -= br->held;
    bufring_free_memory(br);
}

int urk_bufring_buf(const urk_bufring_t *br, uint32_t bid, void **ptr)
{
    if (!br || !ptr || bid >= br->count)
        return -EINVAL;
    *ptr = br->base + (size_t)bid * br->size;
    return 0;
}

int urk_bufring_available(const urk_bufring_t *br)
{
    if (!br)
        return -EINVAL;
    int rc = urk__ring_issuer_check(br->ring);
    if (rc)
        return rc;
    return (int)br->available;
}

int urk_bufring_group(const urk_bufring_t *br)
{
    if (!br)
        return -EINVAL;
    return br->group;
}

/* Returns a buffer the caller no longer holds and the kernel is done with.
 * Does not publish the tail: callers batch that. Returns 1 if queued. */
static int give_back(urk_bufring_t *br, uint32_t bid, int *queued)
{
    if (br->refs[bid] || br->in_kernel[bid])
        return 0;
    publish_one(br, bid, (*queued)++);
    br->in_kernel[bid] = 1;
    if (br->inc_off)
        br->inc_off[bid] = 0;
    br->available++;
    return 1;
}

int urk_bufring_recycle(urk_bufring_t *br, const uint16_t *bids, uint32_t n)
{
    if (!br || (!bids && n))
        return -EINVAL;
    int rc = urk__ring_issuer_check(br->ring);
    if (rc)
        return rc;
    /* Validate the whole batch first so a bad entry recycles nothing. */
    uint32_t i;
    for (i = 0; i < n; i++) {
        uint16_t bid = bids[i];
        if (bid >= br->count) {
            rc = -EINVAL;
            break;
        }
        if (br->refs[bid] == 0) {
            rc = -EALREADY;
            break;
        }
        br->refs[bid]--;
    }
    if (rc) {
        while (i--)
            br->refs[bids[i]]++;
        return rc;
    }
    int queued = 0;
    for (i = 0; i < n; i++)
        give_back(br, bids[i], &queued);
    if (queued)
        advance(br, queued);
    br->held -= n;
    br->ring->stats.bufs_out -= n;
    return (int)n;
}

/* ---- completion conversion ---- */

/* A bundle (only a bundled recv puts more than one buffer's size in one
 * completion of a plain group): the buffers after `first` are the entries
 * that followed it in ring order. An entry is overwritten only once the tail
 * has run a whole ring past it, which needs the buffers the kernel took after
 * it converted and given back first; completions come in the order the
 * kernel took their buffers (it commits entries and posts the completion
 * together), so these entries are intact. Each is still checked (the
 * kernel's, added at exactly that position), so a bundle is never extended
 * over a buffer the kernel may still fill; one that fails stops the bundle
 * short and counts in bundle_broken (never seen). Marks the buffers after
 * `first` held, chained through bundle_next; the caller takes `first`.
 * Returns the bytes covered. */
static uint32_t take_bundle(urk_bufring_t *br, uint32_t first, uint32_t len)
{
    uint32_t n = (len + br->size - 1) / br->size;
    uint32_t pos = br->bid_pos[first], prev = first, k;
    for (k = 1; k < n; k++) {
        uint32_t bid = br->slot_bid[(pos + k) & br->mask];
        if (!br->in_kernel[bid] || br->bid_pos[bid] != pos + k || bid == first)
            break;
        br->in_kernel[bid] = 0;
        br->available--;
        br->refs[bid]++;
        br->held++;
        br->ring->stats.bufs_out++;
        br->bundle_next[prev] = (uint16_t)bid;
        prev = bid;
    }
    br->bundles++;
    br->bundle_bufs += k;
    if (k < n) {
        br->bundle_broken++;
        return k * br->size;
    }
    return len;
}

/* The ring's hook: out already holds the plain fields. */
static void buf_on_cqe(urk_ring_t *ring, const struct io_uring_cqe *cqe, urk_cqe_t *out)
{
    if (!(cqe->flags & IORING_CQE_F_BUFFER))
        goto done;

    /* Recvs armed since a second group appeared are in the map; any other
     * was armed while solo_group was the only group. A ring that only ever
     * had one group (every engine reactor) pays no lookup. */
    uint16_t group;
    urk_bufring_t *br = NULL;
    if (ring->multi_groups && urk__group_map_get(&ring->group_map, cqe->user_data, &group) == 0)
        br = urk__bufring_find(ring, group);
    else if (ring->nbufrings == 1 && ring->bufrings[0]->group == ring->solo_group)
        br = ring->bufrings[0];
    else
        br = urk__bufring_find(ring, ring->solo_group);
    uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (!br || bid >= br->count) {
        /* Cannot happen unless the group was destroyed with ops in flight. */
        out->flags &= ~(uint32_t)URK_CQE_F_BUFFER;
        goto done;
    }
    int kernel_keeps = br->inc_off && (cqe->flags & IORING_CQE_F_BUF_MORE);
    uint32_t off = br->inc_off ? br->inc_off[bid] : 0;
    if (!kernel_keeps) {
        if (br->in_kernel[bid])
            br->available--;
        br->in_kernel[bid] = 0;
    }
    if (cqe->res <= 0) {
        /* A buffer without data (EOF, error) goes straight back. */
        int queued = 0;
        if (give_back(br, bid, &queued))
            advance(br, queued);
        out->flags &= ~(uint32_t)URK_CQE_F_BUFFER;
        goto done;
    }
    uint32_t len = (uint32_t)cqe->res;
    if (!br->inc_off && len > br->size)
        len = take_bundle(br, bid, len);
    if (br->inc_off)
        br->inc_off[bid] += (uint32_t)cqe->res;
    br->refs[bid]++;
    br->held++;
    ring->stats.bufs_out++;
    out->buf = br->base + (size_t)bid * br->size + off;
    out->buf_len = len;
    out->buf_id = (uint16_t)bid;
    out->buf_group = br->group;
done:
    if (!(cqe->flags & IORING_CQE_F_MORE) && ring->group_map.used)
        urk__group_map_del(&ring->group_map, cqe->user_data);
}

/* ---- user_data -> group map (open addressing, linear probing) ---- */

static uint32_t map_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

/* Keys are stored as user_data + 1 so that 0 marks an empty slot. The one
 * user_data that cannot be stored that way (UINT64_MAX) lives in an extra
 * slot at index cap, outside the probed range. */
static int map_grow(urk_group_map_t *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 64;
    urk_group_map_t n = {calloc(cap + 1, sizeof(uint64_t)), calloc(cap + 1, sizeof(uint16_t)),
                         cap, 0};
    if (!n.keys || !n.groups) {
        free(n.keys);
        free(n.groups);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            urk__group_map_put(&n, m->keys[i] - 1, m->groups[i]);
    if (m->cap && m->keys[m->cap]) {
        n.keys[cap] = 1;
        n.groups[cap] = m->groups[m->cap];
        n.used++;
    }
    free(m->keys);
    free(m->groups);
    *m = n;
    return 0;
}

int urk__group_map_put(urk_group_map_t *m, uint64_t key, uint16_t group)
{
    if ((m->used + 1) * 2 > m->cap) {
        int rc = map_grow(m);
        if (rc)
            return rc;
    }
    if (key == UINT64_MAX) {
        if (!m->keys[m->cap])
            m->used++;
        m->keys[m->cap] = 1;
        m->groups[m->cap] = group;
        return 0;
    }
    uint32_t i = map_hash(key) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key + 1)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->used++;
    m->keys[i] = key + 1;
    m->groups[i] = group;
    return 0;
}

int urk__group_map_get(const urk_group_map_t *m, uint64_t key, uint16_t *group)
{
    if (!m->cap)
        return -ENOENT;
    if (key == UINT64_MAX) {
        if (!m->keys[m->cap])
            return -ENOENT;
        *group = m->groups[m->cap];
        return 0;
    }
    uint32_t i = map_hash(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->keys[i] == key + 1) {
            *group = m->groups[i];
            return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return -ENOENT;
}

void urk__group_map_del(urk_group_map_t *m, uint64_t key)
{
    if (!m->cap)
        return;
    if (key == UINT64_MAX) {
        if (m->keys[m->cap]) {
            m->keys[m->cap] = 0;
            m->used--;
        }
        return;
    }
    uint32_t mask = m->cap - 1, i = map_hash(key) & mask;
    while (m->keys[i] && m->keys[i] != key + 1)
        i = (i + 1) & mask;
    if (!m->keys[i])
        return;
    m->keys[i] = 0;
    m->used--;
    /* Re-insert the rest of the cluster so lookups stay correct. */
    for (uint32_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        uint64_t k = m->keys[j];
        uint16_t g = m->groups[j];
        m->keys[j] = 0;
        m->used--;
        urk__group_map_put(m, k - 1, g);
    }
}

void urk__group_map_free(urk_group_map_t *m)
{
    free(m->keys);
    free(m->groups);
    memset(m, 0, sizeof *m);
}

uint32_t urk__bufring_reclaim(urk_bufring_t *br)
{
    uint32_t n = 0;
    int queued = 0;
    for (uint32_t bid = 0; bid < br->count; bid++) {
        if (!br->refs[bid])
            continue;
        n += br->refs[bid];
        br->refs[bid] = 0;
        give_back(br, bid, &queued);
    }
    if (queued)
        advance(br, queued);
    br->held -= n;
    br->ring->stats.bufs_out -= n;
    return n;
}

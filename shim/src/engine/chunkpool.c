/* chunkpool.c - the per-reactor pool of send chunks: a free list per size
 * class in one lazily mmap'd arena, instead of malloc/free per send. Only
 * the reactor's owner thread touches it (every send and every completion
 * runs there). Blocks live outside the malloc heap: the pool's few hundred
 * KiB never keep the heap from shrinking after a burst of large sends. */
#include "engine.h"

#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* A free block is poisoned past its link: a use after urk__chunk_put is
 * reported as a use after free() would be. */
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static const uint32_t class_size[URK_CHUNK_CLASSES] = {128, 512, 2048};

static uint8_t *class_base(urk_reactor_t *r, unsigned cls)
{
    return r->chunk_arena + (size_t)cls * URK_CHUNK_CLASS_BYTES;
}

urk_chunk_t *urk__chunk_get(urk_reactor_t *r, uint32_t data)
{
    size_t need = sizeof(urk_chunk_t) + data;
    urk_chunk_t *k;
    unsigned cls = 0;
    while (cls < URK_CHUNK_CLASSES && need > class_size[cls])
        cls++;
    if (cls == URK_CHUNK_CLASSES || (r->engine->opts.flags & URK_ENGINE_NO_SEND_POOL) ||
        atomic_load(&r->stopping))
        goto heap;
    if (!r->chunk_arena) {
        /* Address space only: pages are touched as blocks are first used. */
        void *m = mmap(NULL, (size_t)URK_CHUNK_CLASSES * URK_CHUNK_CLASS_BYTES,
                       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            goto heap;
        r->chunk_arena = m;
    }
    k = r->chunk_free[cls];
    if (k) {
        UNPOISON(k, class_size[cls]);
        r->chunk_free[cls] = k->next;
    } else if (r->chunk_fresh[cls] < URK_CHUNK_CLASS_BYTES / class_size[cls]) {
        k = (urk_chunk_t *)(class_base(r, cls) + (size_t)r->chunk_fresh[cls]++ * class_size[cls]);
    } else {
        goto heap; /* class used up: more sends in flight than it holds */
    }
    k->pooled = cls + 1;
    r->chunk_out++;
    return k;
heap:
    k = malloc(need);
    if (k)
        k->pooled = 0;
    return k;
}

void urk__chunk_put(urk_reactor_t *r, urk_chunk_t *k)
{
    if (!k->pooled) {
        free(k);
        return;
    }
    unsigned cls = k->pooled - 1;
    k->next = r->chunk_free[cls];
    r->chunk_free[cls] = k;
    r->chunk_out--;
    POISON((uint8_t *)k + sizeof k->next, class_size[cls] - sizeof k->next);
}

void urk__chunk_pool_drain(urk_reactor_t *r, int force)
{
    if (!r->chunk_arena || (r->chunk_out && !force))
        return;
    size_t bytes = (size_t)URK_CHUNK_CLASSES * URK_CHUNK_CLASS_BYTES;
    UNPOISON(r->chunk_arena, bytes);
    munmap(r->chunk_arena, bytes);
    r->chunk_arena = NULL;
    for (unsigned c = 0; c < URK_CHUNK_CLASSES; c++) {
        r->chunk_free[c] = NULL;
        r->chunk_fresh[c] = 0;
    }
    r->chunk_out = 0;
}

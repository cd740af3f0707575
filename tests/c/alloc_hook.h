/* alloc_hook.h - malloc/calloc/free of the test program, which the library's
 * calls resolve to as well: a test makes one allocation size fail, or
 * watches when one block is freed. Not with sanitizers (they own malloc):
 * ALLOC_HOOK is 0 there and the tests skip. */
#ifndef URK_ALLOC_HOOK_H
#define URK_ALLOC_HOOK_H

#include <stdatomic.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_HOOK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ALLOC_HOOK 0
#endif
#endif
#ifndef ALLOC_HOOK
#define ALLOC_HOOK 1
#endif

static _Atomic size_t ah_fail_malloc; /* malloc(this size) fails */
static _Atomic size_t ah_fail_calloc; /* calloc(this, 1) fails */
static _Atomic size_t ah_watch_size;  /* remember the block malloc(this) returns */
static void *_Atomic ah_watched;
static _Atomic int ah_watched_freed;

#if ALLOC_HOOK
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void free(void *p);

void *malloc(size_t n)
{
    if (n && n == atomic_load(&ah_fail_malloc)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_malloc(n);
    if (n && n == atomic_load(&ah_watch_size)) {
        atomic_store(&ah_watched, p);
        atomic_store(&ah_watched_freed, 0);
    }
    return p;
}

void *calloc(size_t a, size_t b)
{
    if (b == 1 && a && a == atomic_load(&ah_fail_calloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(a, b);
}

void free(void *p)
{
    if (p && p == atomic_load(&ah_watched))
        atomic_store(&ah_watched_freed, 1);
    __libc_free(p);
}
#endif

#endif

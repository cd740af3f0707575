/* common.h - what every layer of the shim shares: the public header seen
 * from inside the library, small macros, options copying and clocks.
 * Nothing here is ABI. */
#ifndef URK_COMMON_H
#define URK_COMMON_H

#define URK_BUILDING_LIBRARY 1
#include "../../include/urocket.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#define URK_UNUSED(x) ((void)(x))
#define URK_LIKELY(x) __builtin_expect(!!(x), 1)
#define URK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- options structs that can grow (see abi.md, "Extensible structs") ---- */

/* Upper bound of struct_size for every options struct (abi.md, "Extensible
 * structs"). A larger value cannot come from any header, released or
 * future: it is refused before a byte past the library's own struct is
 * read, so a garbage size cannot make the copy run off the caller's
 * mapping. Every options struct stays below it as it grows. */
#define URK__OPTS_SIZE_MAX 1024u

/* Copies a caller's options struct of (*(uint32_t *)src) bytes into dst of
 * dst_size bytes that already holds defaults for fields the caller lacks.
 * Smaller structs are older callers; larger ones (up to URK__OPTS_SIZE_MAX)
 * must have a zero tail. -EINVAL for a size below 8, not a multiple of 8 or
 * above the bound; -E2BIG for a non-zero tail. */
int urk__copy_opts(void *dst, size_t dst_size, const void *src);

/* Identity of the calling thread without a syscall. */
const void *urk__thread_self(void);

/* ---- time ---- */
uint64_t urk__now_ns(void);        /* CLOCK_MONOTONIC */
uint64_t urk__thread_cpu_ns(void); /* CLOCK_THREAD_CPUTIME_ID */

/* Relaxed counters that other threads may read. URK_STAT_ADD is for a
 * counter only one thread writes; URK_STAT_ADD_SHARED for one several
 * threads write (a locked add). */
#define URK_STAT_ADD(field, n) \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
                          memory_order_relaxed)
#define URK_STAT_ADD_SHARED(field, n) atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)
#define URK_STAT_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

#endif

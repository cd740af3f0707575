/* compat01.c - entry points kept for programs linked against 0.1.0.
 *
 * An *_init function writes a whole struct of the size the library knows.
 * When a struct grows (urk_callbacks_t: 64 bytes in 0.1.0, 72 since 0.2),
 * a program built against the old header passes a smaller struct, and the
 * new init would write past its end. So each such init has two versions:
 * name@@UROCKET_0.x (the default, what new programs link to: the whole new
 * struct; defined here too, under another name) and name@UROCKET_0.1 (what 0.1.0 programs are bound to: the 0.1
 * prefix only, struct_size = its 0.1 size, so the library treats the struct
 * as the older one it is). The version script lists the name in both
 * nodes; the .symver lines below say which definition is which.
 *
 * When another options struct grows, move its init here the same way and
 * list its name in the node of that release too. */
#include "common.h"

#define URK_COMPAT_API __attribute__((visibility("default")))

/* The 0.1 init: today's into a full struct, then its 0.1 prefix. */
#define URK__INIT_V0_1(name, impl, type, size01)                                 \
    URK_COMPAT_API int name##__v0_1(type *p);                                    \
    int name##__v0_1(type *p)                                                    \
    {                                                                            \
        _Static_assert(sizeof(type) >= (size01), "0.1 size larger than today's"); \
        if (!p)                                                                  \
            return -EINVAL;                                                      \
        type full;                                                               \
        int rc = impl(&full);                                                    \
        if (rc)                                                                  \
            return rc;                                                           \
        memcpy(p, &full, (size01));                                              \
        p->struct_size = (size01);                                               \
        return 0;                                                                \
    }                                                                            \
    __asm__(".symver " #name "__v0_1, " #name "@UROCKET_0.1")

/* urk_callbacks_init@@UROCKET_0.2: the whole 72-byte struct. */
URK_COMPAT_API int urk_callbacks_init__v0_2(urk_callbacks_t *cbs);
int urk_callbacks_init__v0_2(urk_callbacks_t *cbs)
{
    if (!cbs)
        return -EINVAL;
    memset(cbs, 0, sizeof *cbs);
    cbs->struct_size = sizeof *cbs;
    return 0;
}
__asm__(".symver urk_callbacks_init__v0_2, urk_callbacks_init@@UROCKET_0.2");

URK__INIT_V0_1(urk_callbacks_init, urk_callbacks_init__v0_2, urk_callbacks_t, 64);

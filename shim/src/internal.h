/* internal.h - what the load generator and the top-level files (addr.c,
 * error.c) include: the ring layer's header plus the load generator's own
 * declarations. The engine has its own header (engine/engine.h). Nothing
 * here is ABI. */
#ifndef URK_INTERNAL_H
#define URK_INTERNAL_H

#include "uring/uring.h"


#endif

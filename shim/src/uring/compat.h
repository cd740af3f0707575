/* compat.h - kernel ABI constants newer than Debian's liburing 2.3 headers.
 * Each is probed at run time before use; values are the kernel's UAPI. */
#ifndef URK_COMPAT_H
#define URK_COMPAT_H

#include <liburing.h>

#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4) /* 6.10 */
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4) /* 6.12 */
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2 /* 6.12; goes in io_uring_buf_reg.pad (flags) */
#endif
#ifndef IOU_PBUF_RING_MMAP
#define IOU_PBUF_RING_MMAP 1
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14) /* 6.10 */
#endif
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif
#ifndef IORING_REGISTER_PBUF_STATUS
#define IORING_REGISTER_PBUF_STATUS 26 /* 6.8 */
#endif
#ifndef IORING_CQE_BUFFER_SHIFT
#define IORING_CQE_BUFFER_SHIFT 16
#endif

/* liburing's private struct io_uring.int_flags bit saying the ring fd is
 * registered (src/int_flags.h, INT_FLAG_REG_RING = 1 in 2.3 and later). We
 * clear it before io_uring_queue_exit on a thread that did not register it,
 * so exit does not unregister an unrelated ring at the same index there. */
#define URK_LIBURING_INT_FLAG_REG_RING 1

#endif

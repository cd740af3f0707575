/* Extensible options structs (urk_ring_opts_t, urk_bufring_opts_t): a
 * smaller struct_size (an older caller) is accepted with defaults for the
 * missing fields; a larger one is accepted when its unknown tail is zero and
 * refused with -E2BIG otherwise; struct_size below the first two fields is
 * -EINVAL. */
#include "testutil.h"

#include <stddef.h>

typedef struct {
    urk_ring_opts_t o;
    uint8_t tail[40];
} big_ring_opts_t;

typedef struct {
    urk_bufring_opts_t o;
    uint8_t tail[24];
} big_buf_opts_t;

int main(void)
{
    urk_ring_t *r = NULL;
    urk_ring_info_t info;

    /* Older caller knowing only struct_size..cq_entries: the SQPOLL fields
     * take their defaults even though the bytes after are garbage. */
    big_ring_opts_t b;
    memset(&b, 0x7F, sizeof b);
    b.o.struct_size = offsetof(urk_ring_opts_t, sqpoll_idle_ms);
    b.o.flags = 0;
    b.o.sq_entries = 8;
    b.o.cq_entries = 0;
    CHECK_OK(urk_ring_create(&b.o, &r));
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.sq_entries == 8 && info.cq_entries == 4096);
    urk_ring_destroy(r);

    /* Up to sqpoll_cpu (no reserved words): reserved default to zero. */
    memset(&b, 0x7F, sizeof b);
    CHECK_OK(urk_ring_opts_init(&b.o));
    b.o.struct_size = offsetof(urk_ring_opts_t, reserved);
    b.o.sq_entries = 16;
    b.o.cq_entries = 32;
    CHECK_OK(urk_ring_create(&b.o, &r));
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.sq_entries == 16 && info.cq_entries == 32);
    urk_ring_destroy(r);

    /* Only struct_size + flags. */
    memset(&b, 0x7F, sizeof b);
    b.o.struct_size = 8;
    b.o.flags = URK_RING_NO_DEFER_TASKRUN;
    CHECK_OK(urk_ring_create(&b.o, &r));
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.sq_entries == 256 && (info.active & URK_RING_ACTIVE_COOP_TASKRUN));
    urk_ring_destroy(r);

    /* A size that is not a multiple of 8 ends inside a field: refused. */
    memset(&b, 0x7F, sizeof b);
    b.o.struct_size = offsetof(urk_ring_opts_t, cq_entries);
    b.o.flags = 0;
    b.o.sq_entries = 8;
    r = NULL;
    CHECK_RC(urk_ring_create(&b.o, &r), -EINVAL);
    CHECK(r == NULL);

    /* Too small to hold flags. */
    uint32_t tiny[2] = {4, 0};
    r = (urk_ring_t *)&tiny; /* must be reset to NULL */
    CHECK_RC(urk_ring_create((const urk_ring_opts_t *)tiny, &r), -EINVAL);
    CHECK(r == NULL);
    tiny[0] = 0;
    CHECK_RC(urk_ring_create((const urk_ring_opts_t *)tiny, &r), -EINVAL);

    /* Newer caller, zero tail: accepted. */
    memset(&b, 0, sizeof b);
    CHECK_OK(urk_ring_opts_init(&b.o));
    b.o.struct_size = sizeof b;
    b.o.sq_entries = 32;
    CHECK_OK(urk_ring_create(&b.o, &r));
    CHECK_OK(urk_ring_info(r, &info));
    CHECK(info.sq_entries == 32);
    urk_ring_destroy(r);

    /* Newer caller using a field we do not know: every tail byte counts. */
    for (size_t i = 0; i < sizeof b.tail; i++) {
        memset(&b, 0, sizeof b);
        CHECK_OK(urk_ring_opts_init(&b.o));
        b.o.struct_size = sizeof b;
        b.tail[i] = 1;
        r = NULL;
        CHECK_RC(urk_ring_create(&b.o, &r), -E2BIG);
        CHECK(r == NULL);
    }

    /* Same rules for the buffer ring options. */
    r = t_ring(0);
    urk_bufring_t *br = NULL;
    big_buf_opts_t bb;
    memset(&bb, 0x7F, sizeof bb);
    bb.o.struct_size = offsetof(urk_bufring_opts_t, group_id); /* size known */
    bb.o.flags = 0;
    bb.o.count = 8;
    bb.o.size = 4096;
    CHECK_OK(urk_bufring_create(r, &bb.o, &br));
    CHECK(urk_bufring_available(br) == 8);
    CHECK(urk_bufring_group(br) == 0); /* default group */
    void *p0, *p1;
    CHECK_OK(urk_bufring_buf(br, 0, &p0));
    CHECK_OK(urk_bufring_buf(br, 1, &p1));
    CHECK((uint8_t *)p1 - (uint8_t *)p0 == 4096);
    urk_bufring_destroy(br);

    memset(&bb, 0, sizeof bb);
    CHECK_OK(urk_bufring_opts_init(&bb.o));
    bb.o.struct_size = sizeof bb;
    bb.o.group_id = 3;
    CHECK_OK(urk_bufring_create(r, &bb.o, &br));
    CHECK(urk_bufring_group(br) == 3);
    urk_bufring_destroy(br);

    for (size_t i = 0; i < sizeof bb.tail; i++) {
        memset(&bb, 0, sizeof bb);
        CHECK_OK(urk_bufring_opts_init(&bb.o));
        bb.o.struct_size = sizeof bb;
        bb.tail[i] = 0x80;
        br = (urk_bufring_t *)&bb;
        CHECK_RC(urk_bufring_create(r, &bb.o, &br), -E2BIG);
        CHECK(br == NULL);
    }
    bb.o.struct_size = 7;
    CHECK_RC(urk_bufring_create(r, &bb.o, &br), -EINVAL);
    t_ring_end_to_end(r, 3);
    urk_ring_destroy(r);
    printf("ok\n");
    return 0;
}

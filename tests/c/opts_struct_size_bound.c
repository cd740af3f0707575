/* struct_size has an upper bound (1024) for every options struct: ring,
 * buffer ring, engine options, callbacks, load generator options. Each
 * struct is placed at the very end of a readable page followed by a
 * PROT_NONE page; struct_size 0xfffffff8 (or 1032) is refused with -EINVAL
 * without touching the guard page (reading it would crash this test), and
 * nothing is created. Up to the bound a zero tail is accepted and a non-zero
 * tail is -E2BIG, as before. */
#include "engine_util.h"

#include <sys/mman.h>

static uint8_t *guarded; /* [0, page) readable, [page, 2 page) PROT_NONE */
static size_t page;

/* Copy of `src` (len bytes) ending exactly at the guard page. */
static void *at_page_end(const void *src, size_t len)
{
    uint8_t *p = guarded + page - len;
    memcpy(p, src, len);
    return p;
}

static void set_size(void *s, uint32_t size) { memcpy(s, &size, sizeof size); }

static const uint32_t huge[] = {0xfffffff8u, 0x80000000u, 1032u};

static void ring_opts(void)
{
    urk_ring_opts_t o;
    CHECK_OK(urk_ring_opts_init(&o));
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        void *p = at_page_end(&o, sizeof o);
        set_size(p, huge[i]);
        urk_ring_t *r = (urk_ring_t *)1;
        CHECK_RC(urk_ring_create(p, &r), -EINVAL);
        CHECK(r == NULL);
    }
    /* Up to the bound: zero tail accepted, non-zero tail refused. */
    static uint8_t big[1024];
    memset(big, 0, sizeof big);
    memcpy(big, &o, sizeof o);
    set_size(big, 1024);
    urk_ring_t *r = NULL;
    int rc = urk_ring_create((urk_ring_opts_t *)big, &r);
    if (rc == -ENOSYS || rc == -EPERM)
        t_skip("io_uring unavailable");
    CHECK_RC(rc, 0);
    urk_ring_destroy(r);
    big[1023] = 1;
    CHECK_RC(urk_ring_create((urk_ring_opts_t *)big, &r), -E2BIG);
    CHECK(r == NULL);
    printf("ring opts ok\n");
}

static void bufring_opts(void)
{
    urk_ring_t *ring = NULL;
    CHECK_OK(urk_ring_create(NULL, &ring));
    urk_bufring_opts_t o;
    CHECK_OK(urk_bufring_opts_init(&o));
    o.count = 4;
    o.size = 64;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        void *p = at_page_end(&o, sizeof o);
        set_size(p, huge[i]);
        urk_bufring_t *br = (urk_bufring_t *)1;
        CHECK_RC(urk_bufring_create(ring, p, &br), -EINVAL);
        CHECK(br == NULL);
    }
    /* The group is still free: nothing was registered. */
    urk_bufring_t *br = NULL;
    CHECK_OK(urk_bufring_create(ring, &o, &br));
    urk_bufring_destroy(br);
    urk_ring_destroy(ring);
    printf("bufring opts ok\n");
}

static void engine_opts_and_callbacks(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    o.buf_count = 16;
    o.flags = URK_ENGINE_NO_LISTEN;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        void *p = at_page_end(&o, sizeof o);
        set_size(p, huge[i]);
        urk_engine_t *e = (urk_engine_t *)1;
        CHECK_RC(urk_engine_create(p, &e), -EINVAL);
        CHECK(e == NULL);
    }
    printf("engine opts ok\n");

    urk_engine_t *e = te_create(&o);
    urk_callbacks_t cbs;
    CHECK_OK(urk_callbacks_init(&cbs));
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        void *p = at_page_end(&cbs, sizeof cbs);
        set_size(p, huge[i]);
        CHECK_RC(urk_engine_start(e, p), -EINVAL);
    }
    /* Refused callbacks leave the engine startable. */
    if (!te_valgrind()) {
        CHECK_OK(urk_engine_start(e, &cbs));
        CHECK_OK(urk_engine_stop(e, 0));
    }
    urk_engine_destroy(e);
    printf("callbacks ok (struct of %zu bytes)\n", sizeof cbs);
}

static void loadgen_opts(void)
{
    urk_loadgen_opts_t o;
    CHECK_OK(urk_loadgen_opts_init(&o));
    o.host = "127.0.0.1";
    o.port = 9;
    o.request = "x";
    o.request_len = 1;
    o.max_requests = 1;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        void *p = at_page_end(&o, sizeof o);
        set_size(p, huge[i]);
        urk_loadgen_t *lg = (urk_loadgen_t *)1;
        CHECK_RC(urk_loadgen_create(p, &lg), -EINVAL);
        CHECK(lg == NULL);
    }
    printf("loadgen opts ok\n");
}

int main(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    guarded = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(guarded != MAP_FAILED);
    CHECK(mprotect(guarded + page, page, PROT_NONE) == 0);
    ring_opts();
    bufring_opts();
    engine_opts_and_callbacks();
    loadgen_opts();
    munmap(guarded, 2 * page);
    printf("ok\n");
    return 0;
}

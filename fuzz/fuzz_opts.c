/* fuzz_opts - option validation of urk_ring_create, urk_bufring_create,
 * urk_engine_create and urk_loadgen_create under libFuzzer.
 *
 * Input: [0] which call, [1..2] struct_size, then the struct's bytes. The
 * harness builds the options in a heap buffer of exactly struct_size bytes
 * (the contract: the caller owns struct_size bytes), so ASan catches any read
 * past it; a size above sizeof() gets a fuzzed tail (-E2BIG unless all zero).
 * Pointer fields are replaced by valid pointers chosen by the input (NULL, a
 * fuzzed NUL-terminated string, an exact-size fuzzed array): the ABI cannot
 * check wild pointers, only what they point to.
 *
 * Oracle: each call returns a documented negative code (urk_err_name is not
 * "UNKNOWN") and leaves *out NULL, or succeeds and the object is destroyed;
 * never a crash, a leak (LeakSanitizer) or an fd left open. Values that are
 * valid but expensive (64 reactors, 2^24 connection slots, 32768 x 1 GiB
 * buffers) are shrunk so each run stays small; invalid values are left as
 * they are, so every rejection path is reached. */
#include "internal.h"
#include "engine/engine.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t take_byte(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static void take(struct input *in, void *dst, size_t len)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < len; i++)
        d[i] = take_byte(in);
}

/* Sockets, rings and eventfds open: what the library could leak. Pipes are
 * left out (libFuzzer's symbolizer opens some while running). */
static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[300], target[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0 && (!strncmp(target, "socket:", 7) || !strncmp(target, "anon_inode:", 11)))
            n++;
    }
    closedir(d);
    return n;
}

static void check_rc(int rc, const void *out)
{
    if (rc < 0 && (strcmp(urk_err_name(rc), "UNKNOWN") == 0 || out != NULL)) {
        fprintf(stderr, "rc %d (%s), out %p\n", rc, urk_err_name(rc), out);
        abort();
    }
    if (rc > 0)
        abort(); /* create calls return 0 on success */
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

/* Allocations the harness made for pointer fields; freed after the call. */
struct keep {
    void *p[4 + 2 * URK_LOADGEN_MAX_REQUESTS + 4];
    int n;
};

static void *keep_alloc(struct keep *k, size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p)
        abort();
    k->p[k->n++] = p;
    return p;
}

/* NULL, a fixed literal, or a fuzzed NUL-terminated string. Wildcard
 * addresses are swapped for loopback: the fuzzer must not listen on every
 * interface. */
static const char *pick_host(struct input *in, struct keep *k)
{
    static const char *const fixed[] = {"127.0.0.1", "::1", "[::1]", "", "localhost",
                                        "1.2.3.4", "::ffff:127.0.0.1"};
    uint8_t sel = take_byte(in);
    if (sel < 32)
        return NULL;
    if (sel < 160)
        return fixed[sel % (sizeof fixed / sizeof fixed[0])];
    size_t len = take_byte(in) % 64;
    char *s = keep_alloc(k, len + 1);
    take(in, s, len);
    s[len] = '\0';
    urk_addr_t a;
    if (urk_addr_parse(s, 0, &a) == 0) {
        static const uint8_t zero16[16];
        const struct sockaddr_in *s4 = (const void *)a.bytes;
        const struct sockaddr_in6 *s6 = (const void *)a.bytes;
        if ((s4->sin_family == AF_INET && s4->sin_addr.s_addr == 0) ||
            (s6->sin6_family == AF_INET6 && !memcmp(&s6->sin6_addr, zero16, 16)))
            return "127.0.0.1";
    }
    return s;
}

/* The options struct: struct_size bytes in an exact heap buffer; the known
 * part (up to sizeof) is built in `known` then copied in. */
static void *build(struct input *in, uint32_t struct_size, const void *known, size_t known_size)
{
    /* A struct_size that ends inside a pointer field would hand the library
     * half a pointer, which it accepts as an "older struct" (reported: no
     * historical size ends there). Every pointer is 8-aligned, so cut older
     * structs at a multiple of 8. */
    if (struct_size >= 8 && struct_size < known_size)
        struct_size &= ~7u;
    uint8_t *buf = malloc(struct_size ? struct_size : 1);
    if (!buf)
        abort();
    size_t head = struct_size < known_size ? struct_size : known_size;
    memcpy(buf, known, head);
    if (struct_size > known_size) {
        /* tail: mostly zero (a newer caller), sometimes fuzzed */
        int fuzz_tail = take_byte(in) & 1;
        for (size_t i = known_size; i < struct_size; i++)
            buf[i] = fuzz_tail ? take_byte(in) : 0;
    }
    if (struct_size >= sizeof(uint32_t))
        memcpy(buf, &struct_size, sizeof struct_size);
    return buf;
}

static uint32_t pick_size(struct input *in, size_t real)
{
    uint8_t sel = take_byte(in);
    uint16_t raw = (uint16_t)(take_byte(in) << 8 | take_byte(in));
    if (sel < 160)
        return (uint32_t)real; /* most callers */
    if (sel < 240)
        return raw % (real + 64) + 4; /* older or newer caller */
    return raw % 4096 + 4;
}

static urk_ring_t *shared_ring(void)
{
    static urk_ring_t *ring;
    if (!ring && urk_ring_create(NULL, &ring) != 0)
        abort();
    return ring;
}

static void fuzz_ring(struct input *in)
{
    urk_ring_opts_t o;
    take(in, &o, sizeof o);
    if (take_byte(in) & 1)
        o.flags &= 0x1f; /* mostly known flags */
    if (is_pow2(o.sq_entries) && o.sq_entries > 64)
        o.sq_entries = 64;
    if (o.sqpoll_idle_ms > 100)
        o.sqpoll_idle_ms %= 100;
    uint32_t size = pick_size(in, sizeof o);
    void *buf = build(in, size, &o, sizeof o);
    urk_ring_t *ring = NULL;
    int rc = urk_ring_create(buf, &ring);
    check_rc(rc, ring);
    if (rc == 0) {
        urk_ring_info_t info;
        if (urk_ring_info(ring, &info) != 0)
            abort();
        urk_ring_destroy(ring);
    }
    free(buf);
}

static void fuzz_bufring(struct input *in)
{
    urk_bufring_opts_t o;
    take(in, &o, sizeof o);
    if (take_byte(in) & 1)
        o.flags &= 1;
    /* valid but large: at most 1 MiB of buffers */
    if (is_pow2(o.count) && o.count <= 32768 && o.size && o.size <= (1u << 30) &&
        (uint64_t)o.count * o.size > (1u << 20))
        o.size = (uint32_t)((1u << 20) / o.count) ? (uint32_t)((1u << 20) / o.count) : 1;
    uint32_t size = pick_size(in, sizeof o);
    void *buf = build(in, size, &o, sizeof o);
    urk_bufring_t *br = NULL;
    int rc = urk_bufring_create(shared_ring(), buf, &br);
    check_rc(rc, br);
    if (rc == 0) {
        if (urk_bufring_available(br) < 0)
            abort();
        urk_bufring_destroy(br);
    }
    free(buf);
}

static void fuzz_engine(struct input *in)
{
    struct keep k = {{0}, 0};
    urk_engine_opts_t o;
    take(in, &o, sizeof o);
    o.host = pick_host(in, &k);
    o.port = 0; /* never a fixed port: other tests may be listening */
    o.reactor_cpus = NULL;
    if (take_byte(in) & 1) {
        /* 64 entries: enough for any valid `reactors` */
        int32_t *cpus = keep_alloc(&k, 64 * sizeof *cpus);
        for (int i = 0; i < 64; i++)
            cpus[i] = (int8_t)take_byte(in) % 4;
        o.reactor_cpus = cpus;
    }
    if (take_byte(in) & 1)
        o.flags &= 0x7f;
    if (o.reactors >= 1 && o.reactors <= 64)
        o.reactors = 1 + o.reactors % 2;
    if (is_pow2(o.sq_entries) && o.sq_entries > 64)
        o.sq_entries = 64;
    if (is_pow2(o.cq_entries) && o.cq_entries > 4096)
        o.cq_entries = 4096;
    if (is_pow2(o.buf_count) && o.buf_count > 64)
        o.buf_count = 64;
    if (o.buf_low_water > o.buf_count && o.buf_low_water <= 32768 && (take_byte(in) & 1))
        o.buf_low_water = o.buf_count;
    if (o.buf_size >= 64 && o.buf_size <= (1u << 24))
        o.buf_size = 64 + o.buf_size % 4096;
    if (o.max_conns >= 1 && o.max_conns <= URK_MAX_SLOTS)
        o.max_conns = 1 + o.max_conns % 256;
    if (o.backlog > 64)
        o.backlog = 64;
    if (o.sqpoll_idle_ms > 100)
        o.sqpoll_idle_ms %= 100;
    if (o.acceptor_cpu >= 0)
        o.acceptor_cpu %= 4;
    uint32_t size = pick_size(in, sizeof o);
    void *buf = build(in, size, &o, sizeof o);
    urk_engine_t *e = NULL;
    int rc = urk_engine_create(buf, &e);
    check_rc(rc, e);
    if (rc == 0) {
        if (urk_engine_port(e) <= 0 && !(o.flags & URK_ENGINE_NO_LISTEN))
            abort();
        if (take_byte(in) & 1) {
            /* start in pull mode and stop at once */
            if (urk_engine_start(e, NULL) != 0 || urk_engine_stop(e, 0) != 0)
                abort();
        }
        urk_engine_destroy(e);
    }
    free(buf);
    for (int i = 0; i < k.n; i++)
        free(k.p[i]);
}

static void fuzz_loadgen(struct input *in)
{
    struct keep k = {{0}, 0};
    urk_loadgen_opts_t o;
    take(in, &o, sizeof o);
    o.host = pick_host(in, &k);
    o.request = NULL;
    o.delim = NULL;
    if (take_byte(in) & 1)
        o.flags &= 1;
    if (take_byte(in) & 1)
        o.framing = 1 + o.framing % 3;
    /* pointers with exactly the advertised length behind them */
    if (take_byte(in) < 224) {
        if (o.request_len > 4096)
            o.request_len %= 4097;
        uint8_t *req = keep_alloc(&k, o.request_len);
        take(in, req, o.request_len);
        o.request = req;
    }
    if (take_byte(in) < 224) {
        if (o.delim_len > 65536 + 16)
            o.delim_len %= 65536 + 17;
        uint8_t *d = keep_alloc(&k, o.delim_len);
        take(in, d, o.delim_len);
        o.delim = d;
    }
    /* a scenario: an array of exactly nrequests entries (a few more than
     * allowed too), each with len bytes behind data, or data NULL */
    o.requests = NULL;
    if (take_byte(in) < 64) {
        o.nrequests %= URK_LOADGEN_MAX_REQUESTS + 3;
        urk_loadgen_request_t *rs = keep_alloc(&k, (size_t)o.nrequests * sizeof *rs);
        for (uint32_t i = 0; i < o.nrequests; i++) {
            take(in, &rs[i], sizeof rs[i]);
            rs[i].len %= 257;
            uint8_t *d = keep_alloc(&k, rs[i].len);
            take(in, d, rs[i].len);
            rs[i].data = (take_byte(in) & 7) ? d : NULL;
        }
        o.requests = rs;
    }
    if (o.threads > 4 && o.threads <= 64)
        o.threads = 1 + o.threads % 4;
    uint32_t size = pick_size(in, sizeof o);
    void *buf = build(in, size, &o, sizeof o);
    urk_loadgen_t *lg = NULL;
    int rc = urk_loadgen_create(buf, &lg);
    check_rc(rc, lg);
    if (rc == 0) {
        urk_loadgen_result_t res;
        if (urk_loadgen_result(lg, &res) != 0 || res.requests != 0)
            abort();
        urk_loadgen_destroy(lg);
    }
    free(buf);
    for (int i = 0; i < k.n; i++)
        free(k.p[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fds_at_start = -1;
    if (fds_at_start < 0) {
        shared_ring();
        fds_at_start = count_fds();
    }
    struct input in = {data, size};
    switch (take_byte(&in) % 4) {
    case 0:
        fuzz_ring(&in);
        break;
    case 1:
        fuzz_bufring(&in);
        break;
    case 2:
        fuzz_engine(&in);
        break;
    default:
        fuzz_loadgen(&in);
        break;
    }
    int now = count_fds();
    if (now != fds_at_start) {
        fprintf(stderr, "fd leak: %d open, %d at start\n", now, fds_at_start);
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char path[300], target[300];
            snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n > 0)
                fprintf(stderr, "  fd %s -> %.*s\n", de->d_name, (int)n, target);
        }
        abort();
    }
    return 0;
}

/* Raw liburing server for the uRocket benchmarks (issue 6): the same protocol
 * as epoll_server.c, written straight against the liburing 2.3 API with no
 * shim, so the shim's overhead can be measured against it.
 *
 * Per thread: a SO_REUSEPORT listener and one ring (SINGLE_ISSUER +
 * DEFER_TASKRUN, falling back to COOP_TASKRUN), registered ring fd,
 * multishot accept, multishot recv from a provided-buffer ring registered by
 * hand (io_uring_setup_buf_ring is 2.4), plain send from a prebuilt run of
 * back-to-back responses. One send in flight per connection (two may
 * reorder on a stream socket); buffers are recycled in one batch per loop.
 *
 * --echo turns it into a byte-exact echo server (bench/workloads.py's 16 and
 * 64 KiB messages): each received provided buffer is queued on its
 * connection and sent back from where the kernel put it, one send in flight
 * per connection, the buffer recycled once fully sent (no copy). Buffers
 * default to 512 x 64 KiB in this mode. A recv stopped by -ENOBUFS on a
 * connection that holds buffers is re-armed once its queue has drained (its
 * peer is not reading; re-arming at once would only fail again); on EOF the
 * queue is still sent before the close. The HTTP mode is untouched by this.
 *
 *   uring_raw --port P [--host 127.0.0.1] [--threads N] [--cpu C]
 *             [--buffers N (4096)] [--buf-size BYTES (2048)] [--echo]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "response.h"

#define STREAM_COPIES 256
#define BGID 1
#define SQ_ENTRIES 2048
#define CQ_ENTRIES 16384

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

/* user_data: op in the low 8 bits, generation in the next 24, fd above. The
 * generation guards against a completion for a closed fd's previous owner
 * (completions keyed only by fd reach the wrong connection once the fd is reused). */
static inline uint64_t ud_make(int op, uint32_t gen, int fd)
{
    return (uint64_t)(uint32_t)op | ((uint64_t)(gen & 0xffffff) << 8) | ((uint64_t)(uint32_t)fd << 32);
}

struct conn {
    uint32_t owed;      /* response bytes not yet handed to a send */
    uint32_t inflight;  /* bytes of the send in flight, 0 if none */
    uint32_t gen;
    uint8_t state;      /* terminator bytes matched at the end of the last recv */
    uint8_t recv_armed;
    uint8_t open;
};

/* --echo only (kept out of struct conn so the HTTP mode's table is as it
 * was): the connection's received buffers, oldest first, linked through the
 * worker's next[]; -1 for none. */
struct echoq {
    int32_t head, tail;
    uint32_t off;       /* bytes of head already sent */
    uint8_t rearm;      /* recv ended with -ENOBUFS: re-arm once drained */
    uint8_t dead;       /* recv failed: send nothing more */
};

static struct conn *conns; /* indexed by fd */
static struct echoq *echoqs; /* indexed by fd, --echo only */
static size_t conns_cap;
static char stream[STREAM_COPIES * BENCH_RESPONSE_LEN];

static struct {
    const char *host;
    int port;
    int threads;
    int cpu;
    unsigned buffers;
    unsigned buf_size;
    int echo;
} cfg = {"127.0.0.1", 8080, 1, -1, 0, 0, 0};

struct worker {
    int index;
    int listen_fd;
    pthread_t thread;
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *bufs;
    unsigned br_mask;
    unsigned recycled; /* buffers added since the last advance */
    int32_t *next;     /* --echo: buffer id -> next queued buffer id */
    uint32_t *blen;    /* --echo: buffer id -> bytes received into it */
};

static void die(const char *what, int err)
{
    fprintf(stderr, "uring_raw: %s: %s\n", what, strerror(err));
    exit(1);
}

static int open_listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", errno);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("setsockopt", errno);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
    if (inet_pton(AF_INET, cfg.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bad --host %s\n", cfg.host);
        exit(2);
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind", errno);
    if (listen(fd, 4096) < 0)
        die("listen", errno);
    return fd;
}

static struct io_uring_sqe *get_sqe(struct worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    while (!sqe) {
        /* SQ full: push what is queued and retry (never crash on no SQE). */
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
    }
    return sqe;
}

static void arm_accept(struct worker *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_multishot_accept(sqe, w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud_make(OP_ACCEPT, 0, w->listen_fd));
}

static void arm_recv(struct worker *w, int fd, struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, c->gen, fd));
    c->recv_armed = 1;
}

static void start_send(struct worker *w, int fd, struct conn *c)
{
    size_t pos = (BENCH_RESPONSE_LEN - c->owed % BENCH_RESPONSE_LEN) % BENCH_RESPONSE_LEN;
    size_t len = sizeof stream - pos;
    if (len > c->owed)
        len = c->owed;
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_send(sqe, fd, stream + pos, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->gen, fd));
    c->inflight = (uint32_t)len;
}

/* Closes once neither a recv nor a send can still complete for this fd, so no
 * completion ever refers to a reused descriptor. */
static void maybe_close(int fd, struct conn *c)
{
    if (c->recv_armed || c->inflight)
        return;
    c->open = 0;
    c->gen++;
    close(fd);
}

static void recycle(struct worker *w, unsigned bid)
{
    io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * cfg.buf_size, cfg.buf_size,
                          (unsigned short)bid, w->br_mask, (int)w->recycled);
    w->recycled++;
}

/* ---- --echo ---- */

static void echo_send_head(struct worker *w, int fd, struct conn *c, struct echoq *q)
{
    unsigned bid = (unsigned)q->head;
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_send(sqe, fd, w->bufs + (size_t)bid * cfg.buf_size + q->off,
                       w->blen[bid] - q->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, c->gen, fd));
    c->inflight = w->blen[bid] - q->off;
}

/* Recycles the queued buffers; with keep_head the first stays queued, as a
 * send in flight still reads it. */
static void echo_drop(struct worker *w, struct echoq *q, int keep_head)
{
    int32_t bid = keep_head && q->head >= 0 ? w->next[q->head] : q->head;
    while (bid >= 0) {
        int32_t nx = w->next[bid];
        recycle(w, (unsigned)bid);
        bid = nx;
    }
    if (keep_head && q->head >= 0) {
        w->next[q->head] = -1;
        q->tail = q->head;
    } else {
        q->head = q->tail = -1;
        q->off = 0;
    }
    q->rearm = 0;
}

static void echo_on_recv(struct worker *w, struct io_uring_cqe *cqe, int fd, struct conn *c)
{
    struct echoq *q = &echoqs[fd];
    int res = cqe->res;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0) {
            w->blen[bid] = (uint32_t)res;
            w->next[bid] = -1;
            if (q->tail >= 0)
                w->next[q->tail] = (int32_t)bid;
            else
                q->head = (int32_t)bid;
            q->tail = (int32_t)bid;
        } else {
            recycle(w, bid);
        }
    }
    if (q->head >= 0 && !c->inflight)
        echo_send_head(w, fd, c, q);
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    c->recv_armed = 0;
    if (res > 0 || (res == -ENOBUFS && q->head < 0)) {
        arm_recv(w, fd, c);
        return;
    }
    if (res == -ENOBUFS) {
        q->rearm = 1; /* this connection holds buffers: wait until they are sent */
        return;
    }
    if (res < 0) { /* an error: what is queued cannot be delivered */
        q->dead = 1;
        echo_drop(w, q, c->inflight != 0);
        if (c->inflight)
            shutdown(fd, SHUT_RDWR); /* makes the pending send finish promptly */
    }
    /* EOF: the queue is still sent (echo_on_send closes when it is empty). */
    if (q->head < 0 || q->dead)
        maybe_close(fd, c);
}

static void echo_on_send(struct worker *w, struct io_uring_cqe *cqe, int fd, struct conn *c)
{
    struct echoq *q = &echoqs[fd];
    int res = cqe->res;
    c->inflight = 0;
    if (res < 0 || q->dead) {
        echo_drop(w, q, 0);
        if (c->recv_armed)
            shutdown(fd, SHUT_RDWR); /* the recv then ends with EOF */
        maybe_close(fd, c);
        return;
    }
    q->off += (uint32_t)res;
    if (q->head >= 0 && q->off >= w->blen[q->head]) {
        unsigned bid = (unsigned)q->head;
        q->head = w->next[bid];
        if (q->head < 0)
            q->tail = -1;
        q->off = 0;
        recycle(w, bid);
    }
    if (q->head >= 0) {
        echo_send_head(w, fd, c, q);
        return;
    }
    if (q->rearm) {
        q->rearm = 0;
        arm_recv(w, fd, c);
        return;
    }
    if (!c->recv_armed)
        maybe_close(fd, c);
}

static void on_accept(struct worker *w, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(w);
    int fd = cqe->res;
    if (fd < 0)
        return; /* EMFILE and friends: the accept goes on */
    if ((size_t)fd >= conns_cap) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = &conns[fd];
    uint32_t gen = c->gen;
    memset(c, 0, sizeof *c);
    c->gen = gen;
    c->open = 1;
    if (echoqs)
        echoqs[fd] = (struct echoq){.head = -1, .tail = -1};
    arm_recv(w, fd, c);
}

static void on_recv(struct worker *w, struct io_uring_cqe *cqe, int fd, struct conn *c)
{
    int res = cqe->res;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0) {
            unsigned st = c->state;
            size_t k = bench_count_requests(w->bufs + (size_t)bid * cfg.buf_size, (size_t)res, &st);
            c->state = (uint8_t)st;
            c->owed += (uint32_t)(k * BENCH_RESPONSE_LEN);
        }
        recycle(w, bid);
    }
    if (c->owed && !c->inflight)
        start_send(w, fd, c);
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    c->recv_armed = 0;
    /* A multishot recv also stops on -ENOBUFS (transient: buffers come back at
     * the end of this batch, before the re-armed recv is submitted) or when the
     * CQ overflowed; only EOF and real errors end the connection. */
    if (res > 0 || res == -ENOBUFS) {
        arm_recv(w, fd, c);
        return;
    }
    if (c->inflight)
        shutdown(fd, SHUT_RDWR); /* makes the pending send finish promptly */
    maybe_close(fd, c);
}

static void on_send(struct worker *w, struct io_uring_cqe *cqe, int fd, struct conn *c)
{
    int res = cqe->res;
    uint32_t sent = c->inflight;
    c->inflight = 0;
    if (res < 0) {
        c->owed = 0;
        if (c->recv_armed)
            shutdown(fd, SHUT_RDWR); /* the recv then ends with EOF */
        maybe_close(fd, c);
        return;
    }
    (void)sent; /* a short send just leaves more owed */
    c->owed -= (uint32_t)res;
    if (!c->recv_armed) {
        maybe_close(fd, c);
        return;
    }
    if (c->owed)
        start_send(w, fd, c);
}

static void setup_ring(struct worker *w)
{
    struct io_uring_params p;
    unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    unsigned tries[] = {
        base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        base | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        base,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        p.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(SQ_ENTRIES, &w->ring, &p);
        if (rc != -EINVAL)
            break;
    }
    if (rc < 0)
        die("io_uring_queue_init_params", -rc);
    if (w->index == 0 && !(p.flags & IORING_SETUP_DEFER_TASKRUN))
        fprintf(stderr, "uring_raw: DEFER_TASKRUN unavailable, using fallback flags\n");
    io_uring_register_ring_fd(&w->ring); /* an optimisation only */

    /* Provided-buffer ring by hand: page-aligned ring memory registered with
     * io_uring_register_buf_ring, then every buffer added once. */
    size_t ring_bytes = (size_t)cfg.buffers * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap", errno);
    w->br = mem;
    io_uring_buf_ring_init(w->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)mem;
    reg.ring_entries = cfg.buffers;
    reg.bgid = BGID;
    rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0)
        die("io_uring_register_buf_ring", -rc);
    w->bufs = aligned_alloc(4096, (size_t)cfg.buffers * cfg.buf_size);
    if (!w->bufs)
        die("aligned_alloc", ENOMEM);
    w->br_mask = io_uring_buf_ring_mask(cfg.buffers);
    w->recycled = 0;
    if (cfg.echo) {
        w->next = calloc(cfg.buffers, sizeof *w->next);
        w->blen = calloc(cfg.buffers, sizeof *w->blen);
        if (!w->next || !w->blen)
            die("calloc", ENOMEM);
    }
    for (unsigned i = 0; i < cfg.buffers; i++)
        recycle(w, i);
    io_uring_buf_ring_advance(w->br, (int)w->recycled);
    w->recycled = 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (cfg.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((cfg.cpu + w->index) % CPU_SETSIZE, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    /* The ring is created on the thread that drives it (SINGLE_ISSUER). */
    setup_ring(w);
    arm_accept(w);
    for (;;) {
        int rc = io_uring_submit_and_wait(&w->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            die("io_uring_submit_and_wait", -rc);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&w->ring, head, cqe)
        {
            seen++;
            uint64_t ud = cqe->user_data;
            int op = (int)(ud & 0xff);
            int fd = (int)(ud >> 32);
            if (op == OP_ACCEPT) {
                on_accept(w, cqe);
                continue;
            }
            struct conn *c = &conns[fd];
            if (!c->open || (c->gen & 0xffffff) != ((ud >> 8) & 0xffffff)) {
                /* Cannot happen given maybe_close(); keep buffers safe anyway. */
                if (cqe->flags & IORING_CQE_F_BUFFER)
                    recycle(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                continue;
            }
            if (cfg.echo) {
                if (op == OP_RECV)
                    echo_on_recv(w, cqe, fd, c);
                else
                    echo_on_send(w, cqe, fd, c);
            } else if (op == OP_RECV) {
                on_recv(w, cqe, fd, c);
            } else {
                on_send(w, cqe, fd, c);
            }
        }
        io_uring_cq_advance(&w->ring, seen);
        if (w->recycled) {
            io_uring_buf_ring_advance(w->br, (int)w->recycled);
            w->recycled = 0;
        }
    }
    return NULL;
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --port P [--host ADDR] [--threads N] [--cpu C] [--buffers N] "
            "[--buf-size BYTES] [--echo]\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--echo")) {
            cfg.echo = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage(argv[0]);
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            cfg.port = atoi(v);
        else if (!strcmp(a, "--host"))
            cfg.host = v;
        else if (!strcmp(a, "--threads"))
            cfg.threads = atoi(v);
        else if (!strcmp(a, "--cpu"))
            cfg.cpu = atoi(v);
        else if (!strcmp(a, "--buffers"))
            cfg.buffers = (unsigned)atoi(v);
        else if (!strcmp(a, "--buf-size"))
            cfg.buf_size = (unsigned)atoi(v);
        else
            usage(argv[0]);
    }
    if (!cfg.buffers)
        cfg.buffers = cfg.echo ? 512 : 4096;
    if (!cfg.buf_size)
        cfg.buf_size = cfg.echo ? 65536 : 2048;
    if (cfg.port <= 0 || cfg.port > 65535 || cfg.threads < 1 || cfg.threads > 256 ||
        cfg.buffers == 0 || cfg.buffers > 32768 || (cfg.buffers & (cfg.buffers - 1)) ||
        cfg.buf_size < 64)
        usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    conns_cap = rl.rlim_cur > (1u << 22) ? (1u << 22) : (size_t)rl.rlim_cur;
    conns = calloc(conns_cap, sizeof *conns);
    if (!conns)
        die("calloc", ENOMEM);
    if (cfg.echo && !(echoqs = calloc(conns_cap, sizeof *echoqs)))
        die("calloc", ENOMEM);
    for (size_t i = 0; i < STREAM_COPIES; i++)
        memcpy(stream + i * BENCH_RESPONSE_LEN, BENCH_RESPONSE, BENCH_RESPONSE_LEN);

    struct worker *ws = calloc((size_t)cfg.threads, sizeof *ws);
    if (!ws)
        die("calloc", ENOMEM);
    for (int i = 0; i < cfg.threads; i++) {
        ws[i].index = i;
        ws[i].listen_fd = open_listener();
    }
    for (int i = 1; i < cfg.threads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create", errno);
    worker_main(&ws[0]);
    return 0;
}

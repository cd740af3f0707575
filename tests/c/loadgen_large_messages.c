/* Requests and responses of 1 MiB: short sends continue on the same socket
 * one send at a time, a response spans hundreds of provided buffers, and
 * running the buffer ring dry (ENOBUFS) is recovered, never an error. */
#include "loadgen_server.h"

/* static: the server child (a fork) reaches them too, so a leak checker in
 * the child finds no lost block */
#define SIZE (1u << 20)
static uint8_t resp[SIZE];
static char req[SIZE + 1];

int main(void)
{
    const uint32_t size = SIZE;
    t_fill(resp, size, 7);
    memset(req, 'r', size);
    req[size] = 0;
    lgs_opts_t so = {.request_len = size, .response = resp, .response_len = size};
    lgs_t *s = lgs_start(&so);
    urk_loadgen_opts_t o = lg_opts(s->port, req, URK_FRAME_FIXED);
    o.response_len = size;
    o.connections = 8;
    o.threads = 2;
    o.max_requests = 48;
    urk_loadgen_result_t r = lg_run(&o);
    uint64_t server_got = lgs_stop(s);
    lg_print("1 MiB", &r);
    CHECK(lg_errors(&r) == 0);
    CHECK(r.responses == 48 && r.requests == 48);
    CHECK(server_got == 48);
    CHECK(r.bytes_out == 48ull * size && r.bytes_in == 48ull * size);
    printf("ok\n");
    return 0;
}

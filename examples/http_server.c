/* http_server - the canned-response benchmark server on the native engine:
 * one "HTTP/1.1 200 OK ... Hello, World!" per request received (a request
 * ends with a blank line; no other parsing), keep-alive.
 *
 *   http_server [--host 127.0.0.1] [--port 8080] [--reactors 1] [--sqpoll] [--pin]
 *               [--no-send-pool] [--no-recv-bundle]
 *
 * The --no-* switches turn engine features off, for A/B runs (bench/ab.py).
 * Prints "listening on HOST:PORT" and runs until SIGINT or SIGTERM. */
#include <urocket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define BATCH 64 /* responses per send when requests are pipelined */
static char responses[BATCH * RESPONSE_LEN];

/* Counts request ends ("\r\n\r\n") in data; *state carries how much of the
 * terminator the previous chunk ended with, so a split one still counts. */
static uint32_t count_requests(const uint8_t *data, uint32_t len, uint64_t *state)
{
    static const char END[] = "\r\n\r\n";
    uint32_t n = 0, matched = (uint32_t)*state;
    for (uint32_t i = 0; i < len; i++) {
        if (data[i] == (uint8_t)END[matched]) {
            if (++matched == 4) {
                n++;
                matched = 0;
            }
        } else {
            matched = data[i] == '\r' ? 1 : 0;
        }
    }
    *state = matched;
    return n;
}

static int32_t on_data(urk_reactor_t *r, urk_conn_t conn, const uint8_t *data, uint32_t len,
                       uint32_t buf, void *user)
{
    (void)buf;
    (void)user;
    uint64_t state = 0;
    urk_conn_user(r, conn, &state);
    uint32_t n = count_requests(data, len, &state);
    urk_conn_set_user(r, conn, state);
    while (n) {
        uint32_t k = n < BATCH ? n : BATCH;
        if (urk_send(r, conn, responses, (uint32_t)(k * RESPONSE_LEN), 0, 0) != 0) {
            urk_close(r, conn, 1); /* over the send limit: a client that never reads */
            break;
        }
        n -= k;
    }
    return 0; /* the engine releases the buffer */
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--host H] [--port P] [--reactors N] [--sqpoll] [--pin]\n"
            "          [--no-send-pool] [--no-recv-bundle]\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = 8080;
    int pin = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc)
            o.host = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            o.port = (uint16_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reactors") && i + 1 < argc)
            o.reactors = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sqpoll"))
            o.flags |= URK_ENGINE_SQPOLL;
        else if (!strcmp(argv[i], "--pin"))
            pin = 1;
        else if (!strcmp(argv[i], "--no-send-pool"))
            o.flags |= URK_ENGINE_NO_SEND_POOL;
        else if (!strcmp(argv[i], "--no-recv-bundle"))
            o.flags |= URK_ENGINE_NO_RECV_BUNDLE;
        else
            usage(argv[0]);
    }
    int32_t cpus[64];
    if (pin) {
        for (uint32_t i = 0; i < o.reactors && i < 64; i++)
            cpus[i] = (int32_t)i;
        o.reactor_cpus = cpus;
    }
    for (int i = 0; i < BATCH; i++)
        memcpy(responses + (size_t)i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

    /* Block the stop signals before any engine thread exists, so only
     * sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    urk_engine_t *engine;
    int rc = urk_engine_create(&o, &engine);
    if (rc) {
        fprintf(stderr, "urk_engine_create: %s (%s)\n", urk_strerror(rc), urk_err_name(rc));
        return 1;
    }
    urk_callbacks_t cb;
    urk_callbacks_init(&cb);
    cb.on_data = on_data;
    rc = urk_engine_start(engine, &cb);
    if (rc) {
        fprintf(stderr, "urk_engine_start: %s\n", urk_strerror(rc));
        urk_engine_destroy(engine);
        return 1;
    }
    printf("listening on %s:%d with %u reactor(s)\n", o.host, urk_engine_port(engine), o.reactors);
    fprintf(stderr, "engine flags %#x\n", o.flags);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    urk_engine_stop(engine, 1000);
    urk_engine_destroy(engine);
    return 0;
}

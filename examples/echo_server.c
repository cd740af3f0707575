/* echo_server - echoes every byte back, on the native engine.
 *
 *   echo_server [--host 127.0.0.1] [--port 7000] [--reactors 1] [--no-send-pool]
 *               [--no-recv-bundle]
 *
 * The --no-* switches turn engine features off, for A/B runs (bench/ab.py).
 * Prints "listening on HOST:PORT" and runs until SIGINT or SIGTERM. A client
 * that sends faster than it reads hits the per-connection send limit: the
 * server then stops echoing to it until it drains (URK_EV_WRITABLE), keeping
 * the data it has not yet sent, so nothing is lost and memory stays bounded. */
#include <urocket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends without copying: the receive buffer stays with us until the send is
 * done (URK_EV_SEND_DONE carries the buffer handle as its tag). Over the
 * send limit the chunk is still queued (it was received: it must not be
 * lost) and reading pauses until the peer has drained what we owe it. */
static int32_t on_data(urk_reactor_t *r, urk_conn_t conn, const uint8_t *data, uint32_t len,
                       uint32_t buf, void *user)
{
    (void)user;
    if (urk_send(r, conn, data, len, URK_SEND_NOCOPY, buf) == 0)
        return 1; /* kept until on_send_done */
    if (urk_send(r, conn, data, len, URK_SEND_NOCOPY | URK_SEND_FORCE, buf) == 0) {
        urk_conn_pause_recv(r, conn, 1);
        return 1;
    }
    return 0; /* connection closing: the engine releases the buffer */
}

static void on_writable(urk_reactor_t *r, urk_conn_t conn, void *user)
{
    (void)user;
    urk_conn_pause_recv(r, conn, 0);
}

static void on_send_done(urk_reactor_t *r, urk_conn_t conn, int32_t res, uint64_t tag, void *user)
{
    (void)conn;
    (void)res;
    (void)user;
    uint32_t buf = (uint32_t)tag;
    urk_reactor_release(r, &buf, 1);
}

int main(int argc, char **argv)
{
    urk_engine_opts_t o;
    urk_engine_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = 7000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc)
            o.host = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            o.port = (uint16_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reactors") && i + 1 < argc)
            o.reactors = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-send-pool"))
            o.flags |= URK_ENGINE_NO_SEND_POOL;
        else if (!strcmp(argv[i], "--no-recv-bundle"))
            o.flags |= URK_ENGINE_NO_RECV_BUNDLE;
        else {
            fprintf(stderr, "usage: %s [--host H] [--port P] [--reactors N] [--no-send-pool] "
                            "[--no-recv-bundle]\n",
                    argv[0]);
            return 2;
        }
    }
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
    cb.on_send_done = on_send_done;
    cb.on_writable = on_writable;
    if ((rc = urk_engine_start(engine, &cb)) != 0) {
        fprintf(stderr, "urk_engine_start: %s\n", urk_strerror(rc));
        urk_engine_destroy(engine);
        return 1;
    }
    printf("listening on %s:%d with %u reactor(s)\n", o.host, urk_engine_port(engine), o.reactors);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    urk_engine_stop(engine, 1000);
    urk_engine_destroy(engine);
    return 0;
}

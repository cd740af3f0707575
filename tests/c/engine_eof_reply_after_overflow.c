/* Peer EOF closes a connection gracefully at the poll AFTER the one that
 * delivered its last data, so the caller can still answer that data. This
 * must hold when the data waited in the overflow queue: here one send
 * completion yields 7 SEND_DONE events that fill a 7-event poll, so the
 * peer's last request (and its EOF, in the same batch) spill over. The
 * answer to that request must still reach the peer before the FIN. */
#include "engine_util.h"

int main(void)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    int cfd = t_connect(0, (uint16_t)urk_engine_port(e));

    urk_event_t ev[64];
    urk_conn_t conn = 0;
    uint64_t deadline = t_now_ms() + 5000;
    while (!conn && t_now_ms() < deadline) {
        int n = urk_reactor_poll(r, ev, 64, 50);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++)
            if (ev[i].type == URK_EV_OPEN)
                conn = ev[i].conn;
    }
    CHECK(conn);

    /* The first send goes out alone; the other seven are queued behind it
     * and leave together in one sendmsg once it completes. */
    static const char bytes[] = "ABCDEFGH";
    for (int i = 0; i < 8; i++)
        CHECK_OK(urk_send(r, conn, bytes + i, 1, URK_SEND_NOTIFY, (uint64_t)i + 1));
    int done = 0;
    deadline = t_now_ms() + 5000;
    while (done == 0 && t_now_ms() < deadline) {
        int n = urk_reactor_poll(r, ev, 64, 50);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].type == URK_EV_SEND_DONE && ev[i].user == 1 && ev[i].res == 1);
            done++;
        }
    }
    CHECK(done == 1); /* that poll submitted the 7-chunk send */

    /* Request and EOF arrive while the reactor is not polling. */
    t_write_all(cfd, "ping", 4);
    CHECK(shutdown(cfd, SHUT_WR) == 0);
    te_sleep_ms(100);

    int n = urk_reactor_poll(r, ev, 7, 1000);
    CHECK(n == 7);
    for (int i = 0; i < 7; i++)
        CHECK(ev[i].type == URK_EV_SEND_DONE && ev[i].user == (uint64_t)i + 2);

    int answered = 0, closed = 0;
    deadline = t_now_ms() + 5000;
    while (!closed && t_now_ms() < deadline) {
        n = urk_reactor_poll(r, ev, 64, 50);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == URK_EV_DATA) {
                CHECK(ev[i].len == 4 && memcmp(ev[i].data, "ping", 4) == 0);
                CHECK(!closed);
                CHECK_OK(urk_send(r, conn, "pong", 4, 0, 0));
                CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
                answered = 1;
            } else if (ev[i].type == URK_EV_CLOSED) {
                CHECK(ev[i].conn == conn && ev[i].res == 0);
                closed = 1;
            } else {
                fprintf(stderr, "unexpected event %u\n", ev[i].type);
                return 1;
            }
        }
    }
    CHECK(answered && closed);
    char got[16];
    t_read_all(cfd, got, 12);
    CHECK(memcmp(got, "ABCDEFGHpong", 12) == 0);
    CHECK(read(cfd, got, sizeof got) == 0); /* then the FIN */
    close(cfd);
    CHECK_OK(urk_engine_stop(e, 0));
    urk_engine_destroy(e);
    printf("ok\n");
    return 0;
}

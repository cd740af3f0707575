/* urk_conn_set_user in answer to OPEN reaches every later event of that
 * connection, also those that arrived in the same poll: a batch ends before
 * any later event of a connection whose OPEN it holds, and events still
 * queued in the reactor take the new value. A host loop that stores its
 * handle on OPEN and looks it up on DATA and CLOSED crashed on the old
 * value. Checked with batches of 1 and of 64, clients that write and close
 * before the first poll (so OPEN, DATA and the EOF arrive together). */
#include "engine_util.h"

#define CLIENTS 20

static void run(uint32_t max)
{
    urk_engine_opts_t o;
    te_opts(&o);
    urk_engine_t *e = te_create(&o);
    CHECK_OK(urk_engine_start(e, NULL));
    urk_reactor_t *r = te_reactor(e, 0);
    uint16_t port = (uint16_t)urk_engine_port(e);
    for (int i = 0; i < CLIENTS; i++) {
        int fd = t_connect(0, port);
        t_write_all(fd, "abc", 3);
        close(fd);
    }
    uint64_t dl = t_now_ms() + 5000;
    while (te_estats(e).accepted < CLIENTS && t_now_ms() < dl)
        te_sleep_ms(2);
    te_sleep_ms(20); /* let the data and FINs land */
    urk_event_t ev[64];
    int opens = 0, closes = 0;
    uint64_t next_user = 1000;
    dl = t_now_ms() + 5000;
    while (closes < CLIENTS && t_now_ms() < dl) {
        int n = urk_reactor_poll(r, ev, max, 10);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            uint64_t want = 0;
            switch (ev[i].type) {
            case URK_EV_OPEN:
                opens++;
                CHECK_OK(urk_conn_set_user(r, ev[i].conn, next_user++));
                break;
            case URK_EV_DATA:
            case URK_EV_CLOSED:
                CHECK_OK(ev[i].type == URK_EV_DATA ? urk_conn_user(r, ev[i].conn, &want) : 0);
                if (ev[i].type == URK_EV_DATA && ev[i].user != want) {
                    fprintf(stderr, "DATA carries user %llu, set %llu (batch of %u)\n",
                            (unsigned long long)ev[i].user, (unsigned long long)want, max);
                    exit(1);
                }
                if (ev[i].user < 1000 || ev[i].user >= next_user) {
                    fprintf(stderr, "%s carries user %llu, not one set on OPEN (batch of %u)\n",
                            ev[i].type == URK_EV_DATA ? "DATA" : "CLOSED",
                            (unsigned long long)ev[i].user, max);
                    exit(1);
                }
                if (ev[i].type == URK_EV_DATA)
                    CHECK_RC(urk_reactor_release(r, &ev[i].buf, 1), 1);
                else
                    closes++;
                break;
            default:
                break;
            }
        }
    }
    CHECK(opens == CLIENTS && closes == CLIENTS);
    urk_engine_destroy(e);
}

int main(void)
{
    run(64);
    run(1);
    printf("ok\n");
    return 0;
}

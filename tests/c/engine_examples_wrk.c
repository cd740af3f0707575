/* The canned-response example answers wrk with no socket errors and no
 * non-2xx responses at 16, 512 and 2048 connections (1 s each), with one
 * and two reactors, and stops cleanly on SIGTERM after each. Skipped
 * when wrk is not installed. */
#include "engine_examples.h"

static int have_wrk(void) { return system("command -v wrk >/dev/null 2>&1") == 0; }

static void run_wrk(uint16_t port, int conns)
{
    char cmd[256], line[512];
    snprintf(cmd, sizeof cmd, "wrk -t1 -c%d -d1s --timeout 5s http://127.0.0.1:%u/ 2>&1", conns,
             port);
    FILE *f = popen(cmd, "r");
    CHECK(f);
    int rate = 0, bad = 0;
    char rate_line[512] = "";
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "Socket errors") || strstr(line, "Non-2xx")) {
            fprintf(stderr, "wrk -c%d: %s", conns, line);
            bad = 1;
        }
        if (strstr(line, "Requests/sec")) {
            rate = 1;
            snprintf(rate_line, sizeof rate_line, "%s", line);
        }
    }
    CHECK(pclose(f) == 0);
    CHECK(!bad && rate);
    printf("wrk -t1 -c%-5d %s", conns, rate_line);
}

int main(void)
{
    if (te_valgrind())
        t_skip("wrk under valgrind");
    if (!have_wrk())
        t_skip("wrk not installed");
    te_raise_nofile();
    const char *reactors[] = {"1", "2"};
    for (int i = 0; i < 2; i++) {
        ex_server_t s = ex_start("http_server", "--reactors", reactors[i]);
        printf("http_server, %s reactor(s):\n", reactors[i]);
        run_wrk(s.port, 16);
        run_wrk(s.port, 512);
        run_wrk(s.port, 2048);
        ex_stop(&s);
    }
    printf("ok\n");
    return 0;
}

/* engine_examples.h - starting the example servers (build/examples/) as
 * subprocesses for the engine_examples* tests. */
#ifndef URK_ENGINE_EXAMPLES_H
#define URK_ENGINE_EXAMPLES_H

#include "engine_util.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>

typedef struct ex_server {
    pid_t pid;
    uint16_t port;
    int out; /* its stdout */
} ex_server_t;

/* Path of an example binary next to this test's build directory; skips
 * the test when it was not built. */
static inline void ex_path(const char *name, char *path, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = 0;
    snprintf(path, cap, "%s/../examples/%s", dirname(self), name);
    if (access(path, X_OK) != 0) {
        char why[PATH_MAX + 32];
        snprintf(why, sizeof why, "%s not built", path);
        t_skip(why);
    }
}

/* Starts `name --port 0 [extra args]` and reads "listening on HOST:PORT". */
static inline ex_server_t ex_start(const char *name, const char *a1, const char *a2)
{
    char path[PATH_MAX];
    ex_path(name, path, sizeof path);
    int p[2];
    CHECK(pipe(p) == 0);
    ex_server_t s = {0};
    s.pid = fork();
    CHECK(s.pid >= 0);
    if (s.pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(path, name, "--port", "0", a1, a2, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    s.out = p[0];
    char line[256];
    size_t len = 0;
    uint64_t dl = t_now_ms() + 10000;
    while (!memchr(line, '\n', len)) {
        CHECK(t_now_ms() < dl);
        struct pollfd pf = {s.out, POLLIN, 0};
        if (poll(&pf, 1, 100) != 1)
            continue;
        ssize_t n = read(s.out, line + len, sizeof line - 1 - len);
        CHECK(n > 0);
        len += (size_t)n;
    }
    line[len] = 0;
    unsigned port = 0;
    CHECK(sscanf(line, "listening on 127.0.0.1:%u", &port) == 1);
    CHECK(port > 0 && port < 65536);
    s.port = (uint16_t)port;
    return s;
}

/* SIGTERM; the server must stop cleanly (exit status 0) within 10 s. */
static inline void ex_stop(ex_server_t *s)
{
    CHECK(kill(s->pid, SIGTERM) == 0);
    int status = 0;
    uint64_t dl = t_now_ms() + 10000;
    pid_t w;
    while ((w = waitpid(s->pid, &status, WNOHANG)) == 0) {
        if (t_now_ms() > dl) {
            kill(s->pid, SIGKILL);
            fprintf(stderr, "server did not stop on SIGTERM\n");
            exit(1);
        }
        te_sleep_ms(5);
    }
    CHECK(w == s->pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        exit(1);
    }
    close(s->out);
}

#endif

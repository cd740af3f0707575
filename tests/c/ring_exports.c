/* Exported symbols of the built library (found relative to this binary:
 * build/tests/..): the soname is liburocket.so.<major>; every ring-layer
 * function of the header is exported as name@@UROCKET_0.1; nothing but
 * urk_* is exported; and tests/check_exports.sh passes. While the engine
 * and load generator are still being written, their declared-but-missing
 * symbols make this a skip (77) once the ring-layer checks passed. */
#include "testutil.h"

#include <libgen.h>
#include <limits.h>

static char exe_dir[PATH_MAX], repo[PATH_MAX], lib[PATH_MAX + 64];

static int run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    CHECK(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int is_ring_layer(const char *name)
{
    static const char *prefixes[] = {"urk_ring_", "urk_bufring_", "urk_prep_", "urk_addr_",
                                     "urk_probe", "urk_cap_name", "urk_strerror",
                                     "urk_err_name", "urk_version", "urk_abi_version"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

int main(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    CHECK(n > 0);
    exe_dir[n] = 0;
    dirname(exe_dir);                       /* build/tests */
    snprintf(repo, sizeof repo, "%s", exe_dir);
    dirname(dirname(repo));                 /* build/tests -> build -> repo */
    char ver[32];
    snprintf(ver, sizeof ver, "%u.%u.%u", urk_version() >> 16, (urk_version() >> 8) & 0xFF,
             urk_version() & 0xFF);
    snprintf(lib, sizeof lib, "%s/../liburocket.so.%s", exe_dir, ver);
    CHECK(access(lib, R_OK) == 0);
    char hdr[PATH_MAX + 64], script[PATH_MAX + 64], map[PATH_MAX + 64];
    snprintf(hdr, sizeof hdr, "%s/shim/include/urocket.h", repo);
    snprintf(script, sizeof script, "%s/tests/check_exports.sh", repo);
    snprintf(map, sizeof map, "%s/shim/urocket.map", repo);
    CHECK(access(hdr, R_OK) == 0 && access(script, X_OK) == 0 && access(map, R_OK) == 0);

    /* Soname. */
    static char out[1 << 16];
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "readelf -d '%s'", lib);
    CHECK(run_capture(cmd, out, sizeof out) == 0);
    char want[64];
    snprintf(want, sizeof want, "Library soname: [liburocket.so.%u]", urk_version() >> 16);
    if (!strstr(out, want)) {
        fprintf(stderr, "soname missing, want %s\n%s", want, out);
        return 1;
    }

    /* Every exported symbol is urk_* with a version (or the node itself). */
    static char syms[1 << 16];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    CHECK(run_capture(cmd, syms, sizeof syms) == 0);
    int exported = 0;
    for (char *line = strtok(syms, "\n"); line; line = strtok(NULL, "\n")) {
        char type, name[256];
        unsigned long long addr;
        CHECK(sscanf(line, "%llx %c %255s", &addr, &type, name) == 3);
        if (type == 'A' && strncmp(name, "UROCKET_", 8) == 0)
            continue;
        if (strncmp(name, "urk_", 4) != 0 || !strstr(name, "@@UROCKET_")) {
            fprintf(stderr, "unexpected export: %s\n", line);
            return 1;
        }
        exported++;
    }
    CHECK(exported > 0);

    /* Every ring-layer function the header declares is exported. */
    snprintf(cmd, sizeof cmd,
             "grep -o 'URK_API [^(]*(' '%s' | grep -o 'urk_[a-z0-9_]*' | sort -u", hdr);
    static char decl[1 << 14];
    CHECK(run_capture(cmd, decl, sizeof decl) == 0);
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    CHECK(run_capture(cmd, syms, sizeof syms) == 0);
    int ring_fns = 0;
    for (char *name = strtok(decl, "\n"); name; name = strtok(NULL, "\n")) {
        if (!is_ring_layer(name))
            continue;
        char needle[300];
        snprintf(needle, sizeof needle, " T %s@@UROCKET_0.1\n", name);
        if (!strstr(syms, needle)) {
            fprintf(stderr, "ring-layer function not exported as %s", needle + 3);
            return 1;
        }
        ring_fns++;
    }
    CHECK(ring_fns >= 40);

    /* The project's own check, whole-header. */
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", script, lib, map);
    int rc = run_capture(cmd, out, sizeof out);
    printf("%s", out);
    if (rc == 0) {
        printf("ok (%d ring-layer functions, %d exports)\n", ring_fns, exported);
        return 0;
    }
    /* Tolerated only while engine/loadgen functions are unimplemented. */
    char *missing = strstr(out, "declared but not exported:\n");
    if (!missing) {
        fprintf(stderr, "check_exports.sh failed (exit %d)\n", rc);
        return 1;
    }
    int pending = 0;
    for (char *name = strtok(missing + strlen("declared but not exported:\n"), "\n"); name;
         name = strtok(NULL, "\n")) {
        if (is_ring_layer(name)) {
            fprintf(stderr, "ring-layer function missing: %s\n", name);
            return 1;
        }
        pending++;
    }
    printf("skip: ring layer ok (%d functions); %d engine/loadgen functions not exported yet\n",
           ring_fns, pending);
    return T_SKIP;
}

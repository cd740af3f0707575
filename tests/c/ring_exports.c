/* Exported symbols of the built library (found relative to this binary:
 * build/tests/..): the soname is liburocket.so.<major>; every ring-layer
 * function of the 0.1.0 header is exported as name@@UROCKET_0.1; and
 * tests/check_exports.sh passes on the real map and headers. The script
 * must also fail on a map that drops a 0.1 symbol (or the 0.1 version of an
 * init whose struct grew), moves one to UROCKET_0.2,
 * puts a function 0.1.0 did not have into UROCKET_0.1, or lists a symbol
 * the library lacks, and on a header declaring a function no node exports:
 * a check that cannot fail would prove nothing. */
#include "testutil.h"

#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char exe_dir[PATH_MAX], repo[PATH_MAX], lib[PATH_MAX + 64];
static char hdr[PATH_MAX + 64], hdr01[PATH_MAX + 64], script[PATH_MAX + 64], map[PATH_MAX + 64];
static char tmpdir[] = "/tmp/urk_exports_XXXXXX";

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

/* Runs check_exports.sh on a map made by `sed_expr` from the real one and a
 * header made by `hdr_sed` (NULL: the real header); it must exit 1 and say
 * `want` on stderr. */
static void expect_reject(const char *what, const char *sed_expr, const char *hdr_sed,
                          const char *want)
{
    static char out[1 << 14];
    char cmd[8 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "sed -e '%s' '%s' > '%s/map'", sed_expr, map, tmpdir);
    CHECK(system(cmd) == 0);
    if (hdr_sed) {
        snprintf(cmd, sizeof cmd, "sed -e '%s' '%s' > '%s/urocket.h'", hdr_sed, hdr, tmpdir);
        CHECK(system(cmd) == 0);
    }
    char hdr_used[PATH_MAX + 64];
    snprintf(hdr_used, sizeof hdr_used, "%s", hdr);
    if (hdr_sed)
        snprintf(hdr_used, sizeof hdr_used, "%s/urocket.h", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s/map' '%s' '%s' 2>&1", script, lib, tmpdir,
             hdr_used, hdr01);
    int rc = run_capture(cmd, out, sizeof out);
    if (rc != 1 || !strstr(out, want)) {
        fprintf(stderr, "%s: check_exports.sh exit %d, want 1 with \"%s\":\n%s", what, rc,
                want, out);
        exit(1);
    }
    printf("rejected as expected: %s\n", what);
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
    snprintf(hdr, sizeof hdr, "%s/shim/include/urocket.h", repo);
    snprintf(hdr01, sizeof hdr01, "%s/tests/compat/0.1/urocket.h", repo);
    snprintf(script, sizeof script, "%s/tests/check_exports.sh", repo);
    snprintf(map, sizeof map, "%s/shim/urocket.map", repo);
    CHECK(access(hdr, R_OK) == 0 && access(hdr01, R_OK) == 0 && access(script, X_OK) == 0 &&
          access(map, R_OK) == 0);

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

    /* Every ring-layer function of the 0.1.0 header is name@@UROCKET_0.1. */
    snprintf(cmd, sizeof cmd,
             "grep -o 'URK_API [^(]*(' '%s' | grep -o 'urk_[a-z0-9_]*' | sort -u", hdr01);
    static char decl[1 << 14], syms[1 << 16];
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

    /* The whole check on the real files passes. */
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", script, lib, map);
    int rc = run_capture(cmd, out, sizeof out);
    printf("%s", out);
    if (rc != 0) {
        fprintf(stderr, "check_exports.sh failed (exit %d)\n", rc);
        return 1;
    }

    /* And it fails where it must. */
    CHECK(mkdtemp(tmpdir));
    expect_reject("0.1 symbol dropped from the map", "/^    urk_version;/d", NULL,
                  "0.1.0 functions missing from UROCKET_0.1: urk_version");
    expect_reject("0.1 symbol moved to UROCKET_0.2",
                  "/^    urk_version;/d; s/^UROCKET_0.2 {/&\\n  global:\\n    urk_version;/", NULL,
                  "urk_version is exported in UROCKET_0.1, the map lists it in UROCKET_0.2");
    expect_reject("unknown function added to UROCKET_0.1",
                  "s/^    urk_version;/&\\n    urk_not_in_0_1;/", NULL,
                  "not allowed in UROCKET_0.1");
    expect_reject("map lists a function the library lacks",
                  "s/^UROCKET_0.2 {/&\\n  global:\\n    urk_not_defined;/", NULL,
                  "urk_not_defined is listed in UROCKET_0.2 but the library does not define it");
    expect_reject("UROCKET_0.2 not inheriting UROCKET_0.1", "s/^} UROCKET_0.1;/};/", NULL,
                  "node UROCKET_0.2 does not inherit UROCKET_0.1");
    expect_reject("0.1 version of a grown init dropped from the map",
                  "/^    urk_callbacks_init;     \\/\\* 0.1 behaviour/d", NULL,
                  "0.1.0 functions missing from UROCKET_0.1: urk_callbacks_init");
    expect_reject("global wildcard", "s/^    urk_version;/    urk_*;/", NULL,
                  "a global wildcard");
    expect_reject("header declares a function no node exports", "",
                  "s/^URK_API int urk_probe(uint64_t \\*caps);/&\\nURK_API int urk_newfn(void);/",
                  "but not exported: urk_newfn");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0);
    printf("ok (%d ring-layer functions)\n", ring_fns);
    return 0;
}

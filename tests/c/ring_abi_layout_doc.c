/* abi.md stays exact: its "Struct layouts" section is byte for byte the
 * output of tests/abi/abi_layout.c for the header this test was built with
 * (so every size and offset a binding copies from it is right), every
 * public struct size matches its pinned value, every URK_E* code and every
 * ring-layer function of the header is documented. */
#include "testutil.h"

#define ABI_LAYOUT_NO_MAIN
#include "../abi/abi_layout.c"

#include <libgen.h>
#include <limits.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    CHECK(s && fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

int main(void)
{
    char repo[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", repo, sizeof repo - 1);
    CHECK(n > 0);
    repo[n] = 0;
    dirname(dirname(dirname(repo))); /* build/tests/<exe> -> repo */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/abi.md", repo);
    char *doc = slurp(path);
    snprintf(path, sizeof path, "%s/shim/include/urocket.h", repo);
    char *hdr = slurp(path);

    char *gen = NULL;
    size_t gen_len = 0;
    FILE *out = open_memstream(&gen, &gen_len);
    CHECK(out);
    int problems = abi_layout_print(out);
    fclose(out);
    CHECK(problems == 0); /* a pinned size changed: that is an ABI change */

    const char *begin = "<!-- abi_layout:begin -->\n", *end = "<!-- abi_layout:end -->";
    char *b = strstr(doc, begin), *e = strstr(doc, end);
    CHECK(b && e && e > b);
    b += strlen(begin);
    if ((size_t)(e - b) != gen_len || memcmp(b, gen, gen_len) != 0) {
        fprintf(stderr, "abi.md struct layouts are out of date; regenerate with\n"
                        "  cc -std=c11 -I shim/include tests/abi/abi_layout.c -o /tmp/abi_layout "
                        "&& /tmp/abi_layout\nand paste between the abi_layout markers\n");
        return 1;
    }

    /* Every typedef'd public struct has a table. */
    int missing = 0;
    for (char *p = strstr(hdr, "} urk_"); p; p = strstr(p + 1, "} urk_")) {
        char name[64];
        if (sscanf(p, "} %63[a-z0-9_]", name) != 1)
            continue;
        char needle[96];
        snprintf(needle, sizeof needle, "#### `%s`", name);
        if (!strstr(doc, needle)) {
            fprintf(stderr, "no layout table for %s (add it to tests/abi/abi_layout.c)\n", name);
            missing++;
        }
    }
    /* Every shim error code is in the error table. */
    int codes = 0;
    for (char *p = strstr(hdr, "#define URK_E"); p; p = strstr(p + 1, "#define URK_E")) {
        char name[64], value[64];
        if (sscanf(p, "#define %63[A-Z0-9_] %63[^\n]", name, value) != 2 ||
            strncmp(value, "(URK_EBASE +", 12) != 0)
            continue; /* URK_EBASE, URK_ELAST, URK_ENGINE_*, URK_EV_* */
        codes++;
        char needle[96];
        snprintf(needle, sizeof needle, "| `%s` |", name);
        if (!strstr(doc, needle)) {
            fprintf(stderr, "error code %s missing from the error table\n", name);
            missing++;
        }
    }
    /* Every ring-layer, probe, error, address and version function has its
     * own section. */
    static const char *prefixes[] = {"urk_ring_", "urk_bufring_", "urk_prep_", "urk_addr_",
                                     "urk_probe", "urk_cap_name", "urk_strerror",
                                     "urk_err_name", "urk_version", "urk_abi_version"};
    int documented = 0;
    for (char *p = strstr(hdr, "URK_API "); p; p = strstr(p + 1, "URK_API ")) {
        char *paren = strchr(p, '(');
        if (!paren)
            break;
        char *q = paren;
        while (q > p && (q[-1] == '_' || (q[-1] >= 'a' && q[-1] <= 'z') ||
                         (q[-1] >= '0' && q[-1] <= '9')))
            q--;
        char name[64];
        size_t len = (size_t)(paren - q);
        if (len == 0 || len >= sizeof name)
            continue;
        memcpy(name, q, len);
        name[len] = 0;
        int ring = 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
            if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
                ring = 1;
        if (!ring)
            continue;
        char needle[96];
        snprintf(needle, sizeof needle, "### `%s`\n", name);
        if (!strstr(doc, needle)) {
            fprintf(stderr, "abi.md has no section for %s\n", name);
            missing++;
        }
        documented++;
    }
    CHECK(documented >= 40);
    CHECK(codes == URK_ELAST - URK_EBASE);
    CHECK(strstr(doc, "\n## Engine\n") && strstr(doc, "\n## Load generator\n"));
    CHECK(missing == 0);
    free(gen);
    free(doc);
    free(hdr);
    printf("ok (%d functions documented)\n", documented);
    return 0;
}

/* urk_strerror / urk_err_name: every errno value and every URK_E* code
 * has a message and a name (sign ignored), unknown codes get "unknown
 * error" / "UNKNOWN", extreme values (INT_MIN) are safe, and the pointers
 * are static (stable across calls and threads). Version functions agree
 * with the header. */
#include "testutil.h"

#include <limits.h>

int main(void)
{
    /* Version. */
    CHECK(urk_version() == URK_VERSION_NUMBER);
    CHECK(urk_abi_version() == URK_ABI_VERSION);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", URK_VERSION_MAJOR, URK_VERSION_MINOR,
             URK_VERSION_PATCH);
    CHECK(strcmp(urk_version_string(), want) == 0);
    CHECK(urk_version_string() == urk_version_string());

    /* Success. */
    CHECK(strcmp(urk_err_name(0), "OK") == 0);
    CHECK(strcmp(urk_strerror(0), "success") == 0);

    /* errno values, both signs, match glibc's names. */
    struct {
        int e;
        const char *name;
    } known[] = {{EINVAL, "EINVAL"},         {ENOBUFS, "ENOBUFS"},   {EBADF, "EBADF"},
                 {ECONNREFUSED, "ECONNREFUSED"}, {ECANCELED, "ECANCELED"}, {ETIME, "ETIME"},
                 {EAGAIN, "EAGAIN"},         {EBUSY, "EBUSY"},       {E2BIG, "E2BIG"},
                 {EALREADY, "EALREADY"},     {ENOENT, "ENOENT"},     {EEXIST, "EEXIST"},
                 {EPIPE, "EPIPE"},           {ECONNRESET, "ECONNRESET"}, {ENOSPC, "ENOSPC"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        CHECK(strcmp(urk_err_name(-known[i].e), known[i].name) == 0);
        CHECK(strcmp(urk_err_name(known[i].e), known[i].name) == 0);
        CHECK(strcmp(urk_strerror(-known[i].e), strerror(known[i].e)) == 0);
    }
    /* Every errno Linux defines has a name and a real message. */
    for (int e = 1; e < 134; e++) {
        if (e == 41 || e == 58) /* not defined on Linux */
            continue;
        const char *n = urk_err_name(-e), *m = urk_strerror(-e);
        CHECK(n && m && n[0] == 'E' && strcmp(m, "unknown error") != 0);
    }

    /* Shim codes. */
    struct {
        int code;
        const char *name;
    } shim[] = {{URK_ESTALE_ID, "URK_ESTALE_ID"}, {URK_ECLOSING, "URK_ECLOSING"},
                {URK_ENOTSUP, "URK_ENOTSUP"},     {URK_ESTATE, "URK_ESTATE"},
                {URK_ETHREAD, "URK_ETHREAD"},     {URK_EFRAMING, "URK_EFRAMING"}};
    CHECK(sizeof shim / sizeof shim[0] == URK_ELAST - URK_EBASE);
    for (size_t i = 0; i < sizeof shim / sizeof shim[0]; i++) {
        CHECK(shim[i].code == URK_EBASE + 1 + (int)i);
        CHECK(strcmp(urk_err_name(-shim[i].code), shim[i].name) == 0);
        CHECK(strcmp(urk_err_name(shim[i].code), shim[i].name) == 0);
        const char *m = urk_strerror(-shim[i].code);
        CHECK(m && strlen(m) > 5 && strcmp(m, "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(m, urk_strerror(-shim[j].code)) != 0);
        printf("%-14s %s\n", shim[i].name, m);
    }

    /* Unknown codes. */
    int unknown[] = {URK_EBASE, URK_ELAST + 1, -(URK_ELAST + 1), 5000, -5000, 9999,
                     100000, INT_MAX, -INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(strcmp(urk_err_name(unknown[i]), "UNKNOWN") == 0);
        CHECK(strcmp(urk_strerror(unknown[i]), "unknown error") == 0);
    }
    /* Static storage: the same pointer each time. */
    CHECK(urk_err_name(-EINVAL) == urk_err_name(-EINVAL));
    CHECK(urk_strerror(-URK_ESTATE) == urk_strerror(URK_ESTATE));
    printf("ok\n");
    return 0;
}

/* error.c - version numbers and the one table of error codes. errno values
 * are described by glibc's static, thread-safe tables; the shim's own codes
 * live in shim_errors[] below. */
#include "internal.h"

#include <limits.h>
#include <string.h>

uint32_t urk_version(void) { return URK_VERSION_NUMBER; }

#define URK_STR2(x) #x
#define URK_STR(x) URK_STR2(x)
const char *urk_version_string(void)
{
    return URK_STR(URK_VERSION_MAJOR) "." URK_STR(URK_VERSION_MINOR) "." URK_STR(URK_VERSION_PATCH);
}

uint32_t urk_abi_version(void) { return URK_ABI_VERSION; }

static const struct {
    int code;
    const char *name;
    const char *message;
} shim_errors[] = {
    {URK_ESTALE_ID, "URK_ESTALE_ID", "connection id refers to a closed connection"},
    {URK_ECLOSING, "URK_ECLOSING", "connection is closing"},
    {URK_ENOTSUP, "URK_ENOTSUP", "the running kernel lacks a required io_uring feature"},
    {URK_ESTATE, "URK_ESTATE", "call not valid in the object's current state"},
    {URK_ETHREAD, "URK_ETHREAD", "called from a thread that does not own the object"},
    {URK_EFRAMING, "URK_EFRAMING", "response did not match the expected framing"},
};

/* |err| without overflow: INT_MIN has no positive int, and is no known
 * code anyway, so it maps to a value no table holds. */
static int magnitude(int err)
{
    if (err == INT_MIN)
        return INT_MAX;
    return err < 0 ? -err : err;
}

const char *urk_strerror(int err)
{
    int e = magnitude(err);
    if (e == 0)
        return "success";
    for (size_t i = 0; i < sizeof shim_errors / sizeof shim_errors[0]; i++)
        if (shim_errors[i].code == e)
            return shim_errors[i].message;
    const char *d = e < URK_EBASE ? strerrordesc_np(e) : NULL;
    return d ? d : "unknown error";
}

const char *urk_err_name(int err)
{
    int e = magnitude(err);
    if (e == 0)
        return "OK";
    for (size_t i = 0; i < sizeof shim_errors / sizeof shim_errors[0]; i++)
        if (shim_errors[i].code == e)
            return shim_errors[i].name;
    const char *n = e < URK_EBASE ? strerrorname_np(e) : NULL;
    return n ? n : "UNKNOWN";
}

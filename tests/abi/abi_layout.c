/* abi_layout.c - prints the layout of every public struct of urocket.h as
 * markdown (the tables in abi.md are this program's output, verbatim), and
 * fails when a size differs from the one pinned here and in the header's
 * "size N" comments. Standalone: needs only the header.
 *
 *   cc -std=c11 -I shim/include tests/abi/abi_layout.c -o /tmp/abi_layout
 *   /tmp/abi_layout > /tmp/layout.md
 *
 * tests/c/ring_abi_layout_doc.c includes this file (ABI_LAYOUT_NO_MAIN) and
 * checks that abi.md holds exactly this output. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "urocket.h"

typedef struct abi_field {
    const char *name;
    const char *type;
    size_t offset;
    size_t size;
} abi_field_t;

typedef struct abi_struct {
    const char *name;
    size_t size;
    size_t align;
    size_t pinned_size; /* the size promised to bindings for ABI 1 */
    const abi_field_t *fields;
    size_t nfields;
} abi_struct_t;

#define F(S, f, T) {#f, T, offsetof(S, f), sizeof(((S *)0)->f)}
#define S(T, pinned, arr) {#T, sizeof(T), _Alignof(T), pinned, arr, sizeof arr / sizeof arr[0]}

static const abi_field_t addr_f[] = {
    F(urk_addr_t, bytes, "uint8_t[128]"),
    F(urk_addr_t, len, "uint32_t"),
    F(urk_addr_t, reserved, "uint32_t"),
};
static const abi_field_t ring_opts_f[] = {
    F(urk_ring_opts_t, struct_size, "uint32_t"),
    F(urk_ring_opts_t, flags, "uint32_t"),
    F(urk_ring_opts_t, sq_entries, "uint32_t"),
    F(urk_ring_opts_t, cq_entries, "uint32_t"),
    F(urk_ring_opts_t, sqpoll_idle_ms, "uint32_t"),
    F(urk_ring_opts_t, sqpoll_cpu, "int32_t"),
    F(urk_ring_opts_t, reserved, "uint32_t[6]"),
};
static const abi_field_t ring_info_f[] = {
    F(urk_ring_info_t, struct_size, "uint32_t"),
    F(urk_ring_info_t, active, "uint32_t"),
    F(urk_ring_info_t, sq_entries, "uint32_t"),
    F(urk_ring_info_t, cq_entries, "uint32_t"),
    F(urk_ring_info_t, features, "uint32_t"),
    F(urk_ring_info_t, setup_flags, "uint32_t"),
};
static const abi_field_t ring_stats_f[] = {
    F(urk_ring_stats_t, submitted, "uint64_t"),
    F(urk_ring_stats_t, completed, "uint64_t"),
    F(urk_ring_stats_t, sq_full_waits, "uint64_t"),
    F(urk_ring_stats_t, cq_overflows, "uint64_t"),
    F(urk_ring_stats_t, enobufs, "uint64_t"),
    F(urk_ring_stats_t, bufs_out, "uint64_t"),
};
static const abi_field_t bufring_opts_f[] = {
    F(urk_bufring_opts_t, struct_size, "uint32_t"),
    F(urk_bufring_opts_t, flags, "uint32_t"),
    F(urk_bufring_opts_t, count, "uint32_t"),
    F(urk_bufring_opts_t, size, "uint32_t"),
    F(urk_bufring_opts_t, group_id, "uint16_t"),
    F(urk_bufring_opts_t, reserved0, "uint16_t"),
    F(urk_bufring_opts_t, reserved, "uint32_t[3]"),
};
static const abi_field_t iovec_f[] = {
    F(urk_iovec_t, base, "void *"),
    F(urk_iovec_t, len, "uint64_t"),
};
static const abi_field_t cqe_f[] = {
    F(urk_cqe_t, user_data, "uint64_t"),
    F(urk_cqe_t, res, "int32_t"),
    F(urk_cqe_t, flags, "uint32_t"),
    F(urk_cqe_t, buf, "void *"),
    F(urk_cqe_t, buf_len, "uint32_t"),
    F(urk_cqe_t, buf_id, "uint16_t"),
    F(urk_cqe_t, buf_group, "uint16_t"),
};
static const abi_field_t engine_opts_f[] = {
    F(urk_engine_opts_t, struct_size, "uint32_t"),
    F(urk_engine_opts_t, flags, "uint32_t"),
    F(urk_engine_opts_t, host, "const char *"),
    F(urk_engine_opts_t, port, "uint16_t"),
    F(urk_engine_opts_t, reserved0, "uint16_t"),
    F(urk_engine_opts_t, backlog, "int32_t"),
    F(urk_engine_opts_t, reactors, "uint32_t"),
    F(urk_engine_opts_t, sq_entries, "uint32_t"),
    F(urk_engine_opts_t, cq_entries, "uint32_t"),
    F(urk_engine_opts_t, buf_count, "uint32_t"),
    F(urk_engine_opts_t, buf_size, "uint32_t"),
    F(urk_engine_opts_t, buf_low_water, "uint32_t"),
    F(urk_engine_opts_t, max_conns, "uint32_t"),
    F(urk_engine_opts_t, idle_timeout_ms, "uint32_t"),
    F(urk_engine_opts_t, send_limit, "uint32_t"),
    F(urk_engine_opts_t, sqpoll_idle_ms, "uint32_t"),
    F(urk_engine_opts_t, acceptor_cpu, "int32_t"),
    F(urk_engine_opts_t, reserved1, "uint32_t"),
    F(urk_engine_opts_t, reactor_cpus, "const int32_t *"),
    F(urk_engine_opts_t, reserved, "uint32_t[8]"),
};
static const abi_field_t event_f[] = {
    F(urk_event_t, conn, "uint64_t (urk_conn_t)"),
    F(urk_event_t, type, "uint32_t"),
    F(urk_event_t, res, "int32_t"),
    F(urk_event_t, data, "const uint8_t *"),
    F(urk_event_t, len, "uint32_t"),
    F(urk_event_t, buf, "uint32_t"),
    F(urk_event_t, user, "uint64_t"),
};
static const abi_field_t send_req_f[] = {
    F(urk_send_req_t, conn, "uint64_t (urk_conn_t)"),
    F(urk_send_req_t, data, "const void *"),
    F(urk_send_req_t, len, "uint32_t"),
    F(urk_send_req_t, flags, "uint32_t"),
    F(urk_send_req_t, tag, "uint64_t"),
    F(urk_send_req_t, result, "int32_t"),
    F(urk_send_req_t, reserved, "uint32_t"),
};
static const abi_field_t reactor_stats_f[] = {
    F(urk_reactor_stats_t, accepted, "uint64_t"),
    F(urk_reactor_stats_t, connected, "uint64_t"),
    F(urk_reactor_stats_t, closed, "uint64_t"),
    F(urk_reactor_stats_t, bytes_in, "uint64_t"),
    F(urk_reactor_stats_t, bytes_out, "uint64_t"),
    F(urk_reactor_stats_t, events, "uint64_t"),
    F(urk_reactor_stats_t, enobufs_rearms, "uint64_t"),
    F(urk_reactor_stats_t, sq_full_waits, "uint64_t"),
    F(urk_reactor_stats_t, cq_overflows, "uint64_t"),
    F(urk_reactor_stats_t, live_conns, "uint64_t"),
    F(urk_reactor_stats_t, bufs_held, "uint64_t"),
    F(urk_reactor_stats_t, send_queued, "uint64_t"),
    F(urk_reactor_stats_t, wakeups, "uint64_t"),
    F(urk_reactor_stats_t, handoff_fallbacks, "uint64_t"),
};
static const abi_field_t engine_stats_f[] = {
    F(urk_engine_stats_t, accepted, "uint64_t"),
    F(urk_engine_stats_t, accept_rearms, "uint64_t"),
    F(urk_engine_stats_t, accept_errors, "uint64_t"),
    F(urk_engine_stats_t, rejected, "uint64_t"),
};
static const abi_field_t callbacks_f[] = {
    F(urk_callbacks_t, struct_size, "uint32_t"),
    F(urk_callbacks_t, reserved0, "uint32_t"),
    F(urk_callbacks_t, user, "void *"),
    F(urk_callbacks_t, on_open, "function pointer"),
    F(urk_callbacks_t, on_data, "function pointer"),
    F(urk_callbacks_t, on_writable, "function pointer"),
    F(urk_callbacks_t, on_close, "function pointer"),
    F(urk_callbacks_t, on_send_done, "function pointer"),
    F(urk_callbacks_t, on_connect_failed, "function pointer"),
    F(urk_callbacks_t, on_eof, "function pointer"),
};
static const abi_field_t loadgen_opts_f[] = {
    F(urk_loadgen_opts_t, struct_size, "uint32_t"),
    F(urk_loadgen_opts_t, flags, "uint32_t"),
    F(urk_loadgen_opts_t, host, "const char *"),
    F(urk_loadgen_opts_t, port, "uint16_t"),
    F(urk_loadgen_opts_t, framing, "uint16_t"),
    F(urk_loadgen_opts_t, connections, "uint32_t"),
    F(urk_loadgen_opts_t, threads, "uint32_t"),
    F(urk_loadgen_opts_t, response_len, "uint32_t"),
    F(urk_loadgen_opts_t, request, "const void *"),
    F(urk_loadgen_opts_t, request_len, "uint32_t"),
    F(urk_loadgen_opts_t, delim_len, "uint32_t"),
    F(urk_loadgen_opts_t, delim, "const void *"),
    F(urk_loadgen_opts_t, duration_ms, "uint64_t"),
    F(urk_loadgen_opts_t, max_requests, "uint64_t"),
    F(urk_loadgen_opts_t, rate, "uint64_t"),
    F(urk_loadgen_opts_t, timeout_ms, "uint64_t"),
    F(urk_loadgen_opts_t, cpu, "int32_t"),
    F(urk_loadgen_opts_t, reserved, "uint32_t[7]"),
    F(urk_loadgen_opts_t, requests, "const urk_loadgen_request_t *"),
    F(urk_loadgen_opts_t, nrequests, "uint32_t"),
    F(urk_loadgen_opts_t, ramp_ms, "uint32_t"),
};
static const abi_field_t loadgen_request_f[] = {
    F(urk_loadgen_request_t, data, "const void *"),
    F(urk_loadgen_request_t, len, "uint32_t"),
    F(urk_loadgen_request_t, weight, "uint32_t"),
    F(urk_loadgen_request_t, reserved, "uint32_t[2]"),
};
static const abi_field_t loadgen_result_f[] = {
    F(urk_loadgen_result_t, requests, "uint64_t"),
    F(urk_loadgen_result_t, responses, "uint64_t"),
    F(urk_loadgen_result_t, bytes_out, "uint64_t"),
    F(urk_loadgen_result_t, bytes_in, "uint64_t"),
    F(urk_loadgen_result_t, elapsed_ns, "uint64_t"),
    F(urk_loadgen_result_t, err_connect, "uint64_t"),
    F(urk_loadgen_result_t, err_read, "uint64_t"),
    F(urk_loadgen_result_t, err_write, "uint64_t"),
    F(urk_loadgen_result_t, err_timeout, "uint64_t"),
    F(urk_loadgen_result_t, err_framing, "uint64_t"),
    F(urk_loadgen_result_t, lat_min_ns, "uint64_t"),
    F(urk_loadgen_result_t, lat_mean_ns, "uint64_t"),
    F(urk_loadgen_result_t, lat_max_ns, "uint64_t"),
    F(urk_loadgen_result_t, lat_p50_ns, "uint64_t"),
    F(urk_loadgen_result_t, lat_p90_ns, "uint64_t"),
    F(urk_loadgen_result_t, lat_p99_ns, "uint64_t"),
    F(urk_loadgen_result_t, lat_p999_ns, "uint64_t"),
    F(urk_loadgen_result_t, cpu_ns, "uint64_t"),
    F(urk_loadgen_result_t, reconnects, "uint64_t"),
    F(urk_loadgen_result_t, non2xx, "uint64_t"),
    F(urk_loadgen_result_t, lat_sum_ns, "uint64_t"),
};
static const abi_field_t loadgen_second_f[] = {
    F(urk_loadgen_second_t, responses, "uint64_t"),
    F(urk_loadgen_second_t, errors, "uint64_t"),
    F(urk_loadgen_second_t, lat_p50_ns, "uint64_t"),
    F(urk_loadgen_second_t, lat_p99_ns, "uint64_t"),
};

static const abi_struct_t abi_structs[] = {
    S(urk_addr_t, 136, addr_f),
    S(urk_ring_opts_t, 48, ring_opts_f),
    S(urk_ring_info_t, 24, ring_info_f),
    S(urk_ring_stats_t, 48, ring_stats_f),
    S(urk_bufring_opts_t, 32, bufring_opts_f),
    S(urk_iovec_t, 16, iovec_f),
    S(urk_cqe_t, 32, cqe_f),
    S(urk_engine_opts_t, 112, engine_opts_f),
    S(urk_event_t, 40, event_f),
    S(urk_send_req_t, 40, send_req_f),
    S(urk_reactor_stats_t, 112, reactor_stats_f),
    S(urk_engine_stats_t, 32, engine_stats_f),
    S(urk_callbacks_t, 72, callbacks_f),
    S(urk_loadgen_request_t, 24, loadgen_request_f),
    S(urk_loadgen_opts_t, 136, loadgen_opts_f),
    S(urk_loadgen_result_t, 168, loadgen_result_f),
    S(urk_loadgen_second_t, 32, loadgen_second_f),
};

/* Prints every table; returns the number of problems found (a size that
 * differs from its pinned value, overlapping fields). Padding is listed as
 * its own row so a binding can declare it. */
static int abi_layout_print(FILE *out)
{
    int problems = 0;
    fprintf(out, "<!-- generated by tests/abi/abi_layout.c: do not edit by hand -->\n");
    for (size_t s = 0; s < sizeof abi_structs / sizeof abi_structs[0]; s++) {
        const abi_struct_t *st = &abi_structs[s];
        fprintf(out, "\n#### `%s`: size %zu, alignment %zu\n\n", st->name, st->size, st->align);
        fprintf(out, "| offset | size | field | type |\n|---:|---:|---|---|\n");
        size_t at = 0;
        for (size_t i = 0; i < st->nfields; i++) {
            const abi_field_t *f = &st->fields[i];
            if (f->offset < at) {
                fprintf(stderr, "%s.%s overlaps the field before it\n", st->name, f->name);
                problems++;
            } else if (f->offset > at) {
                fprintf(out, "| %zu | %zu | *(padding)* | |\n", at, f->offset - at);
            }
            fprintf(out, "| %zu | %zu | `%s` | `%s` |\n", f->offset, f->size, f->name, f->type);
            at = f->offset + f->size;
        }
        if (at < st->size)
            fprintf(out, "| %zu | %zu | *(padding)* | |\n", at, st->size - at);
        if (st->size != st->pinned_size) {
            fprintf(stderr, "%s: size %zu, pinned %zu (ABI change: see abi.md, versioning)\n",
                    st->name, st->size, st->pinned_size);
            problems++;
        }
    }
    return problems;
}

#ifndef ABI_LAYOUT_NO_MAIN
int main(void)
{
    _Static_assert(sizeof(void *) == 8, "the ABI is defined for LP64 only");
    return abi_layout_print(stdout) ? 1 : 0;
}
#endif

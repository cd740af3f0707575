// Raw interop layer: every struct, constant and function of shim/include/urocket.h,
// spelled as in C. Layouts are explicit (offsets and sizes from the header) and
// every field is blittable: no bool, no C long, no strings inside structs.
// tests/AbiTests.cs compares all of it with tests/abi/abi_facts.json, so a change
// on the C side that is not mirrored here fails the C# tests.
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// Every signature below is blittable; runtime marshalling is off so nothing
// can silently need a marshalling stub (native AOT and trimming safe).
[assembly: DisableRuntimeMarshalling]

namespace Urocket.Interop
{
    /// <summary>The C name of a struct (for the conformance tests).</summary>
    [AttributeUsage(AttributeTargets.Struct)]
    public sealed class CNameAttribute : Attribute
    {
        public CNameAttribute(string name) { Name = name; }
        public string Name { get; private set; }
    }

    /// <summary>Every integer macro of urocket.h, with its C name.</summary>
    public static class UrkConst
    {
        public const uint URK_VERSION_MAJOR = 0;
        public const uint URK_VERSION_MINOR = 2;
        public const uint URK_VERSION_PATCH = 0;
        public const uint URK_VERSION_NUMBER = 512;
        public const uint URK_ABI_VERSION = 1;
        public const int URK_EBASE = 10000;
        public const int URK_ESTALE_ID = 10001;
        public const int URK_ECLOSING = 10002;
        public const int URK_ENOTSUP = 10003;
        public const int URK_ESTATE = 10004;
        public const int URK_ETHREAD = 10005;
        public const int URK_EFRAMING = 10006;
        public const int URK_ELAST = 10006;
        public const ulong URK_CAP_MULTISHOT_ACCEPT = 1;
        public const ulong URK_CAP_MULTISHOT_RECV = 2;
        public const ulong URK_CAP_BUF_RING = 4;
        public const ulong URK_CAP_RECV_BUNDLE = 8;
        public const ulong URK_CAP_BUF_RING_INC = 16;
        public const ulong URK_CAP_MSG_RING = 32;
        public const ulong URK_CAP_MSG_RING_FD = 64;
        public const ulong URK_CAP_SEND_ZC = 128;
        public const ulong URK_CAP_SQPOLL = 256;
        public const ulong URK_CAP_SINGLE_ISSUER = 512;
        public const ulong URK_CAP_DEFER_TASKRUN = 1024;
        public const ulong URK_CAP_COOP_TASKRUN = 2048;
        public const ulong URK_CAP_REGISTERED_RING_FD = 4096;
        public const ulong URK_CAP_EXT_ARG = 8192;
        public const ulong URK_CAP_CQE_SKIP = 16384;
        public const ulong URK_CAP_NODROP = 32768;
        public const ulong URK_CAP_LAST = 32768;
        public const uint URK_RING_SQPOLL = 1;
        public const uint URK_RING_NO_DEFER_TASKRUN = 2;
        public const uint URK_RING_NO_REGISTER_FD = 4;
        public const uint URK_RING_FORCE_FALLBACK = 8;
        public const uint URK_RING_DISABLED = 16;
        public const uint URK_RING_ACTIVE_SQPOLL = 1;
        public const uint URK_RING_ACTIVE_SINGLE_ISSUER = 2;
        public const uint URK_RING_ACTIVE_DEFER_TASKRUN = 4;
        public const uint URK_RING_ACTIVE_COOP_TASKRUN = 8;
        public const uint URK_RING_ACTIVE_REGISTERED_FD = 16;
        public const uint URK_RING_ACTIVE_FALLBACK = 32;
        public const uint URK_RING_ACTIVE_ENABLED = 64;
        public const uint URK_BUFRING_INC = 1;
        public const uint URK_OP_LINK = 65536;
        public const uint URK_OP_SKIP_SUCCESS = 131072;
        public const uint URK_OP_ASYNC = 262144;
        public const uint URK_RECV_BUNDLE = 1;
        public const uint URK_CANCEL_ALL = 1;
        public const uint URK_CQE_F_BUFFER = 1;
        public const uint URK_CQE_F_MORE = 2;
        public const uint URK_CQE_F_SOCK_NONEMPTY = 4;
        public const uint URK_CQE_F_NOTIF = 8;
        public const uint URK_CQE_F_BUF_MORE = 16;
        public const uint URK_ENGINE_SQPOLL = 1;
        public const uint URK_ENGINE_REUSEPORT = 2;
        public const uint URK_ENGINE_NO_LISTEN = 4;
        public const uint URK_ENGINE_LEAST_CONN = 8;
        public const uint URK_ENGINE_NO_MSG_RING = 16;
        public const uint URK_ENGINE_RELEASE_ON_POLL = 32;
        public const uint URK_ENGINE_NO_DEFER_TASKRUN = 64;
        public const uint URK_ENGINE_HALF_CLOSE = 128;
        public const uint URK_ENGINE_NO_REGISTERED_RING = 256;
        public const uint URK_ENGINE_NO_SEND_POOL = 512;
        public const uint URK_ENGINE_NO_RECV_BUNDLE = 1024;
        public const int URK_EV_OPEN = 1;
        public const int URK_EV_DATA = 2;
        public const int URK_EV_WRITABLE = 3;
        public const int URK_EV_CLOSED = 4;
        public const int URK_EV_SEND_DONE = 5;
        public const int URK_EV_CONNECT_FAILED = 6;
        public const int URK_EV_EOF = 7;
        public const int URK_EV_POST = 8;
        public const uint URK_SEND_NOCOPY = 1;
        public const uint URK_SEND_NOTIFY = 2;
        public const uint URK_SEND_FORCE = 4;
        public const int URK_FRAME_FIXED = 1;
        public const int URK_FRAME_DELIM = 2;
        public const int URK_FRAME_HTTP = 3;
        public const uint URK_LOAD_OPEN_LOOP = 1;
        public const int URK_LOADGEN_MAX_REQUESTS = 32;
        public const int URK_LOADGEN_RESULT_SIZE_0_1 = 144;
        public const int URK_LOADGEN_HIST_SUB_BITS = 7;
        public const int URK_LOADGEN_HIST_BUCKETS = 4864;
    }

    /// <summary>urk_addr_t (136 bytes).</summary>
    [CName("urk_addr_t")]
    [StructLayout(LayoutKind.Explicit, Size = 136)]
    public unsafe struct UrkAddr
    {
        [FieldOffset(0)] public fixed byte bytes[128];
        [FieldOffset(128)] public uint len;
        [FieldOffset(132)] public uint reserved;
    }

    /// <summary>urk_ring_opts_t (48 bytes).</summary>
    [CName("urk_ring_opts_t")]
    [StructLayout(LayoutKind.Explicit, Size = 48)]
    public unsafe struct UrkRingOpts
    {
        [FieldOffset(0)] public uint struct_size;
        [FieldOffset(4)] public uint flags;
        [FieldOffset(8)] public uint sq_entries;
        [FieldOffset(12)] public uint cq_entries;
        [FieldOffset(16)] public uint sqpoll_idle_ms;
        [FieldOffset(20)] public int sqpoll_cpu;
        [FieldOffset(24)] public fixed uint reserved[6];
    }

    /// <summary>urk_ring_info_t (24 bytes).</summary>
    [CName("urk_ring_info_t")]
    [StructLayout(LayoutKind.Explicit, Size = 24)]
    public unsafe struct UrkRingInfo
    {
        [FieldOffset(0)] public uint struct_size;
        [FieldOffset(4)] public uint active;
        [FieldOffset(8)] public uint sq_entries;
        [FieldOffset(12)] public uint cq_entries;
        [FieldOffset(16)] public uint features;
        [FieldOffset(20)] public uint setup_flags;
    }

    /// <summary>urk_ring_stats_t (48 bytes).</summary>
    [CName("urk_ring_stats_t")]
    [StructLayout(LayoutKind.Explicit, Size = 48)]
    public unsafe struct UrkRingStats
    {
        [FieldOffset(0)] public ulong submitted;
        [FieldOffset(8)] public ulong completed;
        [FieldOffset(16)] public ulong sq_full_waits;
        [FieldOffset(24)] public ulong cq_overflows;
        [FieldOffset(32)] public ulong enobufs;
        [FieldOffset(40)] public ulong bufs_out;
    }

    /// <summary>urk_bufring_opts_t (32 bytes).</summary>
    [CName("urk_bufring_opts_t")]
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public unsafe struct UrkBufRingOpts
    {
        [FieldOffset(0)] public uint struct_size;
        [FieldOffset(4)] public uint flags;
        [FieldOffset(8)] public uint count;
        [FieldOffset(12)] public uint size;
        [FieldOffset(16)] public ushort group_id;
        [FieldOffset(18)] public ushort reserved0;
        [FieldOffset(20)] public fixed uint reserved[3];
    }

    /// <summary>urk_iovec_t (16 bytes).</summary>
    [CName("urk_iovec_t")]
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public unsafe struct UrkIovec
    {
        [FieldOffset(0)] public IntPtr @base; // void *
        [FieldOffset(8)] public ulong len;
    }

    /// <summary>urk_cqe_t (32 bytes).</summary>
    [CName("urk_cqe_t")]
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public unsafe struct UrkCqe
    {
        [FieldOffset(0)] public ulong user_data;
        [FieldOffset(8)] public int res;
        [FieldOffset(12)] public uint flags;
        [FieldOffset(16)] public IntPtr buf; // void *
        [FieldOffset(24)] public uint buf_len;
        [FieldOffset(28)] public ushort buf_id;
        [FieldOffset(30)] public ushort buf_group;
    }

    /// <summary>urk_engine_opts_t (112 bytes).</summary>
    [CName("urk_engine_opts_t")]
    [StructLayout(LayoutKind.Explicit, Size = 112)]
    public unsafe struct UrkEngineOpts
    {
        [FieldOffset(0)] public uint struct_size;
        [FieldOffset(4)] public uint flags;
        [FieldOffset(8)] public IntPtr host; // const char *
        [FieldOffset(16)] public ushort port;
        [FieldOffset(18)] public ushort reserved0;
        [FieldOffset(20)] public int backlog;
        [FieldOffset(24)] public uint reactors;
        [FieldOffset(28)] public uint sq_entries;
        [FieldOffset(32)] public uint cq_entries;
        [FieldOffset(36)] public uint buf_count;
        [FieldOffset(40)] public uint buf_size;
        [FieldOffset(44)] public uint buf_low_water;
        [FieldOffset(48)] public uint max_conns;
        [FieldOffset(52)] public uint idle_timeout_ms;
        [FieldOffset(56)] public uint send_limit;
        [FieldOffset(60)] public uint sqpoll_idle_ms;
        [FieldOffset(64)] public int acceptor_cpu;
        [FieldOffset(68)] public uint reserved1;
        [FieldOffset(72)] public IntPtr reactor_cpus; // const int32_t *
        [FieldOffset(80)] public fixed uint reserved[8];
    }

    /// <summary>urk_event_t (40 bytes).</summary>
    [CName("urk_event_t")]
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public unsafe struct UrkEvent
    {
        [FieldOffset(0)] public ulong conn;
        [FieldOffset(8)] public uint type;
        [FieldOffset(12)] public int res;
        [FieldOffset(16)] public IntPtr data; // const uint8_t *
        [FieldOffset(24)] public uint len;
        [FieldOffset(28)] public uint buf;
        [FieldOffset(32)] public ulong user;
    }

    /// <summary>urk_send_req_t (40 bytes).</summary>
    [CName("urk_send_req_t")]
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public unsafe struct UrkSendReq
    {
        [FieldOffset(0)] public ulong conn;
        [FieldOffset(8)] public IntPtr data; // const void *
        [FieldOffset(16)] public uint len;
        [FieldOffset(20)] public uint flags;
        [FieldOffset(24)] public ulong tag;
        [FieldOffset(32)] public int result;
        [FieldOffset(36)] public uint reserved;
    }

    /// <summary>urk_reactor_stats_t (112 bytes).</summary>
    [CName("urk_reactor_stats_t")]
    [StructLayout(LayoutKind.Explicit, Size = 112)]
    public unsafe struct UrkReactorStats
    {
        [FieldOffset(0)] public ulong accepted;
        [FieldOffset(8)] public ulong connected;
        [FieldOffset(16)] public ulong closed;
        [FieldOffset(24)] public ulong bytes_in;
        [FieldOffset(32)] public ulong bytes_out;
        [FieldOffset(40)] public ulong events;
        [FieldOffset(48)] public ulong enobufs_rearms;
        [FieldOffset(56)] public ulong sq_full_waits;
        [FieldOffset(64)] public ulong cq_overflows;
        [FieldOffset(72)] public ulong live_conns;
        [FieldOffset(80)] public ulong bufs_held;
        [FieldOffset(88)] public ulong send_queued;
        [FieldOffset(96)] public ulong wakeups;
        [FieldOffset(104)] public ulong handoff_fallbacks;
    }

    /// <summary>urk_engine_stats_t (32 bytes).</summary>
    [CName("urk_engine_stats_t")]
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public unsafe struct UrkEngineStats
    {
        [FieldOffset(0)] public ulong accepted;
        [FieldOffset(8)] public ulong accept_rearms;
        [FieldOffset(16)] public ulong accept_errors;
        [FieldOffset(24)] public ulong rejected;
    }

    /// <summary>urk_callbacks_t (72 bytes; 64 in 0.1, without on_eof).</summary>
    [CName("urk_callbacks_t")]
    [StructLayout(LayoutKind.Explicit, Size = 72)]
    public unsafe struct UrkCallbacks
    {
        [FieldOffset(0)] public uint struct_size;
        [FieldOffset(4)] public uint reserved0;
        [FieldOffset(8)] public IntPtr user; // void *
        [FieldOffset(16)] public IntPtr on_open; // void (*)(urk_reactor_t *, urk_conn_t, const urk_addr_t *, uint64_t, void *)
        [FieldOffset(24)] public IntPtr on_data; // int32_t (*)(urk_reactor_t *, urk_conn_t, const uint8_t *, uint32_t, uint32_t, void *)
        [FieldOffset(32)] public IntPtr on_writable; // void (*)(urk_reactor_t *, urk_conn_t, void *)
        [FieldOffset(40)] public IntPtr on_close; // void (*)(urk_reactor_t *, urk_conn_t, int32_t, void *)
        [FieldOffset(48)] public IntPtr on_send_done; // void (*)(urk_reactor_t *, urk_conn_t, int32_t, uint64_t, void *)
        [FieldOffset(56)] public IntPtr on_connect_failed; // void (*)(urk_reactor_t *, urk_conn_t, int32_t, uint64_t, void *)
        [FieldOffset(64)] public IntPtr on_eof; // void (*)(urk_reactor_t *, urk_conn_t, void *)
    }

    /// <summary>urk_loadgen_request_t (24 bytes): one kind of request of a scenario.</summary>
    [CName("urk_loadgen_request_t")]
    [StructLayout(LayoutKind.Explicit, Size = 24)]
    public unsafe struct UrkLoadGenRequest
    {
        [FieldOffset(0)] public IntPtr data; // const void *
        [FieldOffset(8)] public uint len;
        [FieldOffset(12)] public uint weight;
        [FieldOffset(16)] public fixed uint reserved[2];
    }

    /// <summary>urk_loadgen_opts_t (136 bytes).</summary>
    [CName("urk_loadgen_opts_t")]
    [StructLayout(LayoutKind.Explicit, Size = 136)]
    public unsafe struct UrkLoadGenOpts
    {
        [FieldOffset(0)] public uint struct_size;
        [FieldOffset(4)] public uint flags;
        [FieldOffset(8)] public IntPtr host; // const char *
        [FieldOffset(16)] public ushort port;
        [FieldOffset(18)] public ushort framing;
        [FieldOffset(20)] public uint connections;
        [FieldOffset(24)] public uint threads;
        [FieldOffset(28)] public uint response_len;
        [FieldOffset(32)] public IntPtr request; // const void *
        [FieldOffset(40)] public uint request_len;
        [FieldOffset(44)] public uint delim_len;
        [FieldOffset(48)] public IntPtr delim; // const void *
        [FieldOffset(56)] public ulong duration_ms;
        [FieldOffset(64)] public ulong max_requests;
        [FieldOffset(72)] public ulong rate;
        [FieldOffset(80)] public ulong timeout_ms;
        [FieldOffset(88)] public int cpu;
        [FieldOffset(92)] public fixed uint reserved[7];
        [FieldOffset(120)] public IntPtr requests; // const urk_loadgen_request_t *
        [FieldOffset(128)] public uint nrequests;
        [FieldOffset(132)] public uint ramp_ms;
    }

    /// <summary>urk_loadgen_result_t (168 bytes; urk_loadgen_result fills the
    /// first 144, urk_loadgen_result_ex all of it).</summary>
    [CName("urk_loadgen_result_t")]
    [StructLayout(LayoutKind.Explicit, Size = 168)]
    public unsafe struct UrkLoadGenResult
    {
        [FieldOffset(0)] public ulong requests;
        [FieldOffset(8)] public ulong responses;
        [FieldOffset(16)] public ulong bytes_out;
        [FieldOffset(24)] public ulong bytes_in;
        [FieldOffset(32)] public ulong elapsed_ns;
        [FieldOffset(40)] public ulong err_connect;
        [FieldOffset(48)] public ulong err_read;
        [FieldOffset(56)] public ulong err_write;
        [FieldOffset(64)] public ulong err_timeout;
        [FieldOffset(72)] public ulong err_framing;
        [FieldOffset(80)] public ulong lat_min_ns;
        [FieldOffset(88)] public ulong lat_mean_ns;
        [FieldOffset(96)] public ulong lat_max_ns;
        [FieldOffset(104)] public ulong lat_p50_ns;
        [FieldOffset(112)] public ulong lat_p90_ns;
        [FieldOffset(120)] public ulong lat_p99_ns;
        [FieldOffset(128)] public ulong lat_p999_ns;
        [FieldOffset(136)] public ulong cpu_ns;
        [FieldOffset(144)] public ulong reconnects;
        [FieldOffset(152)] public ulong non2xx;
        [FieldOffset(160)] public ulong lat_sum_ns;
    }

    /// <summary>urk_loadgen_second_t (32 bytes).</summary>
    [CName("urk_loadgen_second_t")]
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public unsafe struct UrkLoadGenSecond
    {
        [FieldOffset(0)] public ulong responses;
        [FieldOffset(8)] public ulong errors;
        [FieldOffset(16)] public ulong lat_p50_ns;
        [FieldOffset(24)] public ulong lat_p99_ns;
    }
    /// <summary>
    /// The functions of urocket.h. Handles are IntPtr, struct and out parameters
    /// are pointers (so NULL can be passed), 64-bit integers are ulong/long.
    /// Source-generated (LibraryImport) with runtime marshalling disabled:
    /// every signature is blittable, so each call is a direct native call.
    /// The library name "urocket" is resolved by <see cref="Library"/>.
    /// </summary>
    public static unsafe partial class Native
    {
        public const string Lib = "urocket";

        // ---- version and errors ----
        [LibraryImport(Lib)] public static partial uint urk_version();
        [LibraryImport(Lib)] public static partial IntPtr urk_version_string();
        [LibraryImport(Lib)] public static partial uint urk_abi_version();
        [LibraryImport(Lib)] public static partial IntPtr urk_strerror(int err);
        [LibraryImport(Lib)] public static partial IntPtr urk_err_name(int err);
        [LibraryImport(Lib)] public static partial int urk_probe(ulong* caps);
        [LibraryImport(Lib)] public static partial IntPtr urk_cap_name(ulong cap);

        // ---- addresses ----
        [LibraryImport(Lib)] public static partial int urk_addr_parse(byte* host, ushort port, UrkAddr* @out);
        [LibraryImport(Lib)] public static partial int urk_addr_format(UrkAddr* addr, byte* buf, uint cap);

        // ---- ring ----
        [LibraryImport(Lib)] public static partial int urk_ring_opts_init(UrkRingOpts* opts);
        [LibraryImport(Lib)] public static partial int urk_ring_create(UrkRingOpts* opts, IntPtr* @out);
        [LibraryImport(Lib)] public static partial void urk_ring_destroy(IntPtr ring);
        [LibraryImport(Lib)] public static partial int urk_ring_enable(IntPtr ring);
        [LibraryImport(Lib)] public static partial int urk_ring_fd(IntPtr ring);
        [LibraryImport(Lib)] public static partial int urk_ring_info(IntPtr ring, UrkRingInfo* @out);
        [LibraryImport(Lib)] public static partial int urk_ring_stats(IntPtr ring, UrkRingStats* @out);
        [LibraryImport(Lib)] public static partial int urk_ring_register_eventfd(IntPtr ring, int efd);
        [LibraryImport(Lib)] public static partial int urk_ring_unregister_eventfd(IntPtr ring);

        // ---- provided-buffer ring ----
        [LibraryImport(Lib)] public static partial int urk_bufring_opts_init(UrkBufRingOpts* opts);
        [LibraryImport(Lib)] public static partial int urk_bufring_create(IntPtr ring, UrkBufRingOpts* opts, IntPtr* @out);
        [LibraryImport(Lib)] public static partial void urk_bufring_destroy(IntPtr br);
        [LibraryImport(Lib)] public static partial int urk_bufring_buf(IntPtr br, uint bid, IntPtr* ptr);
        [LibraryImport(Lib)] public static partial int urk_bufring_recycle(IntPtr br, ushort* bids, uint n);
        [LibraryImport(Lib)] public static partial int urk_bufring_available(IntPtr br);
        [LibraryImport(Lib)] public static partial int urk_bufring_group(IntPtr br);

        // ---- operations ----
        [LibraryImport(Lib)] public static partial int urk_prep_accept_multishot(IntPtr ring, int listen_fd, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_recv_multishot(IntPtr ring, int fd, ushort group_id, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_recv(IntPtr ring, int fd, void* buf, uint len, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_send(IntPtr ring, int fd, void* buf, uint len, uint msg_flags, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_sendv(IntPtr ring, int fd, UrkIovec* iov, uint iovcnt, uint msg_flags, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_connect(IntPtr ring, int fd, UrkAddr* addr, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_close(IntPtr ring, int fd, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_shutdown(IntPtr ring, int fd, int how, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_cancel(IntPtr ring, ulong target_user_data, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_cancel_fd(IntPtr ring, int fd, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_timeout(IntPtr ring, ulong timeout_ns, uint count, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_msg_ring(IntPtr ring, int target_ring_fd, int res, ulong target_user_data, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_prep_nop(IntPtr ring, ulong user_data, uint flags);
        [LibraryImport(Lib)] public static partial int urk_ring_submit(IntPtr ring);
        [LibraryImport(Lib)] public static partial int urk_ring_complete(IntPtr ring, UrkCqe* @out, uint max, uint min_complete, long timeout_ns);

        // ---- engine ----
        [LibraryImport(Lib)] public static partial int urk_engine_opts_init(UrkEngineOpts* opts);
        [LibraryImport(Lib)] public static partial int urk_callbacks_init(UrkCallbacks* cbs);
        [LibraryImport(Lib)] public static partial int urk_engine_create(UrkEngineOpts* opts, IntPtr* @out);
        [LibraryImport(Lib)] public static partial int urk_engine_start(IntPtr e, UrkCallbacks* cbs);
        [LibraryImport(Lib)] public static partial int urk_engine_stop(IntPtr e, uint drain_ms);
        [LibraryImport(Lib)] public static partial void urk_engine_destroy(IntPtr e);
        [LibraryImport(Lib)] public static partial int urk_engine_port(IntPtr e);
        [LibraryImport(Lib)] public static partial int urk_engine_reactor_count(IntPtr e);
        [LibraryImport(Lib)] public static partial int urk_engine_reactor(IntPtr e, uint index, IntPtr* @out);
        [LibraryImport(Lib)] public static partial int urk_engine_stats(IntPtr e, UrkEngineStats* @out);

        // ---- reactors (pull mode) ----
        [LibraryImport(Lib)] public static partial int urk_reactor_poll(IntPtr r, UrkEvent* events, uint max, int timeout_ms);
        [LibraryImport(Lib)] public static partial int urk_reactor_fd(IntPtr r);
        [LibraryImport(Lib)] public static partial int urk_reactor_flush(IntPtr r);
        [LibraryImport(Lib)] public static partial int urk_reactor_wake(IntPtr r);
        /// <summary>fn: a urk_post_fn, void (*)(urk_reactor_t *, void *), e.g. an
        /// [UnmanagedCallersOnly] method's address.</summary>
        [LibraryImport(Lib)] public static partial int urk_reactor_post(IntPtr r, IntPtr fn, void* arg);
        [LibraryImport(Lib)] public static partial int urk_reactor_release(IntPtr r, uint* bufs, uint n);
        [LibraryImport(Lib)] public static partial int urk_send(IntPtr r, ulong conn, void* data, uint len, uint flags, ulong tag);
        [LibraryImport(Lib)] public static partial int urk_send_batch(IntPtr r, UrkSendReq* reqs, uint n);
        [LibraryImport(Lib)] public static partial int urk_close(IntPtr r, ulong conn, uint abort);
        [LibraryImport(Lib)] public static partial int urk_conn_pause_recv(IntPtr r, ulong conn, uint pause);
        [LibraryImport(Lib)] public static partial int urk_shutdown_write(IntPtr r, ulong conn);
        [LibraryImport(Lib)] public static partial int urk_reactor_connect(IntPtr r, UrkAddr* addr, ulong tag, ulong* @out);
        [LibraryImport(Lib)] public static partial int urk_conn_peer(IntPtr r, ulong conn, UrkAddr* @out);
        [LibraryImport(Lib)] public static partial int urk_conn_set_user(IntPtr r, ulong conn, ulong user);
        [LibraryImport(Lib)] public static partial int urk_conn_user(IntPtr r, ulong conn, ulong* user);
        [LibraryImport(Lib)] public static partial int urk_reactor_stats(IntPtr r, UrkReactorStats* @out);
        [LibraryImport(Lib)] public static partial int urk_reactor_index(IntPtr r);

        // ---- load generator ----
        [LibraryImport(Lib)] public static partial int urk_loadgen_opts_init(UrkLoadGenOpts* opts);
        [LibraryImport(Lib)] public static partial int urk_loadgen_create(UrkLoadGenOpts* opts, IntPtr* @out);
        [LibraryImport(Lib)] public static partial int urk_loadgen_run(IntPtr lg);
        [LibraryImport(Lib)] public static partial int urk_loadgen_stop(IntPtr lg);
        [LibraryImport(Lib)] public static partial int urk_loadgen_result(IntPtr lg, UrkLoadGenResult* @out);
        [LibraryImport(Lib)] public static partial int urk_loadgen_percentile(IntPtr lg, uint q_ppm, ulong* ns);
        [LibraryImport(Lib)] public static partial int urk_loadgen_timeline(IntPtr lg, UrkLoadGenSecond* @out, uint max);
        [LibraryImport(Lib)] public static partial void urk_loadgen_destroy(IntPtr lg);
        [LibraryImport(Lib)] public static partial int urk_loadgen_result_ex(IntPtr lg, UrkLoadGenResult* @out, uint size);
        [LibraryImport(Lib)] public static partial int urk_loadgen_status(IntPtr lg, uint* codes, ulong* counts, uint max);
        [LibraryImport(Lib)] public static partial int urk_loadgen_histogram(IntPtr lg, ulong* counts, uint max);
        [LibraryImport(Lib)] public static partial int urk_loadgen_request_result(IntPtr lg, uint index, UrkLoadGenResult* @out, uint size);
        [LibraryImport(Lib)] public static partial int urk_loadgen_request_status(IntPtr lg, uint index, uint* codes, ulong* counts, uint max);
        [LibraryImport(Lib)] public static partial int urk_loadgen_request_histogram(IntPtr lg, uint index, ulong* counts, uint max);
    }
}

using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>urk_event_t.type</summary>
    public enum EventType : uint
    {
        Open = UrkConst.URK_EV_OPEN,
        Data = UrkConst.URK_EV_DATA,
        Writable = UrkConst.URK_EV_WRITABLE,
        Closed = UrkConst.URK_EV_CLOSED,
        SendDone = UrkConst.URK_EV_SEND_DONE,
        ConnectFailed = UrkConst.URK_EV_CONNECT_FAILED,
        Eof = UrkConst.URK_EV_EOF,
        Post = UrkConst.URK_EV_POST,
    }

    /// <summary>Options of an engine (urk_engine_opts_t). Zero keeps the
    /// library default. The .NET-typed properties (EndPoint, IdleTimeout) set
    /// the same fields as the raw ones (Host/Port, IdleTimeoutMs).</summary>
    public sealed class EngineOptions
    {
        /// <summary>UrkConst.URK_ENGINE_* bits.</summary>
        public uint Flags { get; set; }
        /// <summary>Numeric IPv4/IPv6 literal to listen on; null: 127.0.0.1.</summary>
        public string Host { get; set; }
        /// <summary>0: a free port (see Engine.Port).</summary>
        public ushort Port { get; set; }
        public int Backlog { get; set; }
        /// <summary>1..64; 0: one.</summary>
        public uint Reactors { get; set; }
        public uint SqEntries { get; set; }
        public uint CqEntries { get; set; }
        /// <summary>Receive buffers per reactor (a power of two).</summary>
        public uint BufCount { get; set; }
        public uint BufSize { get; set; }
        public uint BufLowWater { get; set; }
        public uint MaxConns { get; set; }
        public uint IdleTimeoutMs { get; set; }
        /// <summary>Bytes queued per connection before writes wait (backpressure); 0: 4 MiB.</summary>
        public uint SendLimit { get; set; }
        public uint SqpollIdleMs { get; set; }
        public int AcceptorCpu { get; set; } = -1;
        /// <summary>null or one entry per reactor (-1: not pinned).</summary>
        public int[] ReactorCpus { get; set; }

        /// <summary>Host and Port as an IPEndPoint.</summary>
        public System.Net.IPEndPoint EndPoint
        {
            get { return new System.Net.IPEndPoint(System.Net.IPAddress.Parse(Host ?? "127.0.0.1"), Port); }
            set
            {
                if (value == null)
                    throw new ArgumentNullException(nameof(value));
                Host = value.Address.ToString();
                Port = (ushort)value.Port;
            }
        }

        /// <summary>IdleTimeoutMs as a TimeSpan (whole milliseconds; Zero: none).</summary>
        public TimeSpan IdleTimeout
        {
            get { return TimeSpan.FromMilliseconds(IdleTimeoutMs); }
            set
            {
                if (value < TimeSpan.Zero || value.TotalMilliseconds > uint.MaxValue)
                    throw new ArgumentOutOfRangeException(nameof(value));
                IdleTimeoutMs = (uint)value.TotalMilliseconds;
            }
        }
    }

    /// <summary>An engine: one acceptor and N reactors (urk_engine_t).</summary>
    public sealed unsafe class Engine : UrkHandle
    {
        Reactor[] reactors;
        NativeHandler native; // keeps the callback delegates alive while the engine lives

        public Engine() { }

        /// <summary>The native-mode handler given to Start, if any.</summary>
        public NativeHandler Handler { get { return native; } }

        public static Engine Create(EngineOptions options = null) { return Create(options, 0); }

        internal static Engine Create(EngineOptions options, uint extraFlags)
        {
            Library.Initialize();
            options = options ?? new EngineOptions();
            UrkEngineOpts o;
            UrkException.Check(Native.urk_engine_opts_init(&o), "urk_engine_opts_init");
            o.flags = options.Flags | extraFlags;
            o.port = options.Port;
            if (options.Backlog != 0) o.backlog = options.Backlog;
            if (options.Reactors != 0) o.reactors = options.Reactors;
            if (options.SqEntries != 0) o.sq_entries = options.SqEntries;
            if (options.CqEntries != 0) o.cq_entries = options.CqEntries;
            if (options.BufCount != 0) o.buf_count = options.BufCount;
            if (options.BufSize != 0) o.buf_size = options.BufSize;
            if (options.BufLowWater != 0) o.buf_low_water = options.BufLowWater;
            if (options.MaxConns != 0) o.max_conns = options.MaxConns;
            if (options.IdleTimeoutMs != 0) o.idle_timeout_ms = options.IdleTimeoutMs;
            if (options.SendLimit != 0) o.send_limit = options.SendLimit;
            if (options.SqpollIdleMs != 0) o.sqpoll_idle_ms = options.SqpollIdleMs;
            o.acceptor_cpu = options.AcceptorCpu;
            byte[] host = options.Host == null ? null : Address.CString(options.Host);
            int[] cpus = options.ReactorCpus;
            var engine = new Engine();
            IntPtr raw;
            // host and reactor_cpus are read only during urk_engine_create.
            fixed (byte* h = host)
            fixed (int* c = cpus)
            {
                o.host = (IntPtr)h;
                o.reactor_cpus = (IntPtr)c;
                UrkException.Check(Native.urk_engine_create(&o, &raw), "urk_engine_create");
            }
            engine.Adopt(raw);
            int n = engine.ReactorCount;
            engine.reactors = new Reactor[n];
            for (uint i = 0; i < n; i++)
            {
                IntPtr r;
                bool a = false;
                try { UrkException.Check(Native.urk_engine_reactor(engine.Enter(ref a), i, &r), "urk_engine_reactor"); }
                finally { engine.Exit(a); }
                engine.reactors[i] = new Reactor(engine, r, (int)i);
            }
            return engine;
        }

        protected override bool ReleaseHandle()
        {
            Native.urk_engine_destroy(handle); // joins native threads first
            native?.Unbind();                  // only now may the handler go
            native = null;
            return true;
        }

        /// <summary>Starts the acceptor in pull mode: the caller drives each reactor
        /// with Reactor.Poll (see UrkServer for a ready-made driver).</summary>
        public void Start()
        {
            bool a = false;
            try { UrkException.Check(Native.urk_engine_start(Enter(ref a), null), "urk_engine_start"); }
            finally { Exit(a); }
        }

        /// <summary>Native mode: one C thread per reactor calling handler.</summary>
        public void Start(NativeHandler handler)
        {
            if (handler == null) throw new ArgumentNullException("handler");
            UrkCallbacks cbs;
            UrkException.Check(Native.urk_callbacks_init(&cbs), "urk_callbacks_init");
            handler.Bind(this, ref cbs);
            native = handler;
            bool a = false;
            try { UrkException.Check(Native.urk_engine_start(Enter(ref a), &cbs), "urk_engine_start"); }
            catch
            {
                native = null;
                handler.Unbind(); // not started: C holds no pointer to it
                throw;
            }
            finally { Exit(a); }
        }

        /// <summary>Stops accepting, drains queued sends up to drainMs, closes
        /// everything, joins the engine's threads. Idempotent.</summary>
        public void Stop(uint drainMs = 0)
        {
            bool a = false;
            try { UrkException.Check(Native.urk_engine_stop(Enter(ref a), drainMs), "urk_engine_stop"); }
            finally { Exit(a); }
        }

        public int Port
        { get { bool a = false; try { return UrkException.Check(Native.urk_engine_port(Enter(ref a)), "urk_engine_port"); } finally { Exit(a); } } }

        public int ReactorCount
        { get { bool a = false; try { return UrkException.Check(Native.urk_engine_reactor_count(Enter(ref a)), "urk_engine_reactor_count"); } finally { Exit(a); } } }

        /// <summary>Reactor i; owned by the engine (no handle of its own).</summary>
        public Reactor Reactor(int index)
        {
            if (index < 0 || index >= reactors.Length)
                throw new ArgumentOutOfRangeException("index");
            return reactors[index];
        }

        internal Reactor FindReactor(IntPtr raw)
        {
            foreach (var r in reactors)
                if (r.Raw == raw)
                    return r;
            return null;
        }

        public UrkEngineStats Stats
        {
            get
            {
                bool a = false;
                try { UrkEngineStats s; UrkException.Check(Native.urk_engine_stats(Enter(ref a), &s), "urk_engine_stats"); return s; }
                finally { Exit(a); }
            }
        }
    }

    /// <summary>
    /// A reactor of an engine (urk_reactor_t). The first thread to poll it owns
    /// it: every call but Wake, Fd and Stats must come from that thread
    /// (WrongThreadException otherwise). Each call holds a reference on the
    /// engine, so disposing the engine cannot free a reactor under a call.
    /// </summary>
    public sealed unsafe class Reactor
    {
        readonly Engine engine;
        readonly IntPtr raw;

        internal Reactor(Engine engine, IntPtr raw, int index)
        {
            this.engine = engine;
            this.raw = raw;
            Index = index;
        }

        public Engine Engine { get { return engine; } }
        public int Index { get; private set; }
        public IntPtr Raw { get { return raw; } }

        IntPtr Enter(ref bool a) { engine.Enter(ref a); return raw; }
        void Exit(bool a) { engine.Exit(a); }

        /// <summary>Fills up to max events (waiting up to timeoutMs for the first,
        /// -1: no limit). The data of DATA events stays valid until released.</summary>
        public int Poll(UrkEvent* events, uint max, int timeoutMs)
        {
            bool a = false;
            try { return UrkException.Check(Native.urk_reactor_poll(Enter(ref a), events, max, timeoutMs), "urk_reactor_poll"); }
            finally { Exit(a); }
        }

        public int Poll(UrkEvent[] events, int timeoutMs)
        {
            if (events == null || events.Length == 0)
                throw new ArgumentException("events must have room for one event", "events");
            fixed (UrkEvent* p = events)
                return Poll(p, (uint)events.Length, timeoutMs);
        }

        public int Fd
        { get { bool a = false; try { return UrkException.Check(Native.urk_reactor_fd(Enter(ref a)), "urk_reactor_fd"); } finally { Exit(a); } } }

        public int Flush()
        { bool a = false; try { return UrkException.Check(Native.urk_reactor_flush(Enter(ref a)), "urk_reactor_flush"); } finally { Exit(a); } }

        /// <summary>Makes a blocked or the next Poll return. Any thread.</summary>
        public void Wake()
        { bool a = false; try { UrkException.Check(Native.urk_reactor_wake(Enter(ref a)), "urk_reactor_wake"); } finally { Exit(a); } }

        public int Release(uint buf)
        {
            bool a = false;
            try { return UrkException.Check(Native.urk_reactor_release(Enter(ref a), &buf, 1), "urk_reactor_release"); }
            finally { Exit(a); }
        }

        public int Release(uint[] bufs, int count)
        {
            if (bufs == null || count < 0 || count > bufs.Length)
                throw new ArgumentException("bad buffer list");
            bool a = false;
            try
            {
                fixed (uint* p = bufs)
                    return UrkException.Check(Native.urk_reactor_release(Enter(ref a), p, (uint)count), "urk_reactor_release");
            }
            finally { Exit(a); }
        }

        /// <summary>urk_send: returns 0 or the negative code (no exception), so
        /// -EAGAIN (over the send limit) can be handled without throwing.</summary>
        public int TrySend(ulong conn, IntPtr data, uint len, uint flags = 0, ulong tag = 0)
        {
            bool a = false;
            try { return Native.urk_send(Enter(ref a), conn, (void*)data, len, flags, tag); }
            finally { Exit(a); }
        }

        /// <summary>Queues a copy of data[offset..offset+count) for conn.</summary>
        public void Send(ulong conn, byte[] data, int offset, int count, uint flags = 0, ulong tag = 0)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset + count > data.Length)
                throw new ArgumentOutOfRangeException("count");
            if ((flags & UrkConst.URK_SEND_NOCOPY) != 0)
                throw new ArgumentException("URK_SEND_NOCOPY needs memory that stays put: use TrySend with pinned memory");
            fixed (byte* p = data)
                UrkException.Check(TrySend(conn, (IntPtr)(p + offset), (uint)count, flags, tag), "urk_send");
        }

        public void Send(ulong conn, byte[] data) { Send(conn, data, 0, data == null ? 0 : data.Length); }

        /// <summary>urk_send_batch: results in reqs[i].result; returns how many succeeded.</summary>
        public int SendBatch(UrkSendReq[] reqs, int count)
        {
            if (reqs == null || count < 0 || count > reqs.Length)
                throw new ArgumentException("bad request list");
            bool a = false;
            try
            {
                fixed (UrkSendReq* p = reqs)
                    return UrkException.Check(Native.urk_send_batch(Enter(ref a), p, (uint)count), "urk_send_batch");
            }
            finally { Exit(a); }
        }

        public void Close(ulong conn, bool abort = false)
        { bool a = false; try { UrkException.Check(Native.urk_close(Enter(ref a), conn, abort ? 1u : 0u), "urk_close"); } finally { Exit(a); } }

        public void PauseRecv(ulong conn, bool pause)
        { bool a = false; try { UrkException.Check(Native.urk_conn_pause_recv(Enter(ref a), conn, pause ? 1u : 0u), "urk_conn_pause_recv"); } finally { Exit(a); } }

        public void ShutdownWrite(ulong conn)
        { bool a = false; try { UrkException.Check(Native.urk_shutdown_write(Enter(ref a), conn), "urk_shutdown_write"); } finally { Exit(a); } }

        /// <summary>Opens an outgoing connection; OPEN (with tag) or CONNECT_FAILED follows.</summary>
        public ulong Connect(UrkAddr addr, ulong tag)
        {
            bool a = false;
            try { ulong id; UrkException.Check(Native.urk_reactor_connect(Enter(ref a), &addr, tag, &id), "urk_reactor_connect"); return id; }
            finally { Exit(a); }
        }

        public UrkAddr Peer(ulong conn)
        {
            bool a = false;
            try { UrkAddr p; UrkException.Check(Native.urk_conn_peer(Enter(ref a), conn, &p), "urk_conn_peer"); return p; }
            finally { Exit(a); }
        }

        public void SetUser(ulong conn, ulong user)
        { bool a = false; try { UrkException.Check(Native.urk_conn_set_user(Enter(ref a), conn, user), "urk_conn_set_user"); } finally { Exit(a); } }

        public ulong User(ulong conn)
        {
            bool a = false;
            try { ulong u; UrkException.Check(Native.urk_conn_user(Enter(ref a), conn, &u), "urk_conn_user"); return u; }
            finally { Exit(a); }
        }

        public UrkReactorStats Stats
        {
            get
            {
                bool a = false;
                try { UrkReactorStats s; UrkException.Check(Native.urk_reactor_stats(Enter(ref a), &s), "urk_reactor_stats"); return s; }
                finally { Exit(a); }
            }
        }

        /// <summary>urk_reactor_index, as the library reports it.</summary>
        public int NativeIndex
        { get { bool a = false; try { return UrkException.Check(Native.urk_reactor_index(Enter(ref a)), "urk_reactor_index"); } finally { Exit(a); } } }
    }

    /// <summary>
    /// Native mode: override what you need. Each method runs on its reactor's
    /// C thread. Exceptions are caught (they must not cross into C): the
    /// connection is aborted and the exception goes to OnError.
    /// </summary>
    public abstract unsafe class NativeHandler
    {
        Engine engine;
        GCHandle self; // cbs.user: how the static callbacks find this handler

        public virtual void OnOpen(Reactor r, ulong conn, UrkAddr peer, ulong tag) { }
        /// <summary>Return true to keep buf (release it later with Reactor.Release).</summary>
        public virtual bool OnData(Reactor r, ulong conn, IntPtr data, uint len, uint buf) { return false; }
        public virtual void OnWritable(Reactor r, ulong conn) { }
        public virtual void OnClose(Reactor r, ulong conn, int reason) { }
        public virtual void OnSendDone(Reactor r, ulong conn, int res, ulong tag) { }
        public virtual void OnConnectFailed(Reactor r, ulong conn, int res, ulong tag) { }
        /// <summary>URK_ENGINE_HALF_CLOSE: the peer sent FIN; sending goes on
        /// until Close. Default: a graceful close (what the engine does
        /// without an on_eof callback).</summary>
        public virtual void OnEof(Reactor r, ulong conn) { r.Close(conn, false); }
        /// <summary>An exception a callback threw (the connection was aborted).
        /// Called on the reactor thread; it must not throw.</summary>
        public virtual void OnError(Exception e) { }

        internal unsafe void Bind(Engine e, ref UrkCallbacks cbs)
        {
            if (self.IsAllocated)
                throw new InvalidOperationException("this NativeHandler already serves an engine");
            engine = e;
            self = GCHandle.Alloc(this);
            cbs.user = GCHandle.ToIntPtr(self);
            cbs.on_open = (IntPtr)(delegate* unmanaged<IntPtr, ulong, UrkAddr*, ulong, void*, void>)&NativeCallbacks.OnOpen;
            cbs.on_data = (IntPtr)(delegate* unmanaged<IntPtr, ulong, byte*, uint, uint, void*, int>)&NativeCallbacks.OnData;
            cbs.on_writable = (IntPtr)(delegate* unmanaged<IntPtr, ulong, void*, void>)&NativeCallbacks.OnWritable;
            cbs.on_close = (IntPtr)(delegate* unmanaged<IntPtr, ulong, int, void*, void>)&NativeCallbacks.OnClose;
            cbs.on_send_done = (IntPtr)(delegate* unmanaged<IntPtr, ulong, int, ulong, void*, void>)&NativeCallbacks.OnSendDone;
            cbs.on_connect_failed = (IntPtr)(delegate* unmanaged<IntPtr, ulong, int, ulong, void*, void>)&NativeCallbacks.OnConnectFailed;
            cbs.on_eof = (IntPtr)(delegate* unmanaged<IntPtr, ulong, void*, void>)&NativeCallbacks.OnEof;
        }

        /// <summary>After urk_engine_destroy joined the reactor threads: no callback can run any more.</summary>
        internal void Unbind()
        {
            if (self.IsAllocated)
                self.Free();
        }

        internal static NativeHandler From(void* user) { return (NativeHandler)GCHandle.FromIntPtr((IntPtr)user).Target; }
        internal Reactor ReactorOf(IntPtr r) { return engine.FindReactor(r); }

        internal void Fail(IntPtr r, ulong conn, Exception ex)
        {
            if (conn != 0)
                Native.urk_close(r, conn, 1);
            try { OnError(ex); } catch { }
        }
    }
}

namespace Urocket.Interop
{
    /// <summary>
    /// The native-mode callbacks of urk_callbacks_t: static
    /// [UnmanagedCallersOnly] functions whose addresses go to C (no delegate,
    /// no marshalling stub: native AOT safe). cbs.user is a GCHandle of the
    /// <see cref="NativeHandler"/>. Exceptions never cross into C: they abort
    /// the connection and go to NativeHandler.OnError.
    /// </summary>
    public static unsafe class NativeCallbacks
    {
        [UnmanagedCallersOnly]
        public static void OnOpen(IntPtr r, ulong conn, UrkAddr* peer, ulong tag, void* user)
        {
            var h = NativeHandler.From(user);
            try { h.OnOpen(h.ReactorOf(r), conn, *peer, tag); }
            catch (Exception ex) { h.Fail(r, conn, ex); }
        }

        [UnmanagedCallersOnly]
        public static int OnData(IntPtr r, ulong conn, byte* data, uint len, uint buf, void* user)
        {
            var h = NativeHandler.From(user);
            try { return h.OnData(h.ReactorOf(r), conn, (IntPtr)data, len, buf) ? 1 : 0; }
            catch (Exception ex) { h.Fail(r, conn, ex); return 0; }
        }

        [UnmanagedCallersOnly]
        public static void OnWritable(IntPtr r, ulong conn, void* user)
        {
            var h = NativeHandler.From(user);
            try { h.OnWritable(h.ReactorOf(r), conn); }
            catch (Exception ex) { h.Fail(r, conn, ex); }
        }

        [UnmanagedCallersOnly]
        public static void OnClose(IntPtr r, ulong conn, int reason, void* user)
        {
            var h = NativeHandler.From(user);
            try { h.OnClose(h.ReactorOf(r), conn, reason); }
            catch (Exception ex) { h.Fail(r, 0, ex); }
        }

        [UnmanagedCallersOnly]
        public static void OnSendDone(IntPtr r, ulong conn, int res, ulong tag, void* user)
        {
            var h = NativeHandler.From(user);
            try { h.OnSendDone(h.ReactorOf(r), conn, res, tag); }
            catch (Exception ex) { h.Fail(r, conn, ex); }
        }

        [UnmanagedCallersOnly]
        public static void OnEof(IntPtr r, ulong conn, void* user)
        {
            var h = NativeHandler.From(user);
            try { h.OnEof(h.ReactorOf(r), conn); }
            catch (Exception ex) { h.Fail(r, conn, ex); }
        }

        [UnmanagedCallersOnly]
        public static void OnConnectFailed(IntPtr r, ulong conn, int res, ulong tag, void* user)
        {
            var h = NativeHandler.From(user);
            try { h.OnConnectFailed(h.ReactorOf(r), conn, res, tag); }
            catch (Exception ex) { h.Fail(r, 0, ex); }
        }
    }
}

// Canned-response HTTP/1.1 server on UrkServer, the benchmark's protocol:
// every request (anything up to an empty line) gets the same response,
// byte-identical to bench/servers/response.h; the requests that arrive in one
// read (pipelining) are answered with one write.
//   http_server [--host H] [--port P] [--reactors N] [--sqpoll] [--pipelines] [--no-context] [--alloc-report]
// --sqpoll: a kernel SQPOLL thread per reactor submits its requests
// (URK_ENGINE_SQPOLL; costs a core while busy), as in the C example.
// --pipelines: serve through conn.Transport (PipeReader over the engine's
// buffers, PipeWriter blocks sent without a copy) instead of ReadAsync/WriteAsync.
// --no-context: handlers and continuations on the thread pool
// (ServerOptions.UseReactorContext = false) instead of the reactor thread.
// Prints "listening on HOST:PORT"; SIGINT/SIGTERM stop it gracefully (exit 0).
// --alloc-report: at exit, per reactor thread, the bytes the handlers
// allocated (GC.GetAllocatedBytesForCurrentThread) per request after warm-up.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Urocket;

static class HttpServer
{
    static readonly byte[] Response = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!");
    const int MaxBatch = 64;
    // MaxBatch responses back to back: k pipelined requests are answered with
    // one write of the first k (no per-request copy, no allocation).
    static readonly byte[] Responses = Repeat(Response, MaxBatch);

    // --alloc-report: one slot per reactor, written only by that reactor's thread.
    const long WarmupRequests = 1000;
    static bool allocReport;
    static ReactorAlloc[] alloc;

    sealed class ReactorAlloc
    {
        public long Requests;
        public long BaseRequests = -1;
        public long BaseBytes;
        public long LastBytes;
    }

    static byte[] Repeat(byte[] one, int times)
    {
        var all = new byte[one.Length * times];
        for (int i = 0; i < times; i++)
            Buffer.BlockCopy(one, 0, all, i * one.Length, one.Length);
        return all;
    }

    /// <summary>Counts complete requests ("\r\n\r\n" terminators) in data;
    /// state carries how much of a terminator ended the previous read.</summary>
    static int CountRequests(ReadOnlySpan<byte> data, ref int state)
    {
        int answers = 0;
        foreach (byte b in data)
        {
            state = b == '\r' ? (state == 2 ? 3 : 1)
                  : b == '\n' && (state == 1 || state == 3) ? state + 1
                  : 0;
            if (state == 4)
            {
                answers++;
                state = 0;
            }
        }
        return answers;
    }

    static async Task ServePipe(Connection conn)
    {
        var input = conn.Transport.Input;
        var output = conn.Transport.Output;
        int state = 0;
        while (true)
        {
            var r = await input.ReadAsync();
            int answers = 0;
            foreach (var seg in r.Buffer)
                answers += CountRequests(seg.Span, ref state);
            input.AdvanceTo(r.Buffer.End); // the buffers go back to the kernel
            if (allocReport)
                Count(conn.ReactorIndex, answers);
            if (answers > 0)
            {
                while (answers > 0)
                {
                    int k = Math.Min(answers, MaxBatch);
                    int len = k * Response.Length;
                    Responses.AsSpan(0, len).CopyTo(output.GetSpan(len));
                    output.Advance(len);
                    answers -= k;
                }
                var f = await output.FlushAsync();
                if (f.IsCompleted)
                    break;
            }
            if (r.IsCompleted)
                break;
        }
        input.Complete();
        output.Complete();
    }

    static async Task Serve(Connection conn)
    {
        var buffer = new byte[8192];
        int state = 0; // how much of "\r\n\r\n" the bytes so far end with
        while (true)
        {
            int n = await conn.ReadAsync(buffer);
            if (n == 0)
                return;
            int answers = CountRequests(buffer.AsSpan(0, n), ref state);
            if (allocReport)
                Count(conn.ReactorIndex, answers);
            while (answers > 0)
            {
                int k = Math.Min(answers, MaxBatch);
                await conn.WriteAsync(new ReadOnlyMemory<byte>(Responses, 0, k * Response.Length));
                answers -= k;
            }
        }
    }

    // --no-context: handlers run on pool threads, so the report is
    // process-wide (GC.GetTotalAllocatedBytes) instead of per reactor thread.
    static bool poolMode;
    static long poolRequests, poolBaseRequests = -1, poolBaseBytes;

    static void Count(int reactor, int answers)
    {
        if (poolMode)
        {
            long r = Interlocked.Add(ref poolRequests, answers);
            if (Volatile.Read(ref poolBaseRequests) < 0 && r >= WarmupRequests &&
                Interlocked.CompareExchange(ref poolBaseRequests, r, -1) == -1)
                Volatile.Write(ref poolBaseBytes, GC.GetTotalAllocatedBytes(true));
            return;
        }
        var a = alloc[reactor];
        a.Requests += answers;
        long now = GC.GetAllocatedBytesForCurrentThread();
        if (a.BaseRequests < 0 && a.Requests >= WarmupRequests)
        {
            a.BaseRequests = a.Requests;
            a.BaseBytes = now;
        }
        a.LastBytes = now;
    }

    static async Task<int> Main(string[] args)
    {
        string host = "127.0.0.1";
        int port = 8080, reactors = 1;
        bool pipelines = false, noContext = false, sqpoll = false;
        const string usage = "usage: http_server [--host H] [--port P (0-65535)] [--reactors N (1-64)] [--sqpoll] [--pipelines] [--no-context] [--alloc-report]";
        for (int i = 0; i < args.Length; i++)
        {
            string v = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--host" when v != null: host = v; i++; break;
                case "--port" when v != null && int.TryParse(v, out port) && port >= 0 && port <= 65535: i++; break;
                case "--reactors" when v != null && int.TryParse(v, out reactors) && reactors >= 1 && reactors <= 64: i++; break;
                case "--alloc-report": allocReport = true; break;
                case "--pipelines": pipelines = true; break;
                case "--no-context": noContext = true; break;
                case "--sqpoll": sqpoll = true; break;
                case "--help" or "-h":
                    Console.WriteLine(usage);
                    return 0;
                default:
                    Console.Error.WriteLine("http_server: bad argument '{0}'", args[i]);
                    Console.Error.WriteLine(usage);
                    return 2;
            }
        }
        poolMode = noContext;
        alloc = new ReactorAlloc[reactors];
        for (int i = 0; i < reactors; i++)
            alloc[i] = new ReactorAlloc();
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        UrkServer started;
        try
        {
            started = UrkServer.Start(
                new EngineOptions
                {
                    Host = host, Port = (ushort)port, Reactors = (uint)reactors,
                    Flags = sqpoll ? Urocket.Interop.UrkConst.URK_ENGINE_SQPOLL : 0,
                },
                pipelines ? ServePipe : Serve, new ServerOptions { UseReactorContext = !noContext });
        }
        catch (UrkException e)
        {
            // A bad address, a port in use, or SQPOLL refused by the kernel.
            Console.Error.WriteLine("http_server: cannot serve on {0}:{1}{2}: {3}", host, port, sqpoll ? " with --sqpoll" : "", e.Message);
            return 1;
        }
        await using (var server = started)
        {
            Console.WriteLine("listening on {0}:{1}", host.Contains(':') ? "[" + host + "]" : host, server.Port);
            await stop.Task;
            await server.StopAsync(TimeSpan.FromSeconds(1));
        }
        if (allocReport && poolMode)
        {
            long req = poolBaseRequests < 0 ? 0 : Volatile.Read(ref poolRequests) - poolBaseRequests;
            long bytes = poolBaseRequests < 0 ? 0 : GC.GetTotalAllocatedBytes(true) - poolBaseBytes;
            Console.WriteLine("alloc-report: process (all threads, includes shutdown): {0} requests after {1} warm-up, {2} bytes allocated, {3:F3} bytes/request, gc={4}, mode={5},no-context",
                              req, WarmupRequests, bytes, req > 0 ? (double)bytes / req : 0.0,
                              System.Runtime.GCSettings.IsServerGC ? "server" : "workstation", pipelines ? "pipelines" : "stream");
        }
        else if (allocReport)
            for (int i = 0; i < reactors; i++)
            {
                var a = alloc[i];
                long req = a.BaseRequests < 0 ? 0 : Volatile.Read(ref a.Requests) - a.BaseRequests;
                long bytes = a.BaseRequests < 0 ? 0 : Volatile.Read(ref a.LastBytes) - a.BaseBytes;
                Console.WriteLine("alloc-report: reactor {0}: {1} requests after {2} warm-up, {3} bytes allocated, {4:F3} bytes/request, gc={5}, mode={6}{7}",
                                  i, req, WarmupRequests, bytes, req > 0 ? (double)bytes / req : 0.0,
                                  System.Runtime.GCSettings.IsServerGC ? "server" : "workstation",
                                  pipelines ? "pipelines" : "stream", noContext ? ",no-context" : "");
            }
        return 0;
    }
}

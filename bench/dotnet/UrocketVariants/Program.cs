// The benchmark's canned-response server on the C# binding's UrkServer, with
// the switches row (2) of the .NET benchmark compares:
//
//   urocket_variants [--host H] [--port P] [--reactors N] [--sqpoll]
//                    [--no-context] [--pipelines] [--alloc-report N]
//
// --sqpoll      the engine's SQPOLL mode (a kernel thread polls submissions)
// --no-context  handlers and continuations on the thread pool instead of the
//               reactor's SynchronizationContext (ServerOptions.UseReactorContext)
// --pipelines   read and write through conn.Transport (IDuplexPipe): the
//               PipeReader's zero-copy buffers, the PipeWriter and FlushAsync
// --alloc-report N  after a warm-up of N/5 requests, prints
//               "alloc-report: B bytes over R requests = X bytes/request" once
//               N more were answered (GC.GetTotalAllocatedBytes, all threads)
//
// Every "\r\n\r\n"-terminated request gets bench/servers/response.h's
// response; the requests of one read are answered with one write. Prints
// "listening on HOST:PORT ..."; exits 0 on SIGTERM/SIGINT after a graceful stop.
using System;
using System.Buffers;
using System.IO.Pipelines;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using Urocket;
using Urocket.Interop;

static class UrocketVariants
{
    static readonly byte[] Response =
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"u8.ToArray();
    const int MaxBatch = 64;
    static readonly byte[] Responses = Repeat(Response, MaxBatch);

    static long _requests, _allocWarmup, _allocWindow, _allocStart = -1, _allocStartAt;
    static int _allocDone;

    static byte[] Repeat(byte[] one, int times)
    {
        var all = new byte[one.Length * times];
        for (int i = 0; i < times; i++)
            one.CopyTo(all, i * one.Length);
        return all;
    }

    static async Task<int> Main(string[] args)
    {
        string host = "127.0.0.1";
        int port = 8080, reactors = 1;
        bool sqpoll = false, noContext = false, pipelines = false;
        long allocReport = 0;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i]
                : throw new ArgumentException($"{a} needs a value");
            try
            {
                switch (a)
                {
                    case "--host": host = Next(); break;
                    case "--port": port = int.Parse(Next()); break;
                    case "--reactors": reactors = int.Parse(Next()); break;
                    case "--sqpoll": sqpoll = true; break;
                    case "--no-context": noContext = true; break;
                    case "--pipelines": pipelines = true; break;
                    case "--alloc-report": allocReport = long.Parse(Next()); break;
                    case "-h":
                    case "--help":
                        Console.WriteLine("usage: urocket_variants [--host H] [--port P] [--reactors N] " +
                                          "[--sqpoll] [--no-context] [--pipelines] [--alloc-report N]");
                        return 0;
                    default: throw new ArgumentException($"unknown argument {a}");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine($"urocket_variants: {e.Message}");
                return 2;
            }
        }
        if (port < 0 || port > 65535 || reactors < 1 || reactors > 64 || allocReport < 0)
        {
            Console.Error.WriteLine("urocket_variants: --port 0..65535, --reactors 1..64, --alloc-report >= 0");
            return 2;
        }
        if (allocReport > 0)
        {
            _allocWindow = allocReport;
            _allocWarmup = Math.Max(1, allocReport / 5);
        }

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        var options = new EngineOptions
        {
            Host = host,
            Port = (ushort)port,
            Reactors = (uint)reactors,
            Flags = sqpoll ? UrkConst.URK_ENGINE_SQPOLL : 0,
        };
        var serverOptions = new ServerOptions { UseReactorContext = !noContext };
        UrkServer server;
        try
        {
            server = UrkServer.Start(options, pipelines ? ServePipe : Serve, serverOptions);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"urocket_variants: cannot start on {host}:{port}: {e.Message}");
            return 1;
        }
        await using (server)
        {
            Console.WriteLine($"listening on {host}:{server.Port} (uRocket C#, reactors={reactors}, " +
                              $"sqpoll={(sqpoll ? "on" : "off")}, context={(noContext ? "thread pool" : "reactor")}, " +
                              $"io={(pipelines ? "pipelines" : "read/write")}, " +
                              $"gc={(GCSettings.IsServerGC ? "server" : "workstation")})");
            Console.Out.Flush();
            await stop.Task;
            await server.StopAsync(TimeSpan.FromSeconds(1));
        }
        return 0;
    }

    static async Task Serve(Connection conn)
    {
        var buffer = new byte[8192];
        int state = 0;
        while (true)
        {
            int n = await conn.ReadAsync(buffer);
            if (n == 0)
                return;
            int answers = CountRequests(buffer.AsSpan(0, n), ref state);
            if (_allocWindow > 0 && answers > 0)
                CountForAllocReport(answers);
            while (answers > 0)
            {
                int k = Math.Min(answers, MaxBatch);
                await conn.WriteAsync(new ReadOnlyMemory<byte>(Responses, 0, k * Response.Length));
                answers -= k;
            }
        }
    }

    static async Task ServePipe(Connection conn)
    {
        PipeReader input = conn.Transport.Input;
        PipeWriter output = conn.Transport.Output;
        int state = 0;
        try
        {
            while (true)
            {
                ReadResult result = await input.ReadAsync();
                ReadOnlySequence<byte> buf = result.Buffer;
                int answers = 0;
                foreach (ReadOnlyMemory<byte> segment in buf)
                    answers += CountRequests(segment.Span, ref state);
                input.AdvanceTo(buf.End);
                if (answers > 0)
                {
                    if (_allocWindow > 0)
                        CountForAllocReport(answers);
                    while (answers > 0)
                    {
                        int k = Math.Min(answers, MaxBatch);
                        output.Write(new ReadOnlySpan<byte>(Responses, 0, k * Response.Length));
                        answers -= k;
                    }
                    FlushResult flushed = await output.FlushAsync();
                    if (flushed.IsCompleted)
                        break;
                }
                if (result.IsCompleted)
                    break;
            }
        }
        finally
        {
            await input.CompleteAsync();
            await output.CompleteAsync();
        }
    }

    // Same rule as bench_count_requests() in bench/servers/response.h.
    static int CountRequests(ReadOnlySpan<byte> p, ref int state)
    {
        ReadOnlySpan<byte> term = "\r\n\r\n"u8;
        int count = 0, s = state, i = 0;
        while (s != 0 && i < p.Length)
        {
            byte c = p[i++];
            if (c == term[s])
            {
                if (++s == 4)
                {
                    count++;
                    s = 0;
                }
            }
            else
            {
                s = c == '\r' ? 1 : 0;
            }
        }
        if (s != 0)
        {
            state = s;
            return count;
        }
        int start = i;
        while (true)
        {
            int hit = p.Slice(start).IndexOf(term);
            if (hit < 0)
                break;
            count++;
            start += hit + 4;
        }
        int from = p.Length - start > 3 ? p.Length - 3 : start;
        for (int k = from; k < p.Length; k++)
        {
            byte c = p[k];
            s = c == term[s] ? s + 1 : (c == '\r' ? 1 : 0);
        }
        state = s;
        return count;
    }

    static void CountForAllocReport(int count)
    {
        long total = Interlocked.Add(ref _requests, count);
        if (Volatile.Read(ref _allocDone) != 0)
            return;
        if (Interlocked.Read(ref _allocStart) < 0)
        {
            if (total >= _allocWarmup)
            {
                long bytes = GC.GetTotalAllocatedBytes(precise: true);
                if (Interlocked.CompareExchange(ref _allocStart, bytes, -1) == -1)
                    Interlocked.Exchange(ref _allocStartAt, total);
            }
            return;
        }
        long startAt = Interlocked.Read(ref _allocStartAt);
        if (startAt > 0 && total - startAt >= _allocWindow &&
            Interlocked.CompareExchange(ref _allocDone, 1, 0) == 0)
        {
            long bytes = GC.GetTotalAllocatedBytes(precise: true) - Interlocked.Read(ref _allocStart);
            long reqs = total - startAt;
            Console.WriteLine($"alloc-report: {bytes} bytes over {reqs} requests = " +
                              $"{(double)bytes / reqs:F3} bytes/request");
            Console.Out.Flush();
        }
    }
}

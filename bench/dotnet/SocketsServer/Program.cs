// The original uRocket benchmark's baseline, rebuilt: a System.Net.Sockets
// HTTP server with one task per connection, Socket.ReceiveAsync/SendAsync on
// Memory<byte>, answering every "\r\n\r\n"-terminated request with the canned
// response of bench/servers/response.h (pipelined requests answered together
// in one send). No HTTP parsing: the benchmark protocol is one response per
// request.
//
//   sockets_server [--host 127.0.0.1] [--port 8080] [--alloc-report N]
//
// Prints "listening on HOST:PORT ..." once bound; exits 0 on SIGTERM/SIGINT.
// --alloc-report N counts requests and, after a warm-up of N/5 requests,
// prints "alloc-report: B bytes over R requests = X bytes/request" once N
// more requests have been answered (allocated bytes of all threads).
using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

static class SocketsServer
{
    // Byte-identical to BENCH_RESPONSE in bench/servers/response.h; the
    // harness's health check compares the bytes.
    static readonly byte[] Response =
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"u8.ToArray();

    const int ReceiveBufferSize = 4096;

    static long _requests;          // counted only with --alloc-report
    static long _allocWarmup, _allocWindow, _allocStart = -1;
    static int _allocDone;

    static int Main(string[] args)
    {
        string host = "127.0.0.1";
        int port = 8080;
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
                    case "--alloc-report": allocReport = long.Parse(Next()); break;
                    case "-h":
                    case "--help":
                        Console.WriteLine("usage: sockets_server [--host H] [--port P] [--alloc-report N]");
                        return 0;
                    default: throw new ArgumentException($"unknown argument {a}");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                Console.Error.WriteLine($"sockets_server: {e.Message}");
                return 2;
            }
        }
        if (port < 0 || port > 65535 || allocReport < 0)
        {
            Console.Error.WriteLine("sockets_server: --port must be 0..65535, --alloc-report >= 0");
            return 2;
        }
        if (allocReport > 0)
        {
            _allocWindow = allocReport;
            _allocWarmup = Math.Max(1, allocReport / 5);
        }

        if (!IPAddress.TryParse(host, out var address))
        {
            Console.Error.WriteLine($"sockets_server: --host {host} is not an IP address");
            return 2;
        }
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(new IPEndPoint(address, port));
            listener.Listen(4096);
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"sockets_server: cannot listen on {host}:{port}: {e.Message}");
            return 1;
        }

        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true;   // we exit ourselves, with status 0
            stop.Cancel();
        }
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        var bound = (IPEndPoint)listener.LocalEndPoint!;
        Console.WriteLine($"listening on {bound.Address}:{bound.Port} " +
                          $"(System.Net.Sockets, gc={(GCSettings.IsServerGC ? "server" : "workstation")}, " +
                          $"aot={(System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported ? "no" : "yes")})");
        Console.Out.Flush();

        var acceptLoop = AcceptLoop(listener, stop.Token);
        try
        {
            stop.Token.WaitHandle.WaitOne();
        }
        finally
        {
            listener.Dispose();   // ends AcceptAsync
        }
        try
        {
            acceptLoop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        return 0;
    }

    static async Task AcceptLoop(Socket listener, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;   // e.g. the peer reset before accept: keep serving
            }
            client.NoDelay = true;
            _ = Task.Run(() => Serve(client));   // one task per connection
        }
    }

    static async Task Serve(Socket socket)
    {
        var buffer = new byte[ReceiveBufferSize];
        byte[] out1 = Response;   // grows for pipelined batches, then reused
        int state = 0;            // bytes of "\r\n\r\n" the data so far ends with
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                    break;
                int count = CountRequests(buffer.AsSpan(0, n), ref state);
                if (count == 0)
                    continue;
                if (_allocWindow > 0)
                    CountForAllocReport(count);
                ReadOnlyMemory<byte> reply;
                if (count == 1)
                {
                    reply = Response;
                }
                else
                {
                    int len = count * Response.Length;
                    if (out1.Length < len || out1 == Response)
                        out1 = new byte[Math.Max(len, 2 * out1.Length)];
                    for (int k = 0; k < count; k++)
                        Response.CopyTo(out1.AsSpan(k * Response.Length));
                    reply = out1.AsMemory(0, len);
                }
                while (!reply.IsEmpty)
                {
                    int sent = await socket.SendAsync(reply, SocketFlags.None).ConfigureAwait(false);
                    reply = reply.Slice(sent);
                }
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    // Same rule as bench_count_requests() in response.h: non-overlapping
    // "\r\n\r\n" terminators, a terminator split across reads counts once.
    static int CountRequests(ReadOnlySpan<byte> p, ref int state)
    {
        int count = 0, s = state;
        ReadOnlySpan<byte> term = "\r\n\r\n"u8;
        int i = 0;
        // Finish a terminator begun in the previous read, byte by byte.
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
        // Whole terminators: IndexOf is vectorised.
        int start = i;
        while (true)
        {
            int hit = p.Slice(start).IndexOf(term);
            if (hit < 0)
                break;
            count++;
            start += hit + 4;
        }
        // A terminator prefix at the very end: only the last 3 bytes matter.
        int from = p.Length - start > 3 ? p.Length - 3 : start;
        for (int k = from; k < p.Length; k++)
        {
            byte c = p[k];
            if (c == term[s])
                s++;
            else
                s = c == '\r' ? 1 : 0;
        }
        state = s;
        return count;
    }

    static void CountForAllocReport(int count)
    {
        long total = Interlocked.Add(ref _requests, count);
        if (Volatile.Read(ref _allocDone) != 0)
            return;
        if (total >= _allocWarmup && Interlocked.Read(ref _allocStart) < 0)
        {
            long bytes = GC.GetTotalAllocatedBytes(precise: true);
            // First thread over the warm-up line records the start point.
            if (Interlocked.CompareExchange(ref _allocStart, bytes, -1) == -1)
                Interlocked.Exchange(ref _allocWarmupAt, total);
            return;
        }
        long startAt = Interlocked.Read(ref _allocWarmupAt);
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

    static long _allocWarmupAt;
}

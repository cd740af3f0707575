using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Urocket.AspNetCore.Tests;

/// <summary>A parsed HTTP/1.1 response.</summary>
public sealed record RawResponse(int Status, Dictionary<string, string> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>HTTP/1.1 over a raw socket: for what HttpClient will not do (pipelining,
/// resets, half requests, slow senders).</summary>
public sealed class RawHttp : IAsyncDisposable
{
    public Socket Socket { get; }
    private readonly byte[] buf = new byte[64 * 1024];
    private int start, end;

    private RawHttp(Socket s) { Socket = s; }

    public static async Task<RawHttp> ConnectAsync(IPAddress address, int port)
    {
        var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(new IPEndPoint(address, port));
        return new RawHttp(s);
    }

    public static Task<RawHttp> ConnectAsync(TestApp app) => ConnectAsync(IPAddress.Loopback, app.Port);

    public async Task SendAsync(string text) => await SendAsync(Encoding.ASCII.GetBytes(text));

    public async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            int n = await Socket.SendAsync(data, SocketFlags.None);
            data = data[n..];
        }
    }

    /// <summary>Sends RST instead of FIN on close.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        if (start > 0 && start == end) start = end = 0;
        if (end == buf.Length)
        {
            Buffer.BlockCopy(buf, start, buf, 0, end - start);
            end -= start;
            start = 0;
        }
        int n = await Socket.ReceiveAsync(buf.AsMemory(end), SocketFlags.None, ct);
        if (n == 0) return false;
        end += n;
        return true;
    }

    private async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            int i = Array.IndexOf(buf, (byte)'\n', start, end - start);
            if (i >= 0)
            {
                var line = Encoding.ASCII.GetString(buf, start, i - start).TrimEnd('\r');
                start = i + 1;
                return line;
            }
            if (!await FillAsync(ct))
                return null;
        }
    }

    private async Task ReadExactAsync(Stream into, long count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (start == end && !await FillAsync(ct))
                throw new EndOfStreamException($"connection closed with {count} body bytes missing");
            int n = (int)Math.Min(count, end - start);
            into.Write(buf, start, n);
            start += n;
            count -= n;
        }
    }

    /// <summary>Reads one response; null if the server closed the connection cleanly first.</summary>
    public async Task<RawResponse?> ReadResponseAsync(CancellationToken ct = default)
    {
        var status = await ReadLineAsync(ct);
        if (status == null)
            return null;
        var parts = status.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1."))
            throw new InvalidDataException($"bad status line '{status}'");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? line;
        while (!string.IsNullOrEmpty(line = await ReadLineAsync(ct)))
        {
            int c = line.IndexOf(':');
            headers[line[..c].Trim()] = line[(c + 1)..].Trim();
        }
        if (line == null)
            throw new EndOfStreamException("connection closed inside the response headers");
        var body = new MemoryStream();
        if (headers.TryGetValue("Content-Length", out var cl))
        {
            await ReadExactAsync(body, long.Parse(cl), ct);
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked"))
        {
            while (true)
            {
                var size = await ReadLineAsync(ct) ?? throw new EndOfStreamException("closed in chunk header");
                long n = Convert.ToInt64(size.Split(';')[0], 16);
                if (n == 0)
                {
                    while (!string.IsNullOrEmpty(await ReadLineAsync(ct))) { }
                    break;
                }
                await ReadExactAsync(body, n, ct);
                await ReadLineAsync(ct);
            }
        }
        return new RawResponse(int.Parse(parts[1]), headers, body.ToArray());
    }

    /// <summary>POSTs <paramref name="body"/> to <paramref name="path"/> (with Content-Length, or
    /// chunked) in random-sized pieces while reading the response at the same time, as a full-duplex
    /// client does; returns the response once both are done.</summary>
    public async Task<RawResponse> EchoDuplexAsync(string path, byte[] body, bool chunked, int seed,
                                                   CancellationToken ct = default)
    {
        string framing = chunked ? "Transfer-Encoding: chunked" : $"Content-Length: {body.Length}";
        await SendAsync($"POST {path} HTTP/1.1\r\nHost: test\r\n{framing}\r\n\r\n");
        var sending = Task.Run(async () =>
        {
            var rng = new Random(seed);
            int off = 0;
            while (off < body.Length)
            {
                int n = Math.Min(body.Length - off, rng.Next(1, 256 * 1024));
                if (chunked)
                    await SendAsync($"{n:x}\r\n");
                await SendAsync(body.AsMemory(off, n));
                if (chunked)
                    await SendAsync("\r\n");
                off += n;
            }
            if (chunked)
                await SendAsync("0\r\n\r\n");
        }, ct);
        var response = await ReadResponseAsync(ct)
                       ?? throw new EndOfStreamException("the server closed the connection without a response");
        await sending;
        return response;
    }

    /// <summary>True if the server closes the connection (FIN or RST) before <paramref name="within"/>;
    /// any bytes it sends first are discarded.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        try
        {
            while (true)
            {
                int n = await Socket.ReceiveAsync(buf.AsMemory(), SocketFlags.None, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (SocketException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    public ValueTask DisposeAsync()
    {
        Socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

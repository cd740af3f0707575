// Canned-response HTTP/1.1 server on UrkServer: answers every request that
// ends with an empty line with the same small response (keep-alive).
//   mono HttpServer.exe [port] [reactors]
using System;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Urocket;

static class HttpServer
{
    static readonly byte[] Response = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!");

    static async Task Serve(Connection conn)
    {
        var buffer = new byte[8192];
        int state = 0; // how much of "\r\n\r\n" the bytes so far end with
        while (true)
        {
            int n = await conn.ReadAsync(buffer);
            if (n == 0)
                return;
            int answers = 0;
            for (int i = 0; i < n; i++)
            {
                byte b = buffer[i];
                state = (b == '\r') ? (state == 2 ? 3 : 1)
                      : (b == '\n' && (state == 1 || state == 3)) ? state + 1
                      : 0;
                if (state == 4)
                {
                    answers++;
                    state = 0;
                }
            }
            for (int i = 0; i < answers; i++)   // pipelined requests: one answer each
                await conn.WriteAsync(Response);
        }
    }

    static int Main(string[] args)
    {
        var options = new EngineOptions
        {
            Port = (ushort)(args.Length > 0 ? int.Parse(args[0]) : 8080),
            Reactors = (uint)(args.Length > 1 ? int.Parse(args[1]) : 1),
        };
        using (var server = UrkServer.Start(options, Serve))
        {
            Console.WriteLine("listening on 127.0.0.1:{0} with {1} reactor(s); Ctrl-C stops",
                              server.Port, server.ReactorCount);
            var stop = new ManualResetEventSlim();
            Console.CancelKeyPress += (s, e) => { e.Cancel = true; stop.Set(); };
            stop.Wait();
            server.Stop(1000);
        }
        return 0;
    }
}

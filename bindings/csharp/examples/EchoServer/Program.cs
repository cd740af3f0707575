// Echo server on UrkServer: every byte read is written back.
//   mono EchoServer.exe [port] [reactors]
using System;
using System.Threading;
using System.Threading.Tasks;
using Urocket;

static class EchoServer
{
    static async Task Echo(Connection conn)
    {
        var buffer = new byte[16384]; // one per connection, reused for every read
        while (true)
        {
            int n = await conn.ReadAsync(buffer);
            if (n == 0)
                return;                       // peer closed: returning closes our side
            await conn.WriteAsync(new ReadOnlyMemory<byte>(buffer, 0, n));
        }
    }

    static int Main(string[] args)
    {
        var options = new EngineOptions
        {
            Port = (ushort)(args.Length > 0 ? int.Parse(args[0]) : 7000),
            Reactors = (uint)(args.Length > 1 ? int.Parse(args[1]) : 1),
        };
        using (var server = UrkServer.Start(options, Echo))
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

// Echo server on UrkServer: every byte read is written back.
//   echo_server [--host H] [--port P] [--reactors N]
// Prints "listening on HOST:PORT"; SIGINT/SIGTERM stop it gracefully (exit 0).
using System;
using System.Runtime.InteropServices;
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

    static async Task<int> Main(string[] args)
    {
        string host = "127.0.0.1";
        int port = 7000, reactors = 1;
        for (int i = 0; i < args.Length; i++)
        {
            string v = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--host" when v != null: host = v; i++; break;
                case "--port" when v != null && int.TryParse(v, out port) && port >= 0 && port <= 65535: i++; break;
                case "--reactors" when v != null && int.TryParse(v, out reactors) && reactors >= 1 && reactors <= 64: i++; break;
                default:
                    Console.Error.WriteLine("usage: echo_server [--host H] [--port P (0-65535)] [--reactors N (1-64)]");
                    return 2;
            }
        }
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        await using var server = UrkServer.Start(
            new EngineOptions { Host = host, Port = (ushort)port, Reactors = (uint)reactors }, Echo);
        Console.WriteLine("listening on {0}:{1}", host.Contains(':') ? "[" + host + "]" : host, server.Port);
        await stop.Task;
        await server.StopAsync(TimeSpan.FromSeconds(1));
        return 0;
    }
}

// ASP.NET Core minimal API on the uRocket transport.
//   aspnet_hello [--port N] [--reactors N]     (port 0: a free one; default 5000)
//   GET /       "Hello, World!" (text/plain)
//   GET /json   {"message":"Hello, World!"}
//   POST /echo  the request body, streamed back as it arrives
using System.Net;
using System.Text.Json.Serialization;
using Urocket.AspNetCore;

int port = 5000, reactors = 1;
for (int i = 0; i + 1 < args.Length; i += 2)
{
    if (args[i] == "--port") port = int.Parse(args[i + 1]);
    else if (args[i] == "--reactors") reactors = int.Parse(args[i + 1]);
    else { Console.Error.WriteLine($"unknown option {args[i]}"); return 2; }
}

var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrocket(o => o.Reactors = reactors);
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJson.Default));
builder.Logging.SetMinimumLevel(LogLevel.Warning);

var app = builder.Build();
app.MapGet("/", () => "Hello, World!");
app.MapGet("/json", () => new Greeting("Hello, World!"));
app.MapPost("/echo", async (HttpContext ctx) =>
{
    ctx.Response.ContentType = ctx.Request.ContentType ?? "application/octet-stream";
    await ctx.Request.BodyReader.CopyToAsync(ctx.Response.BodyWriter);
});
app.Lifetime.ApplicationStarted.Register(() =>
    Console.WriteLine("listening on " + string.Join(" ", app.Urls)));
await app.RunAsync(); // Ctrl-C / SIGTERM: graceful stop (in-flight requests finish)
return 0;

record Greeting(string Message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(Greeting))]
partial class AppJson : JsonSerializerContext { }

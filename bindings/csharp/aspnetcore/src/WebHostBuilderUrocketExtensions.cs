using System;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Urocket.AspNetCore;

/// <summary><c>builder.WebHost.UseUrocket()</c>: Kestrel accepts TCP connections through
/// the uRocket engine instead of System.Net.Sockets.</summary>
public static class WebHostBuilderUrocketExtensions
{
    /// <summary>Serves Kestrel's IP endpoints over uRocket with default options.</summary>
    public static IWebHostBuilder UseUrocket(this IWebHostBuilder builder) => builder.UseUrocket(_ => { });

    /// <summary>Serves Kestrel's IP endpoints over uRocket. Endpoints uRocket cannot serve
    /// (Unix sockets, file handles) stay on Kestrel's Sockets transport.</summary>
    public static IWebHostBuilder UseUrocket(this IWebHostBuilder builder, Action<UrocketTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return builder.ConfigureServices(services =>
        {
            services.Configure(configure);
            // Kestrel tries the transports last registered first; this one declines what
            // it cannot bind (IConnectionListenerFactorySelector), so Sockets takes over.
            services.AddSingleton<UrocketTransportFactory>();
            services.AddSingleton<IConnectionListenerFactory>(sp => sp.GetRequiredService<UrocketTransportFactory>());
        });
    }
}

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StampedeGuard.AspNetCore;

namespace StampedeGuard.Telemetry.Tests;

/// <summary>Real Kestrel on 127.0.0.1 (port 0) with the response caching middleware in front of the endpoints.</summary>
public sealed class KestrelApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KestrelApp(WebApplication app, Uri address)
    {
        _app = app;
        Client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Client { get; }

    public IMeterFactory MeterFactory => _app.Services.GetRequiredService<IMeterFactory>();

    public static async Task<KestrelApp> StartAsync(TimeProvider time, Action<WebApplication> endpoints)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(time).AddStampedeGuardResponseCaching();
        var app = builder.Build();
        app.UseStampedeGuardResponseCaching();
        endpoints(app);
        await app.StartAsync();
        return new KestrelApp(app, new Uri(app.Urls.Single()));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

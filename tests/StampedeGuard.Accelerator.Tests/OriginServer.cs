using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>A real origin server: Kestrel on 127.0.0.1 (port 0); its endpoints count themselves with <see cref="Counter"/>.</summary>
public sealed class OriginServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _stopped;

    private OriginServer(WebApplication app, OriginCounter counter)
    {
        _app = app;
        Counter = counter;
        Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public Uri Address { get; }

    public OriginCounter Counter { get; }

    public int Executions => Counter.Executions;

    /// <summary>Starts an origin; <paramref name="endpoints"/> maps its endpoints (the counter is theirs to use).</summary>
    public static async Task<OriginServer> StartAsync(Action<WebApplication, OriginCounter> endpoints, Action<WebApplication>? middleware = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        middleware?.Invoke(app);
        var counter = new OriginCounter();
        endpoints(app, counter);
        await app.StartAsync();
        return new OriginServer(app, counter);
    }

    /// <summary>Stops the server (the origin goes down: later connections are refused). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync();
    }
}

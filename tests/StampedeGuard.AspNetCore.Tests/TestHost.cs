using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StampedeGuard.AspNetCore;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>A real Kestrel server on 127.0.0.1 (port 0) with a real HttpClient.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, int> _results = new();

    private TestHost(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
        Client = NewClient(address);
        var factory = app.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "stampedeguard.http.requests")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                _results.AddOrUpdate((string)tag.Value!, 1, (_, n) => n + 1);
            }
        });
        _listener.Start();
    }

    /// <summary>How many requests the cache counted with this result (hit, stale, miss, collapsed, pass, bypass, method).</summary>
    public int Count(string result) => _results.TryGetValue(result, out var n) ? n : 0;

    public WebApplication App { get; }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public static HttpClient NewClient(Uri address) =>
        new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, UseProxy = false, MaxConnectionsPerServer = 2000, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>Starts an app; with <paramref name="cache"/> the response caching middleware runs before the endpoints.</summary>
    public static async Task<TestHost> StartAsync(
        Action<WebApplication> endpoints,
        Action<StampedeResponseCachingOptions>? configure = null,
        TimeProvider? time = null,
        bool cache = true,
        Action<IServiceCollection>? services = null,
        Action<WebApplication>? beforeCache = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("SG_TEST_LOG") is not null) { builder.Logging.AddConsole(); }
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Limits.MaxRequestHeadersTotalSize = 256 * 1024;
        });
        var clock = time ?? TimeProvider.System;
        builder.Services.AddSingleton<IStampedeCache>(_ => new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }));
        builder.Services.AddSingleton(clock);
        builder.Services.AddStampedeGuardResponseCaching(configure);
        services?.Invoke(builder.Services);
        var app = builder.Build();
        beforeCache?.Invoke(app);
        if (cache)
        {
            app.UseStampedeGuardResponseCaching();
        }

        endpoints(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestHost(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        Client.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await App.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await App.DisposeAsync();
    }
}

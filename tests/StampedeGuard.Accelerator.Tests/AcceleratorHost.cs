using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>The real accelerator (<see cref="AcceleratorApp.Create"/>, as the tool builds it) on 127.0.0.1 port 0, with a real HttpClient.</summary>
public sealed class AcceleratorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TagCounter _results;

    private AcceleratorHost(WebApplication app, FakeLogCollector logs)
    {
        _app = app;
        Logs = logs;
        Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        Client = NewClient(Address);
        _results = new TagCounter(app.Services.GetRequiredService<IMeterFactory>(), "stampedeguard.http.requests");
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    /// <summary>Every log record the accelerator wrote (after its configured filters).</summary>
    public FakeLogCollector Logs { get; }

    public static HttpClient NewClient(Uri address) =>
        new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, UseProxy = false, MaxConnectionsPerServer = 2000 })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>Starts the accelerator with the single-origin command line <c>--origin URL</c> plus <paramref name="args"/>.</summary>
    public static Task<AcceleratorHost> StartAsync(Uri origin, params string[] args) =>
        StartAsync(["--origin", origin.ToString(), .. args]);

    /// <summary>Starts the accelerator with this command line (it listens on a free loopback port).</summary>
    public static async Task<AcceleratorHost> StartAsync(string[] args, Action<IServiceCollection>? services = null)
    {
        var logs = new FakeLogCollector();
        using var error = new StringWriter();
        var app = AcceleratorApp.Create(["--urls", "http://127.0.0.1:0", .. args], error, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new FakeLoggerProvider(logs));
            services?.Invoke(builder.Services);
        }) ?? throw new InvalidOperationException("the accelerator refused its arguments: " + error);
        await app.StartAsync();
        return new AcceleratorHost(app, logs);
    }

    /// <summary>How many requests the cache counted with this result (hit, stale, miss, collapsed, pass, bypass, method).</summary>
    public long Count(string result) => _results[result];

    public async ValueTask DisposeAsync()
    {
        _results.Dispose();
        Client.Dispose();
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

using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace StampedeGuard.Telemetry.Tests;

/// <summary>A named cache's measurements and spans carry <c>stampedeguard.cache.name</c>; the unnamed cache's do not.</summary>
public sealed class NamedCacheTelemetryTests : IDisposable
{
    private readonly OpenTelemetryCapture _otel = new("StampedeGuard");
    private readonly ServiceProvider _services;

    public NamedCacheTelemetryTests()
    {
        var services = new ServiceCollection().AddMetrics();
        services.AddStampedeGuard();
        services.AddStampedeGuard("orders");
        _services = services.BuildServiceProvider();
    }

    [Fact]
    public async Task Meter_NamedAndUnnamedCache_RequestsOfTheNamedCacheCarryItsName()
    {
        var orders = _services.GetRequiredKeyedService<IStampedeCache>("orders");
        var unnamed = _services.GetRequiredService<IStampedeCache>();
        await orders.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
        await orders.GetOrCreateAsync("k", _ => ValueTask.FromResult(2));
        await unnamed.GetOrCreateAsync("k", _ => ValueTask.FromResult(3));

        var metrics = _otel.CollectMetrics();

        metrics["stampedeguard.cache.requests"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.cache.name=orders,stampedeguard.result=miss"] = 1,
            ["stampedeguard.cache.name=orders,stampedeguard.result=hit"] = 1,
            ["stampedeguard.result=miss"] = 1,
        });
        metrics["stampedeguard.factory.runs"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.cache.name=orders"] = 1,
            [string.Empty] = 1,
        });
        metrics["stampedeguard.factory.duration"].MetricPoints.Should().HaveCount(2, "one point per cache");
    }

    [Fact]
    public async Task Meter_NamedCacheFactoryFails_ErrorCounterCarriesTheName()
    {
        var orders = _services.GetRequiredKeyedService<IStampedeCache>("orders");

        var act = async () => await orders.GetOrCreateAsync<int>("k", _ => throw new InvalidOperationException());
        await act.Should().ThrowAsync<InvalidOperationException>();

        _otel.CollectMetrics()["stampedeguard.factory.errors"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.cache.name=orders"] = 1,
        });
    }

    [Fact]
    public async Task Span_NamedCacheFactoryRun_CarriesTheName()
    {
        await _services.GetRequiredKeyedService<IStampedeCache>("orders").GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        var span = _otel.Spans.Should().ContainSingle().Subject;

        span.TagObjects.Should().BeEquivalentTo(new Dictionary<string, object?> { ["stampedeguard.refresh"] = false, ["stampedeguard.cache.name"] = "orders" });
    }

    [Fact]
    public async Task Meter_CacheNameWithoutDependencyInjection_TagsTheMeasurements()
    {
        using var cache = new StampedeCache(new StampedeCacheOptions { CacheName = "plain" }, meterFactory: _services.GetRequiredService<IMeterFactory>());

        await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        _otel.CollectMetrics()["stampedeguard.cache.requests"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.cache.name=plain,stampedeguard.result=miss"] = 1,
        });
    }

    public void Dispose()
    {
        _otel.Dispose();
        _services.Dispose();
    }
}

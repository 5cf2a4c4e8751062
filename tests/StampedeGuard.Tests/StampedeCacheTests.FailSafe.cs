using Microsoft.Extensions.Logging;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static CacheHarness FailSafeHarness() => new(o =>
    {
        o.Duration = TimeSpan.FromSeconds(10);
        o.StaleIfError = TimeSpan.FromMinutes(1);
        o.FailSafeThrottle = TimeSpan.FromSeconds(5);
        o.EarlyRefreshBeta = 0;
    });

    private static ValueTask<string> Throwing(CancellationToken _) => throw new InvalidOperationException("origin down");

    [Fact]
    public async Task GetOrCreateAsync_FactoryThrowsWithValueInsideStaleIfError_ReturnsLastGoodValue()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        var value = await h.Cache.GetOrCreateAsync("k", Throwing);

        value.Should().Be("good");
    }

    [Fact]
    public async Task GetOrCreateAsync_FailSafeActivates_CountedAndLoggedAtWarning()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        await h.Cache.GetOrCreateAsync("k", Throwing);

        h.Metrics.Counter("stampedeguard.fail_safe.activations").Should().Be(1);
        var warnings = h.Logs.GetSnapshot().Where(r => r.Level == LogLevel.Warning).ToList();
        warnings.Should().ContainSingle().Which.Exception.Should().BeOfType<InvalidOperationException>();
    }

    [Fact]
    public async Task GetOrCreateAsync_AfterFailSafe_NoFactoryCallUntilThrottlePassesThenCalledAgain()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        await h.Cache.GetOrCreateAsync("k", Throwing);
        var runs = 0;
        ValueTask<string> Counting(CancellationToken _)
        {
            runs++;
            return ValueTask.FromResult("new");
        }

        h.Clock.Advance(TimeSpan.FromSeconds(4.9));
        var throttled = await h.Cache.GetOrCreateAsync("k", Counting);
        var runsDuringThrottle = runs;
        h.Clock.Advance(TimeSpan.FromSeconds(0.1));
        var after = await h.Cache.GetOrCreateAsync("k", Counting);

        (throttled, runsDuringThrottle, after, runs).Should().Be(("good", 0, "new", 1));
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryThrowsPastStaleIfError_ThrowsFactoryException()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        h.Clock.Advance(TimeSpan.FromSeconds(70));

        var call = async () => await h.Cache.GetOrCreateAsync("k", Throwing);

        await call.Should().ThrowAsync<InvalidOperationException>();
        h.Metrics.Counter("stampedeguard.fail_safe.activations").Should().Be(0);
    }

    [Fact]
    public async Task TryGetAsync_ServingFailSafeValue_ReportsItStale()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        await h.Cache.GetOrCreateAsync("k", Throwing);

        var lookup = await h.Cache.TryGetAsync<string>("k");

        lookup.HasValue.Should().BeTrue();
        lookup.Age.Should().Be(TimeSpan.FromSeconds(30));
        lookup.IsStale.Should().BeTrue("a 30 s old value with Duration 10 s is past its fresh duration, fail-safe or not");
    }

    [Fact]
    public async Task GetOrCreateAsync_EveryWaiterCancelsWithFailSafeValue_NoFailSafeActivationAndNextCallRunsFactory()
    {
        using var h = FailSafeHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("good"));
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        using var cts = new CancellationTokenSource();
        var call = h.Cache.GetOrCreateAsync<string>("k", async ct => { await Task.Delay(Timeout.Infinite, ct); return "never"; }, cancellationToken: cts.Token).AsTask();

        await cts.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(call, "the cancelled caller")).Should().ThrowAsync<OperationCanceledException>();
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the cancelled run ended");
        var runs = 0;
        var next = await h.Cache.GetOrCreateAsync("k", _ => { runs++; return ValueTask.FromResult("fresh"); });

        h.Metrics.Counter("stampedeguard.fail_safe.activations").Should().Be(0, "callers going away is not an origin failure");
        (next, runs).Should().Be(("fresh", 1));
    }
}

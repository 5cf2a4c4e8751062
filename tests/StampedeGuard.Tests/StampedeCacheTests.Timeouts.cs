using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static CacheHarness SoftTimeoutHarness() => new(o =>
    {
        o.Duration = TimeSpan.FromSeconds(10);
        o.StaleIfError = TimeSpan.FromMinutes(1);
        o.FactorySoftTimeout = TimeSpan.FromSeconds(1);
        o.EarlyRefreshBeta = 0;
    });

    /// <summary>Starts a call past Duration (stale value kept for fail-safe) whose factory blocks on the returned gate.</summary>
    private static async Task<(Task<string> Call, GatedFactory<string> Factory)> StartSlowRefreshAsync(CacheHarness h, CancellationToken cancellationToken = default)
    {
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("old"));
        h.Clock.Advance(TimeSpan.FromSeconds(11));
        var factory = new GatedFactory<string>();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: cancellationToken).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Clock.ActiveTimers > 0, "the slow factory started and the caller waits on its timeout");
        return (call, factory);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactorySoftTimeoutElapsesWithStaleValue_ReturnsStaleValue()
    {
        using var h = SoftTimeoutHarness();
        var (call, factory) = await StartSlowRefreshAsync(h);

        h.Clock.Advance(TimeSpan.FromSeconds(1));

        (await Poll.Within(call, "the soft timeout")).Should().Be("old");
        factory.Release("new");
    }

    [Fact]
    public async Task GetOrCreateAsync_FactorySoftTimeoutElapsedThenFactoryCompletes_CacheUpdated()
    {
        using var h = SoftTimeoutHarness();
        var (call, factory) = await StartSlowRefreshAsync(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.Within(call, "the soft timeout");

        factory.Release("new");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the factory finished in the background");
        var value = await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);

        (value, factory.Calls).Should().Be(("new", 1));
    }

    [Fact]
    public async Task GetOrCreateAsync_BeforeFactorySoftTimeout_CallerStillWaits()
    {
        using var h = SoftTimeoutHarness();
        var (call, factory) = await StartSlowRefreshAsync(h);

        h.Clock.Advance(TimeSpan.FromSeconds(0.9));

        call.IsCompleted.Should().BeFalse();
        factory.Release("new");
        (await Poll.Within(call, "the factory")).Should().Be("new");
    }

    [Fact]
    public async Task GetOrCreateAsync_SoftTimedOutRunThenLaterCallerCancels_FactoryKeepsRunningAndUpdatesCache()
    {
        using var h = SoftTimeoutHarness();
        var (call, factory) = await StartSlowRefreshAsync(h);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.Within(call, "the soft timeout");

        // A second caller joins the still-running flight and gives up: the background completion promised by the
        // soft timeout must not be cancelled by it.
        using var cts = new CancellationTokenSource();
        var impatient = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: cts.Token).AsTask();
        await cts.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(impatient, "the cancelled caller")).Should().ThrowAsync<OperationCanceledException>();

        factory.Tokens.Should().ContainSingle().Which.IsCancellationRequested.Should().BeFalse();
        factory.Release("new");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the factory finished");
        (await h.Cache.TryGetAsync<string>("k")).Value.Should().Be("new");
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryHardTimeoutWithoutStaleValue_ThrowsTimeoutExceptionAndCancelsFactoryToken()
    {
        using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromSeconds(2));
        var factory = new GatedFactory<string>();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Clock.ActiveTimers > 0, "the factory started under its hard timeout");

        h.Clock.Advance(TimeSpan.FromSeconds(2));

        await FluentActions.Awaiting(() => Poll.Within(call, "the hard timeout")).Should().ThrowAsync<StampedeFactoryTimeoutException>();
        factory.Tokens.Single().IsCancellationRequested.Should().BeTrue();
    }

    [Fact]
    public async Task GetOrCreateAsync_BeforeFactoryHardTimeout_FactoryTokenNotCancelled()
    {
        using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromSeconds(2));
        var factory = new GatedFactory<string>();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Clock.ActiveTimers > 0, "the factory started under its hard timeout");

        h.Clock.Advance(TimeSpan.FromSeconds(1.9));

        factory.Tokens.Single().IsCancellationRequested.Should().BeFalse();
        factory.Release("v");
        (await Poll.Within(call, "the factory")).Should().Be("v");
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryHardTimeoutWithFailSafeValue_ReturnsFailSafeValue()
    {
        using var h = new CacheHarness(o =>
        {
            o.StaleIfError = TimeSpan.FromMinutes(1);
            o.FactoryHardTimeout = TimeSpan.FromSeconds(2);
            o.EarlyRefreshBeta = 0;
        });
        var (call, factory) = await StartSlowRefreshAsync(h);

        h.Clock.Advance(TimeSpan.FromSeconds(2));

        (await Poll.Within(call, "the hard timeout")).Should().Be("old");
        factory.Tokens.Single().IsCancellationRequested.Should().BeTrue();
        h.Metrics.Counter("stampedeguard.fail_safe.activations").Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryThrowsItsOwnTimeoutExceptionUnderHardTimeout_CallersGetItUnchanged()
    {
        using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromSeconds(30));
        var own = new TimeoutException("the database timed out");
        var factory = new GatedFactory<string>();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the factory started");

        factory.Fail(own);

        (await FluentActions.Awaiting(() => Poll.Within(call, "the factory"))
            .Should().ThrowAsync<TimeoutException>()).Which.Should().BeSameAs(own, "factory exceptions reach every waiter unchanged; the hard timeout (30 s) never elapsed");
        factory.Tokens.Single().IsCancellationRequested.Should().BeFalse();
    }

    [Theory]
    [InlineData("LockTimeout")]
    [InlineData("FactorySoftTimeout")]
    [InlineData("FactoryHardTimeout")]
    public async Task GetOrCreateAsync_TimeoutOfSixtyDaysAcceptedBySetter_CallersGetTheValue(string option)
    {
        using var h = new CacheHarness(o =>
        {
            o.StaleIfError = TimeSpan.FromMinutes(1);
            o.EarlyRefreshBeta = 0;
            var sixtyDays = TimeSpan.FromDays(60);
            switch (option)
            {
                case "LockTimeout": o.LockTimeout = sixtyDays; break;
                case "FactorySoftTimeout": o.FactorySoftTimeout = sixtyDays; break;
                default: o.FactoryHardTimeout = sixtyDays; break;
            }
        });
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("old"));
        h.Clock.Advance(TimeSpan.FromSeconds(11));
        var factory = new GatedFactory<string>();

        var leader = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        var waiter = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the factory started");
        factory.Release("new");

        (await Poll.Within(Task.WhenAll(leader, waiter), "both callers")).Should().Equal("new", "new");
    }
}

using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static StampedeCacheEntryOptions Tagged(params string[] tags) => new() { Duration = TimeSpan.FromSeconds(10), Tags = tags, EarlyRefreshBeta = 0 };

    [Fact]
    public async Task RemoveByTagAsync_EntryWithThatTag_NextCallRunsFactory()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), Tagged("red", "blue"));
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        await h.Cache.RemoveByTagAsync("blue");
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), Tagged("red", "blue"));

        value.Should().Be(2);
    }

    [Fact]
    public async Task RemoveByTagAsync_EntryWithoutThatTag_StaysCached()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), Tagged("red"));
        await h.Cache.GetOrCreateAsync("plain", _ => ValueTask.FromResult(1));
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        await h.Cache.RemoveByTagAsync("blue");
        var tagged = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), Tagged("red"));
        var plain = await h.Cache.GetOrCreateAsync("plain", _ => ValueTask.FromResult(2));

        (tagged, plain).Should().Be((1, 1));
    }

    [Fact]
    public async Task RemoveByTagAsync_EntryStoredAfterwardsAtTheSameInstant_StaysCached()
    {
        using var h = new CacheHarness();
        await h.Cache.RemoveByTagAsync("red");
        var runs = 0;

        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(++runs), Tagged("red"));
        var second = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(++runs), Tagged("red"));

        second.Should().Be(1, "the entry was created after the invalidation, even if the clock did not tick in between");
        runs.Should().Be(1);
    }

    [Fact]
    public async Task RemoveByTagAsync_OtherInstanceSharingL2_DropsTheTaggedL2Entry()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var invalidator = new CacheHarness(clock: writer.Clock, l2: l2);
        using var reader = new CacheHarness(clock: writer.Clock, l2: l2);
        await writer.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), Tagged("red"));
        writer.Clock.Advance(TimeSpan.FromSeconds(1));

        await invalidator.Cache.RemoveByTagAsync("red");
        writer.Clock.Advance(TimeSpan.FromSeconds(1));
        var value = await reader.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), Tagged("red"));

        value.Should().Be(2);
    }

    [Fact]
    public async Task RemoveAsync_CachedKey_NextCallRunsFactory()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        await h.Cache.RemoveAsync("k");
        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2));

        value.Should().Be(2);
    }

    [Fact]
    public async Task RemoveAsync_KeyInSharedL2_RemovedFromL2Too()
    {
        var l2 = CacheHarness.NewL2();
        using var a = new CacheHarness(l2: l2);
        using var b = new CacheHarness(clock: a.Clock, l2: l2);
        await a.Cache.SetAsync("k", 1);

        await a.Cache.RemoveAsync("k");

        (await b.Cache.TryGetAsync<int>("k")).HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task ExpireAsync_FreshEntry_NextReadServesStaleAtOnce()
    {
        using var h = new CacheHarness(o => o.EarlyRefreshBeta = 0);
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var factory = new GatedFactory<string>();

        await h.Cache.ExpireAsync("k");
        var read = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync);

        read.IsCompletedSuccessfully.Should().BeTrue();
        (await read).Should().Be("v1");
        factory.Release("v2");
    }

    [Fact]
    public async Task ExpireAsync_ManyConcurrentReadsAfterwards_TriggerExactlyOneRefresh()
    {
        using var h = new CacheHarness(o => o.EarlyRefreshBeta = 0);
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("v1"));
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var factory = new GatedFactory<string>();

        await h.Cache.ExpireAsync("k");
        var reads = await StartConcurrentAsync(Callers, () => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask());
        (await Poll.Within(Task.WhenAll(reads), "the reads")).Should().OnlyContain(v => v == "v1");
        await Poll.UntilAsync(() => factory.Calls == 1, "the refresh started");
        factory.Release("v2");
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the refresh finished");

        factory.Calls.Should().Be(1);
        (await h.Cache.GetOrCreateAsync("k", factory.InvokeAsync)).Should().Be("v2");
    }

    [Fact]
    public async Task ExpireAsync_EntryOnlyInSharedL2_OtherInstanceServesStaleAndRefreshesOnce()
    {
        var l2 = CacheHarness.NewL2();
        using var a = new CacheHarness(o => o.EarlyRefreshBeta = 0, l2: l2);
        using var b = new CacheHarness(o => o.EarlyRefreshBeta = 0, clock: a.Clock, l2: l2);
        await a.Cache.SetAsync("k", "v1");
        a.Clock.Advance(TimeSpan.FromSeconds(1));

        await a.Cache.ExpireAsync("k");
        var lookup = await b.Cache.TryGetAsync<string>("k");

        lookup.HasValue.Should().BeTrue();
        lookup.IsStale.Should().BeTrue();
    }

    [Fact]
    public async Task TryGetAsync_AfterExpireAsync_ReportsStale()
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("k", "v1");
        h.Clock.Advance(TimeSpan.FromSeconds(1));

        await h.Cache.ExpireAsync("k");
        var lookup = await h.Cache.TryGetAsync<string>("k");

        (lookup.HasValue, lookup.IsStale, lookup.Value).Should().Be((true, true, "v1"));
    }

    [Fact]
    public async Task ExpireAsync_L2EntryWrittenByNodeWithClockAhead_EntryStaysReadableAsStale()
    {
        var l2 = CacheHarness.NewL2();
        var behind = new TestSupport.FakeTimeProvider();
        var ahead = new TestSupport.FakeTimeProvider(behind.GetUtcNow() + TimeSpan.FromSeconds(2));
        using var writer = new CacheHarness(o => o.StaleWhileRevalidate = TimeSpan.FromMinutes(1), clock: ahead, l2: l2);
        using var expirer = new CacheHarness(o => o.StaleWhileRevalidate = TimeSpan.FromMinutes(1), clock: behind, l2: l2);
        using var reader = new CacheHarness(o => o.StaleWhileRevalidate = TimeSpan.FromMinutes(1), clock: behind, l2: l2);
        await writer.Cache.SetAsync("k", "v1");

        await expirer.Cache.ExpireAsync("k");
        var lookup = await reader.Cache.TryGetAsync<string>("k");

        (lookup.HasValue, lookup.IsStale).Should().Be((true, true), "ExpireAsync marks stale; two seconds of clock skew between nodes must not turn it into a corrupt entry");
    }
    /// <summary>
    /// An adapter's own runs (the HTTP cache's origin executions) are superseded by an invalidation by tag as the
    /// engine's are: the listener hears the tag, the invalidation waits for what it returns (its stores under way), and
    /// a disposed registration hears nothing more.
    /// </summary>
    [Fact]
    public async Task RegisterTagInvalidation_RemoveByTag_CallsItWithTheTagAndWaitsForWhatItReturns()
    {
        using var cache = new StampedeCache(new StampedeCacheOptions());
        var heard = new List<string>();
        var storeUnderWay = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registration = cache.RegisterTagInvalidation(tag =>
        {
            heard.Add(tag);
            return storeUnderWay.Task;
        });

        var removing = cache.RemoveByTagAsync("catalog").AsTask();
        heard.Should().Equal("catalog");
        removing.IsCompleted.Should().BeFalse("the invalidation waits for the adapter's store under way, so it wins");
        storeUnderWay.SetResult();
        await Poll.Within(removing, "the invalidation applies once the store ended");

        registration.Dispose();
        await cache.RemoveByTagAsync("other");
        heard.Should().Equal("catalog");
        FluentActions.Invoking(() => cache.RegisterTagInvalidation(null!)).Should().Throw<ArgumentNullException>().WithParameterName("onInvalidation");
    }
    /// <summary>A listener that fails on another node's invalidation is logged (event 16), not left an unobserved task.</summary>
    [Fact]
    public async Task RegisterTagInvalidation_ListenerFailsOnAnotherNodesInvalidation_Logged()
    {
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var loggerFactory = new Microsoft.Extensions.Logging.LoggerFactory([logs]);
        var backplane = new ResettableBackplane();
        using var cache = new StampedeCache(new StampedeCacheOptions(), backplane: backplane, loggerFactory: loggerFactory);
        using var registration = cache.RegisterTagInvalidation(_ => throw new InvalidOperationException("listener broke"));

        backplane.Deliver(new StampedeGuard.Distributed.BackplaneMessage { Kind = StampedeGuard.Distributed.BackplaneMessageKind.RemoveByTag, Key = "catalog", Timestamp = 1 });

        await Poll.UntilAsync(() => logs.Collector.GetSnapshot().Any(r => r.Id.Id == 16), "the listener's failure is logged");
        var record = logs.Collector.GetSnapshot().Single(r => r.Id.Id == 16);
        record.Message.Should().Contain("catalog");
        record.Exception.Should().BeOfType<InvalidOperationException>();
    }
}

using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests.Integration;

public sealed class TagInvalidationRaceTests
{
    [Fact]
    public async Task RemoveByTagAsync_WhileARunForThatTagIsInProgress_TheRunsResultIsNotStored()
    {
        var clock = new TestSupport.FakeTimeProvider();
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock });
        var factory = new GatedFactory<string>();
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), Tags = ["product:1"] };
        var call = cache.GetOrCreateAsync("k", factory.InvokeAsync, options).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the run started");

        clock.Advance(TimeSpan.FromMilliseconds(1));
        await cache.RemoveByTagAsync("product:1"); // the data the run read may predate this purge
        clock.Advance(TimeSpan.FromMilliseconds(1));
        factory.Release("before-purge");

        (await Poll.Within(call, "the caller")).Should().Be("before-purge", "the run still answers its own caller");
        (await cache.TryGetAsync<string>("k")).HasValue.Should().BeFalse("a result that may predate the purge is not stored");
        (await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("after-purge"), options)).Should().Be("after-purge");
    }

    [Fact]
    public async Task RemoveByTagAsync_OtherTag_DoesNotStopTheRunFromStoring()
    {
        var clock = new TestSupport.FakeTimeProvider();
        using var cache = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock });
        var factory = new GatedFactory<string>();
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromMinutes(5), Tags = ["product:1"] };
        var call = cache.GetOrCreateAsync("k", factory.InvokeAsync, options).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the run started");

        clock.Advance(TimeSpan.FromMilliseconds(1));
        await cache.RemoveByTagAsync("product:2");
        factory.Release("v");

        (await Poll.Within(call, "the caller")).Should().Be("v");
        (await cache.TryGetAsync<string>("k")).Value.Should().Be("v");
    }
}

using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task RemoveByTagAsync_ManyDistinctTagsOlderThanAnyTaggedEntryLives_ArePruned()
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("k", 1, new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10), Tags = ["live"] });
        for (var i = 0; i < 10_000; i++)
        {
            await h.Cache.RemoveByTagAsync($"user-input-{i}");
        }

        h.Clock.Advance(TimeSpan.FromSeconds(11)); // past the longest lifetime of any tagged entry
        await h.Cache.RemoveByTagAsync("one-more");

        h.Cache.TagInvalidationCount.Should().Be(1);
    }

    [Fact]
    public async Task RemoveByTagAsync_PruningUnderManyTags_StillInvalidatesAnEntryThatLives()
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("k", 1, new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10), Tags = ["t"] });
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await h.Cache.RemoveByTagAsync("t");

        h.Clock.Advance(TimeSpan.FromSeconds(5));
        for (var i = 0; i < 5_000; i++)
        {
            await h.Cache.RemoveByTagAsync($"other-{i}");
        }

        (await h.Cache.TryGetAsync<int>("k")).HasValue.Should().BeFalse();
    }
}

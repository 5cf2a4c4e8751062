using StampedeGuard.Distributed;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private static readonly StampedeCacheEntryOptions TaggedT = new() { Duration = TimeSpan.FromMinutes(1), Tags = ["t"] };

    [Fact]
    public async Task SetIfUnchangedAsync_NothingChangedSinceTheConditionBegan_StoresTheValue()
    {
        using var h = new CacheHarness();
        using var condition = await h.Cache.BeginConditionalWriteAsync();

        var stored = await h.Cache.SetIfUnchangedAsync("k", "read", condition, TaggedT);

        stored.Should().BeTrue();
        (await h.Cache.TryGetAsync<string>("k")).Value.Should().Be("read");
    }

    [Theory]
    [MemberData(nameof(Invalidations))]
    public async Task SetIfUnchangedAsync_InvalidatedAfterTheConditionBegan_StoresNothing(string how)
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("k", "before", TaggedT);
        using var condition = await h.Cache.BeginConditionalWriteAsync();
        h.Clock.Advance(TimeSpan.FromMilliseconds(1)); // the read of the source happens while the invalidation does
        await Invalidate(h.Cache, how);

        var stored = await h.Cache.SetIfUnchangedAsync("k", "read-before-the-invalidation", condition, TaggedT);
        var after = await h.Cache.TryGetAsync<string>("k");

        stored.Should().BeFalse();
        after.Value.Should().NotBe("read-before-the-invalidation");
        h.Metrics.Counter("stampedeguard.distributed.refused_writes").Should().Be(1);
    }

    /// <summary>An IDistributedCache has no clock nor versions: the write cannot be conditional there, so it is written as it comes.</summary>
    [Fact]
    public async Task SetIfUnchangedAsync_OverAnIDistributedCache_WrittenThereForOtherNodes()
    {
        var l2 = CacheHarness.NewL2();
        using var writer = new CacheHarness(l2: l2);
        using var reader = new CacheHarness(l2: l2);
        using var condition = await writer.Cache.BeginConditionalWriteAsync();

        (await writer.Cache.SetIfUnchangedAsync("k", "read", condition)).Should().BeTrue();

        (await reader.Cache.TryGetAsync<string>("k")).Value.Should().Be("read");
    }

    [Fact]
    public async Task SetIfUnchangedAsync_AnotherKeyChanged_StoresTheValue()
    {
        using var h = new CacheHarness();
        using var condition = await h.Cache.BeginConditionalWriteAsync();
        await h.Cache.RemoveAsync("other");

        (await h.Cache.SetIfUnchangedAsync("k", "read", condition)).Should().BeTrue();
    }

    /// <summary>
    /// The store gate: a removal that meets the store under way waits for it, then applies. Whatever the interleaving,
    /// once RemoveAsync returned the value is in no tier.
    /// </summary>
    [Fact]
    public async Task RemoveAsync_DuringAConditionalStore_WaitsForItAndWins()
    {
        var store = new VersionedGatedStore(CacheHarness.NewL2());
        using var h = new CacheHarness(store: store);
        using var condition = await h.Cache.BeginConditionalWriteAsync();
        var writeEntered = store.HoldNextWrite();
        var set = h.Cache.SetIfUnchangedAsync("k", "read", condition).AsTask();
        await writeEntered;

        var remove = h.Cache.RemoveAsync("k").AsTask();
        var removeWaited = !remove.IsCompleted;
        store.ReleaseWrite();
        var stored = await set;
        await remove;

        removeWaited.Should().BeTrue("the removal met the store under way");
        stored.Should().BeTrue("the store was under way before the removal");
        (await h.Cache.TryGetAsync<string>("k")).HasValue.Should().BeFalse();
        (await store.ReadAsync("k", default, default)).Envelope.Should().BeNull();
    }

    /// <summary>A tag invalidation does not wait for stores: the entry stored after it has an older origin, so no read serves it.</summary>
    [Fact]
    public async Task RemoveByTagAsync_DuringAConditionalStore_TheStoredEntryIsInvalidatedOnRead()
    {
        var store = new VersionedGatedStore(CacheHarness.NewL2());
        using var h = new CacheHarness(store: store);
        using var condition = await h.Cache.BeginConditionalWriteAsync();
        var writeEntered = store.HoldNextWrite();
        var set = h.Cache.SetIfUnchangedAsync("k", "read", condition, TaggedT).AsTask();
        await writeEntered;

        h.Clock.Advance(TimeSpan.FromMilliseconds(1));
        await h.Cache.RemoveByTagAsync("t");
        store.ReleaseWrite();
        await set;

        (await h.Cache.TryGetAsync<string>("k", TaggedT)).HasValue.Should().BeFalse();
    }

    [Fact]
    public async Task SetIfUnchangedAsync_BadArguments_ThrowNamingThem()
    {
        using var h = new CacheHarness();
        using var other = new CacheHarness();
        using var foreign = await other.Cache.BeginConditionalWriteAsync();
        var disposed = await h.Cache.BeginConditionalWriteAsync();
        disposed.Dispose();

        await FluentActions.Awaiting(() => h.Cache.SetIfUnchangedAsync("k", "v", null!).AsTask()).Should().ThrowAsync<ArgumentNullException>().WithParameterName("condition");
        await FluentActions.Awaiting(() => h.Cache.SetIfUnchangedAsync("k", "v", foreign).AsTask()).Should().ThrowAsync<ArgumentException>().WithParameterName("condition");
        await FluentActions.Awaiting(() => h.Cache.SetIfUnchangedAsync("", "v", foreign).AsTask()).Should().ThrowAsync<ArgumentException>().WithParameterName("key");
        await FluentActions.Awaiting(() => h.Cache.SetIfUnchangedAsync("k", "v", disposed).AsTask()).Should().ThrowAsync<ObjectDisposedException>();
        await FluentActions.Awaiting(() => h.Cache.ReadOrAcquireAsync<string>("k", null!).AsTask()).Should().ThrowAsync<ArgumentNullException>().WithParameterName("condition");
        await FluentActions.Awaiting(() => h.Cache.ReadOrAcquireAsync<string>("k", foreign).AsTask()).Should().ThrowAsync<ArgumentException>().WithParameterName("condition");
        await FluentActions.Awaiting(() => h.Cache.ReadOrAcquireAsync<string>("", foreign).AsTask()).Should().ThrowAsync<ArgumentException>().WithParameterName("key");
        await FluentActions.Awaiting(() => h.Cache.ReadOrAcquireAsync<string>("k", disposed).AsTask()).Should().ThrowAsync<ObjectDisposedException>();
    }

    /// <summary>Without a distributed tier, the read is the local tier's: a fresh value, else a miss (stale values are not returned: the caller refreshes them).</summary>
    [Fact]
    public async Task ReadOrAcquireAsync_LocalOnly_FreshValueOrMiss()
    {
        using var h = new CacheHarness();
        await h.Cache.SetAsync("k", "stored", TaggedT);
        await using var condition = await h.Cache.BeginConditionalWriteAsync();

        var fresh = await h.Cache.ReadOrAcquireAsync<string>("k", condition, TaggedT);
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        var expired = await h.Cache.ReadOrAcquireAsync<string>("k", condition, TaggedT);
        var missing = await h.Cache.ReadOrAcquireAsync<string>("other", condition, TaggedT);

        fresh.HasValue.Should().BeTrue();
        fresh.Value.Should().Be("stored");
        expired.HasValue.Should().BeFalse();
        missing.HasValue.Should().BeFalse();
        (await h.Cache.SetIfUnchangedAsync("other", "read", condition, TaggedT)).Should().BeTrue();
    }
    /// <summary>
    /// A store that throws once while the node learns its clock (a blip, with the failure tolerated) is not taken for a
    /// store without a clock for ever: the failed read counts as unavailable, the next condition asks again, and once
    /// learned the clock is not asked again within its refresh period. (Before, the tolerated failure came back as a
    /// read "done" without a clock, and the node ordered invalidations on its own clock from then on.)
    /// </summary>
    [Fact]
    public async Task BeginConditionalWriteAsync_StoreFailsWhileTheClockIsLearned_AsksAgainInsteadOfGivingUpOnIt()
    {
        var store = new ClockStore();
        using var cache = new StampedeCache(new StampedeCacheOptions(), distributedStore: store);

        using (await cache.BeginConditionalWriteAsync()) { } // the first clock read throws
        using (await cache.BeginConditionalWriteAsync()) { } // asked again: learned
        using (await cache.BeginConditionalWriteAsync()) { } // learned less than a second ago: not asked

        store.ClockReads.Should().Be(2);
    }

    /// <summary>A store with a clock whose first read that asks for it throws.</summary>
    private sealed class ClockStore : IStampedeDistributedStore
    {
        public int ClockReads;

        public bool SupportsLocking => false;

        public ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
        {
            if (options.RequireStamp && Interlocked.Increment(ref ClockReads) == 1)
            {
                throw new InvalidOperationException("a blip");
            }

            return ValueTask.FromResult(new DistributedReadResult { Outcome = DistributedOutcome.Done, Stamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 });
        }

        public ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new DistributedWriteResult { Outcome = DistributedOutcome.Done });

        public ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) => ReadAsync(key, default, cancellationToken);

        public ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidation invalidation, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new DistributedInvalidationResult { Outcome = DistributedOutcome.Done });

        public ValueTask<DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new DistributedTagsResult { Outcome = DistributedOutcome.Done, Stamps = tags.Select(_ => 0L).ToList() });
    }
}

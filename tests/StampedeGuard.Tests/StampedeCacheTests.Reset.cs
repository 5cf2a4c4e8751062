using StampedeGuard.Distributed;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    /// <summary>
    /// The race the history checker caught on CI (KillPubSubClients: a node's GetOrCreate returned its own older SetAsync
    /// value after a newer one had returned): a run reads the store just before this node's SetAsync writes it, the
    /// backplane then resets the node (its subscription broke), and the run stores what it read. The reset dropped the
    /// newer entry that would have refused the older one, so the run must not store at all.
    /// </summary>
    [Fact]
    public async Task GetOrCreateAsync_RunReadBeforeANewerSetAndStoresAfterAReset_KeepsNothingLocally()
    {
        var clock = new FakeTimeProvider();
        var store = new VersionedGatedStore(CacheHarness.NewL2());
        var backplane = new ResettableBackplane();
        using var other = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, distributedStore: store);
        using var node = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, distributedStore: store, backplane: backplane);
        await other.SetAsync("k", "older");
        await node.TryGetAsync<string>("k", new StampedeCacheEntryOptions { SkipLocalCacheWrite = true }); // the node has learned the store's clock

        var writeEntered = store.HoldNextWrite();
        var set = node.SetAsync("k", "newer").AsTask();
        await writeEntered; // SetAsync has superseded the runs there were, and has not written yet
        var readEntered = store.HoldNextRead();
        var run = node.GetOrCreateAsync("k", _ => new ValueTask<string>("factory")).AsTask();
        await readEntered; // the run read "older" (version 1)
        store.ReleaseWrite();
        await set; // "newer" (version 2) is in the store and in L1
        backplane.Reset(); // the subscription broke: L1 is dropped, with the version that refused older states
        store.ReleaseRead();
        var concurrent = await run;
        var after = await node.TryGetAsync<string>("k");

        concurrent.Should().Be("older", "the run was concurrent with the set: either value is allowed for it, and it read the older");
        after.Value.Should().Be("newer", "the set returned before this read was invoked, on the same node");
    }

    /// <summary>
    /// The race the history checker caught on Garnet (StopWorker: a node's GetOrCreate returned its own older SetAsync
    /// value 10 ms after a newer one had returned): the newer set is in the store, another node's ExpireAsync follows it
    /// there, and its message reaches this node before the set's own local write. The expiry must not be applied to the
    /// older value this node still holds (it was not the value expired), or the set's local write, older than the
    /// expiry, is refused and the older value is served as stale.
    /// </summary>
    [Fact]
    public async Task SetAsync_AnotherNodesExpiryOfItArrivesBeforeItsLocalWrite_NeverServesTheValueBeforeIt()
    {
        var clock = new FakeTimeProvider();
        var store = new VersionedGatedStore(CacheHarness.NewL2());
        var backplane = new ResettableBackplane();
        using var node = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, distributedStore: store, backplane: backplane);
        await node.SetAsync("k", "older"); // version 1, in L1

        var applied = store.HoldNextWriteResult();
        var set = node.SetAsync("k", "newer").AsTask();
        await applied; // "newer" is in the store (version 2), not yet in L1
        var expiry = await store.InvalidateAsync(new DistributedInvalidation { Kind = DistributedInvalidationKind.Expire, Key = "k", TimeToLive = TimeSpan.FromMinutes(1) }, default);
        backplane.Deliver(new BackplaneMessage { Kind = BackplaneMessageKind.Expire, Key = "k", Version = expiry.Version }); // version 3
        store.ReleaseWriteResult();
        await set;
        var after = await node.TryGetAsync<string>("k");

        after.Value.Should().Be("newer", "the set returned before this read was invoked, on the same node; the expiry makes it stale, not older");
    }

    /// <summary>
    /// The race the history checker caught at 120 s (StopWorker, seed 594723706): a node's run began, the process was
    /// stopped, another node's RemoveAsync returned meanwhile, and at resume a new call joined the run begun before the
    /// removal (the node had not heard it yet), getting a value the removal superseded 2 s after it returned. After a
    /// reset (messages may have been lost), a caller may share a run begun before it only while the run is younger
    /// than the backplane's trust period; an older run is left to its callers and a new one starts. Without a reset a
    /// run is shared however long it takes: the node heard every message up to now.
    /// </summary>
    [Theory]
    [InlineData(1500, true, true)] // older than the trust period: a removal this node never heard may have superseded it
    [InlineData(500, true, false)] // younger: every removal that returned before the period began returned before the run did
    [InlineData(5000, false, false)] // no reset: shared past the trust period
    public async Task GetOrCreateAsync_RunBegunBeforeAReset_SharedOnlyWhileYoungerThanTheTrustPeriod(int runAgeMs, bool reset, bool newRun)
    {
        var clock = new FakeTimeProvider();
        var backplane = new ResettableBackplane();
        using var node = new StampedeCache(new StampedeCacheOptions { TimeProvider = clock }, distributedStore: new VersionedGatedStore(CacheHarness.NewL2()), backplane: backplane);
        backplane.Deliver(Alive);
        var calls = new int[1];
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = await HeldRunAsync(node, "begun first", release.Task, calls);

        if (reset)
        {
            backplane.Reset();
        }

        clock.Advance(TimeSpan.FromMilliseconds(runAgeMs));
        backplane.Deliver(Alive); // heard again
        var second = node.GetOrCreateAsync("k", _ =>
        {
            Interlocked.Increment(ref calls[0]);
            return new ValueTask<string>("begun later");
        }).AsTask();
        if (newRun)
        {
            (await Poll.Within(second, "the new caller's own run answers while the old run is still held")).Should().Be("begun later");
        }

        release.SetResult();
        (await first).Should().Be("begun first", "its own caller invoked it before anything could supersede it");
        (await second).Should().Be(newRun ? "begun later" : "begun first");
        calls[0].Should().Be(newRun ? 2 : 1);
        (await node.TryGetAsync<string>("k")).Value.Should().Be(newRun ? "begun later" : "begun first", "the replaced run stores nothing");
    }

    /// <summary>The backplane's word that nothing was lost up to now, trusted for one second.</summary>
    private static BackplaneMessage Alive => new() { Kind = BackplaneMessageKind.Alive, Timestamp = TimeSpan.FromSeconds(1).Ticks };

    /// <summary>Starts a run of "k" that counts itself in <paramref name="calls"/> and returns <paramref name="value"/> once <paramref name="release"/> completes; returns when it has begun.</summary>
    private static async Task<Task<string>> HeldRunAsync(StampedeCache node, string value, Task release, int[] calls)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = node.GetOrCreateAsync("k", async ct =>
        {
            Interlocked.Increment(ref calls[0]);
            started.SetResult();
            await release.WaitAsync(ct);
            return value;
        }).AsTask();
        await started.Task;
        return run;
    }

    /// <summary>A store over an IDistributedCache that versions every write (1, 2, ...) and can hold one read or write mid-way.</summary>
    private sealed class VersionedGatedStore(Microsoft.Extensions.Caching.Distributed.IDistributedCache cache) : IStampedeDistributedStore
    {
        private readonly DistributedCacheStore _inner = new(cache);
        private long _version;
        private TaskCompletionSource? _readHeld;
        private TaskCompletionSource? _readEntered;
        private TaskCompletionSource? _writeHeld;
        private TaskCompletionSource? _writeEntered;
        private TaskCompletionSource? _resultHeld;
        private TaskCompletionSource? _resultEntered;

        public bool SupportsLocking => false;

        public Task HoldNextRead()
        {
            _readHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _readEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _readEntered.Task;
        }

        public void ReleaseRead() => _readHeld!.SetResult();

        public Task HoldNextWrite()
        {
            _writeHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _writeEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _writeEntered.Task;
        }

        public void ReleaseWrite() => _writeHeld!.SetResult();

        /// <summary>Holds the next write after it is applied and versioned, before it answers.</summary>
        public Task HoldNextWriteResult()
        {
            _resultHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _resultEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _resultEntered.Task;
        }

        public void ReleaseWriteResult() => _resultHeld!.SetResult();

        public async ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
        {
            var read = await _inner.ReadAsync(key, options, cancellationToken);
            var version = Interlocked.Read(ref _version);
            if (Interlocked.Exchange(ref _readEntered, null) is { } entered)
            {
                entered.SetResult();
                await _readHeld!.Task;
            }

            return read with { Version = version };
        }

        public async ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _writeEntered, null) is { } entered)
            {
                entered.SetResult();
                await _writeHeld!.Task;
            }

            await _inner.WriteAsync(key, envelope, options, cancellationToken);
            var version = Interlocked.Increment(ref _version);
            if (Interlocked.Exchange(ref _resultEntered, null) is { } applied)
            {
                applied.SetResult();
                await _resultHeld!.Task;
            }

            return new DistributedWriteResult { Outcome = DistributedOutcome.Done, Version = version };
        }

        public ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) => ReadAsync(key, default, cancellationToken);

        public async ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidation invalidation, CancellationToken cancellationToken)
        {
            var result = await _inner.InvalidateAsync(invalidation, cancellationToken);
            return result with { Version = Interlocked.Increment(ref _version) };
        }

        public ValueTask<DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken) => _inner.ReadTagInvalidationsAsync(tags, cancellationToken);
    }

    /// <summary>A backplane with no other node: the test raises the Reset a real one raises when its subscription breaks, or another node's message.</summary>
    private sealed class ResettableBackplane : IStampedeBackplane
    {
        private Action<BackplaneMessage>? _handler;

        public void Reset() => _handler!(new BackplaneMessage { Kind = BackplaneMessageKind.Reset, Key = string.Empty });

        /// <summary>Delivers a message as if another node had sent it.</summary>
        public void Deliver(BackplaneMessage message) => _handler!(message);

        public ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken) => default;

        public IDisposable Subscribe(Action<BackplaneMessage> handler)
        {
            _handler = handler;
            return new CancellationTokenSource();
        }
    }
}

using Microsoft.Extensions.Caching.Distributed;
using StampedeGuard.Distributed;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>
/// A store with a barrier over an <see cref="IDistributedCache"/>: a read of a missing key takes the lock; fenced
/// writes are refused while <see cref="RefuseFencedWrites"/> is set (as when the lease expired and another node took
/// over). The engine's reaction to a refusal is under test here, not a store's locking.
/// </summary>
internal sealed class FencingStore(IDistributedCache cache) : IStampedeDistributedStore
{
    private readonly DistributedCacheStore _inner = new(cache);

    private readonly CancellationTokenSource _leaseLost = new();
    private int _writes;

    public bool RefuseFencedWrites { get; set; }

    /// <summary>Gets or sets whether fenced writes fail as when the store cannot be reached (not a refusal).</summary>
    public bool UnavailableFencedWrites { get; set; }

    /// <summary>Gets how many writes reached the underlying cache.</summary>
    public int Writes => Volatile.Read(ref _writes);

    /// <summary>Signals every lease given out as lost (what a store's watchdog does when an extension is refused).</summary>
    public void LoseLeases() => _leaseLost.Cancel();

    public bool SupportsLocking => true;

    public async ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
    {
        var read = await _inner.ReadAsync(key, options, cancellationToken);
        return read.Envelope is null && options.LockMode == DistributedLockMode.AcquireIfNotFresh ? read with { Lease = new Lease(key, _leaseLost.Token) } : read;
    }

    public ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken)
    {
        if (options.Lease is not null && RefuseFencedWrites)
        {
            return ValueTask.FromResult(new DistributedWriteResult { Outcome = DistributedOutcome.LeaseLost });
        }

        if (options.Lease is not null && UnavailableFencedWrites)
        {
            return ValueTask.FromResult(new DistributedWriteResult { Outcome = DistributedOutcome.Unavailable });
        }

        Interlocked.Increment(ref _writes);
        return _inner.WriteAsync(key, envelope, options, cancellationToken);
    }

    public ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) => _inner.WaitForValueAsync(key, maxWait, cancellationToken);

    public ValueTask<DistributedInvalidationResult> InvalidateAsync(DistributedInvalidation invalidation, CancellationToken cancellationToken) => _inner.InvalidateAsync(invalidation, cancellationToken);

    public ValueTask<DistributedTagsResult> ReadTagInvalidationsAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken) => _inner.ReadTagInvalidationsAsync(tags, cancellationToken);

    private sealed class Lease(string name, CancellationToken leaseLost) : StampedeLease
    {
        public override string Name => name;

        public override string Token => "test";

        public override CancellationToken LeaseLost => leaseLost;

        public override ValueTask ReleaseAsync() => default;
    }
}

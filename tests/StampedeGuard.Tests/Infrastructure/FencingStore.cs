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

    public bool RefuseFencedWrites { get; set; }

    public bool SupportsLocking => true;

    public async ValueTask<DistributedReadResult> ReadAsync(string key, DistributedReadOptions options, CancellationToken cancellationToken)
    {
        var read = await _inner.ReadAsync(key, options, cancellationToken);
        return read.Envelope is null && options.LockMode == DistributedLockMode.AcquireIfNotFresh ? read with { Lease = new Lease(key) } : read;
    }

    public ValueTask<DistributedWriteResult> WriteAsync(string key, ReadOnlyMemory<byte> envelope, DistributedWriteOptions options, CancellationToken cancellationToken) =>
        options.Lease is not null && RefuseFencedWrites ? ValueTask.FromResult(new DistributedWriteResult(false, false)) : _inner.WriteAsync(key, envelope, options, cancellationToken);

    public ValueTask<StampedeLease?> TryAcquireLockAsync(string key, TimeSpan leaseDuration, CancellationToken cancellationToken) => default;

    public ValueTask<DistributedReadResult> WaitForValueAsync(string key, TimeSpan maxWait, CancellationToken cancellationToken) => _inner.WaitForValueAsync(key, maxWait, cancellationToken);

    public ValueTask RemoveAsync(string key, CancellationToken cancellationToken) => _inner.RemoveAsync(key, cancellationToken);

    private sealed class Lease(string name) : StampedeLease
    {
        public override string Name => name;

        public override string Token => "test";

        public override CancellationToken LeaseLost => CancellationToken.None;

        public override ValueTask ReleaseAsync() => default;
    }
}

using Microsoft.Extensions.Caching.Distributed;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>An <see cref="IDistributedCache"/> that completes every async call asynchronously, like a network store.</summary>
internal sealed class AsyncDistributedCache(IDistributedCache inner) : IDistributedCache
{
    private volatile TaskCompletionSource? _readGate;
    private TaskCompletionSource? _nextWriteGate;
    private int _heldWrites;

    /// <summary>Gets how many writes are waiting on a gate from <see cref="HoldNextWrite"/>.</summary>
    public int HeldWrites => Volatile.Read(ref _heldWrites);

    /// <summary>Makes the next write (only that one) wait until the returned gate is completed.</summary>
    public TaskCompletionSource HoldNextWrite()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _nextWriteGate, gate);
        return gate;
    }

    /// <summary>Makes the next reads wait until <see cref="OpenReads"/>.</summary>
    public void HoldReads() => _readGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void OpenReads() => _readGate?.TrySetResult();

    public byte[]? Get(string key) => inner.Get(key);

    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        await Task.Yield();
        if (_readGate is { } gate)
        {
            await gate.Task;
        }

        return await inner.GetAsync(key, token);
    }

    public void Refresh(string key) => inner.Refresh(key);

    public async Task RefreshAsync(string key, CancellationToken token = default)
    {
        await Task.Yield();
        await inner.RefreshAsync(key, token);
    }

    public void Remove(string key) => inner.Remove(key);

    public async Task RemoveAsync(string key, CancellationToken token = default)
    {
        await Task.Yield();
        await inner.RemoveAsync(key, token);
    }

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => inner.Set(key, value, options);

    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        await Task.Yield();
        if (Interlocked.Exchange(ref _nextWriteGate, null) is { } gate)
        {
            Interlocked.Increment(ref _heldWrites);
            await gate.Task;
            Interlocked.Decrement(ref _heldWrites);
        }

        await inner.SetAsync(key, value, options, token);
    }
}

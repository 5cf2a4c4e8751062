using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>An <see cref="IMemoryCache"/> that throws on every call: proves a code path never touches L1.</summary>
internal sealed class ThrowingMemoryCache : IMemoryCache
{
    public int Calls { get; private set; }

    public ICacheEntry CreateEntry(object key) => Throw<ICacheEntry>();

    public void Remove(object key) => Throw<bool>();

    public bool TryGetValue(object key, out object? value)
    {
        value = null;
        return Throw<bool>();
    }

    public void Dispose()
    {
    }

    private TResult Throw<TResult>()
    {
        Calls++;
        throw new InvalidOperationException("L1 must not be used.");
    }
}

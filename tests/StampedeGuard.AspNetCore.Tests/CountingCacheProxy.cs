using System.Collections.Concurrent;
using System.Reflection;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>An <see cref="IStampedeCache"/> that forwards every call to a real one and counts calls by method name.</summary>
public class CountingCacheProxy : DispatchProxy
{
    private IStampedeCache _inner = null!;

    public ConcurrentDictionary<string, int> Calls { get; } = new();

    public static (IStampedeCache Cache, CountingCacheProxy Counter) Wrap(IStampedeCache inner)
    {
        var cache = Create<IStampedeCache, CountingCacheProxy>();
        var counter = (CountingCacheProxy)(object)cache;
        counter._inner = inner;
        return (cache, counter);
    }

    public int Count(string method) => Calls.TryGetValue(method, out var n) ? n : 0;

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        Calls.AddOrUpdate(targetMethod.Name, 1, (_, n) => n + 1);
        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerException);
            throw;
        }
    }
}

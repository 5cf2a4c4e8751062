using StampedeGuard.Locking;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The engine the response cache stores through: the app's <see cref="IStampedeCache"/> when one is registered (in
/// any order with <c>AddStampedeGuard</c>), otherwise a private in-memory one; the one clock both use; and, when the
/// app registered a distributed <see cref="IStampedeLock"/> (for example with <c>AddRedis</c>), the cross-instance barrier.
/// </summary>
internal sealed class ResponseCacheEngine(IStampedeCache cache, bool owned, TimeProvider time, IStampedeLock? barrier) : IDisposable
{
    public IStampedeCache Cache { get; } = cache;

    public TimeProvider Time { get; } = time;

    /// <summary>Gets the distributed lock origin executions take so one instance of a cluster runs the origin; null in-process only.</summary>
    public IStampedeLock? Barrier { get; } = barrier;

    /// <summary>The engine's clock: <see cref="StampedeCacheOptions.TimeProvider"/> when set, else a registered <see cref="TimeProvider"/>, else the system clock.</summary>
    public static TimeProvider ResolveTime(IServiceProvider services)
    {
        var configured = services.GetService<IOptions<StampedeCacheOptions>>()?.Value.TimeProvider;
        if (configured is not null && !ReferenceEquals(configured, TimeProvider.System))
        {
            return configured;
        }

        return services.GetService<TimeProvider>() ?? TimeProvider.System;
    }

    /// <summary>A registered lock that is not the in-process one: the flight already collapses within the process.</summary>
    public static IStampedeLock? ResolveBarrier(IServiceProvider services) =>
        services.GetService<IStampedeLock>() is { } candidate and not StampedeLocalLock ? candidate : null;

    public void Dispose()
    {
        if (owned && Cache is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}

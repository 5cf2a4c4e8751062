using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace StampedeGuard.AspNetCore.Internal;

/// <summary>
/// The engine the response cache stores through: the app's <see cref="IStampedeCache"/> when one is registered (in
/// any order with <c>AddStampedeGuard</c>), otherwise a private in-memory one; and the one clock both use. The
/// cross-instance barrier is the engine's (<see cref="StampedeCache.ReadOrAcquireAsync{T}"/>).
/// </summary>
internal sealed class ResponseCacheEngine(IStampedeCache cache, bool owned, TimeProvider time) : IDisposable
{
    public IStampedeCache Cache { get; } = cache;

    public TimeProvider Time { get; } = time;

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

    public void Dispose()
    {
        if (owned && Cache is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}

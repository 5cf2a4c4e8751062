using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Internal;

namespace StampedeGuard.HybridConformance.Tests.Infrastructure;

/// <summary>
/// One HybridCache of the chosen implementation, configured the way each documents: Microsoft's with
/// <c>AddHybridCache(options)</c>; StampedeGuard's with <c>Configure&lt;HybridCacheOptions&gt;</c> +
/// <c>AddStampedeGuard()</c>, and <c>.UseDistributedCache()</c> when the test registers an <see cref="IDistributedCache"/>
/// (<c>.UseRegisteredMemoryCache()</c> too for <see cref="Implementation.StampedeGuardRegisteredMemoryCache"/>).
/// Both see the same clock, a <see cref="TestClock"/> unless the test passes another (registered as <see cref="TimeProvider"/>; MemoryCache uses it too unless
/// the test registers its own <see cref="IMemoryCache"/>).
/// </summary>
public sealed class HybridHost : IDisposable
{
    private readonly ServiceProvider _provider;

    private HybridHost(ServiceProvider provider, HandMovedClock clock)
    {
        _provider = provider;
        Clock = clock;
    }

    public HybridCache Cache => _provider.GetRequiredService<HybridCache>();

    public HandMovedClock Clock { get; }

    public IServiceProvider Services => _provider;

    public static HybridHost Create(Implementation implementation, Action<IServiceCollection>? services = null, Action<HybridCacheOptions>? options = null, HandMovedClock? clock = null)
    {
        clock ??= new TestClock();
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(clock);
        collection.AddSingleton<ISystemClock>(clock);
        services?.Invoke(collection);
        collection.TryAddSingleton<IMemoryCache>(new MemoryCache(new MemoryCacheOptions { Clock = clock }));
        if (implementation == Implementation.Microsoft)
        {
            collection.AddHybridCache(o => options?.Invoke(o));
        }
        else
        {
            collection.Configure<HybridCacheOptions>(o => options?.Invoke(o));
            var builder = collection.AddStampedeGuard();
            if (collection.Any(d => d.ServiceType == typeof(IDistributedCache)))
            {
                builder.UseDistributedCache();
            }

            if (implementation == Implementation.StampedeGuardRegisteredMemoryCache)
            {
                builder.UseRegisteredMemoryCache();
            }
        }

        return new HybridHost(collection.BuildServiceProvider(), clock);
    }

    public void Dispose() => _provider.Dispose();
}

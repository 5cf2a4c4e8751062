using FluentAssertions;
using Microsoft.Extensions.Caching.Distributed;
using StampedeGuard.Tests.Hybrid;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace StampedeGuard.Tests.Integration;

public sealed class HybridCacheAdapterTests : IDisposable
{
    private readonly ServiceProvider _provider = new ServiceCollection().AddStampedeGuard().Services.BuildServiceProvider();

    private HybridCache Hybrid => _provider.GetRequiredService<HybridCache>();

    public void Dispose() => _provider.Dispose();

    [Fact]
    public async Task GetOrCreateAsync_ConcurrentCallersThroughHybridCache_RunTheFactoryOnce()
    {
        var runs = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callers = Enumerable.Range(0, 200).Select(_ => Task.Run(() => Hybrid.GetOrCreateAsync("k", async ct =>
        {
            Interlocked.Increment(ref runs);
            await gate.Task;
            return 42;
        }).AsTask())).ToArray();

        await WaitUntil(() => Volatile.Read(ref runs) == 1);
        await WaitUntil(() => _provider.GetRequiredService<StampedeCache>().FlightCount == 1);
        gate.SetResult();

        (await Task.WhenAll(callers)).Should().AllBeEquivalentTo(42);
        runs.Should().Be(1);
    }

    [Fact]
    public async Task RemoveByTagAsync_ThroughHybridCache_InvalidatesTaggedEntriesOnly()
    {
        await Hybrid.SetAsync("a", 1, tags: ["t"]);
        await Hybrid.SetAsync("b", 2, tags: ["other"]);

        await Hybrid.RemoveByTagAsync("t");

        (await Hybrid.GetOrCreateAsync("a", _ => ValueTask.FromResult(10))).Should().Be(10, "the tagged entry was invalidated");
        (await Hybrid.GetOrCreateAsync("b", _ => ValueTask.FromResult(20))).Should().Be(2, "the other entry survives");
    }

    [Fact]
    public async Task GetOrCreateAsync_WithExpiration_MapsToDuration()
    {
        var time = new TestSupport.FakeTimeProvider();
        using var provider = new ServiceCollection().AddStampedeGuard(o => o.TimeProvider = time).Services.BuildServiceProvider();
        var hybrid = provider.GetRequiredService<HybridCache>();
        var options = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(10) };
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref runs));

        await hybrid.GetOrCreateAsync("k", Factory, options);
        time.Advance(TimeSpan.FromSeconds(9));
        await hybrid.GetOrCreateAsync("k", Factory, options);
        runs.Should().Be(1);
        time.Advance(TimeSpan.FromSeconds(2));
        (await hybrid.GetOrCreateAsync("k", Factory, options)).Should().Be(2);
    }

    [Fact]
    public async Task GetOrCreateAsync_DisableUnderlyingData_NeverRunsTheFactory()
    {
        var options = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData };

        var value = await Hybrid.GetOrCreateAsync<int>("missing", _ => throw new InvalidOperationException("must not run"), options);

        value.Should().Be(0);
    }

    [Fact]
    public void AddStampedeGuard_AfterAddHybridCache_StampedeGuardServesHybridCache()
    {
        var services = new ServiceCollection();
        services.AddHybridCache();
        services.AddStampedeGuard();
        using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<HybridCache>().GetType().Assembly.Should().BeSameAs(typeof(StampedeCache).Assembly);
    }

    [Fact]
    public void AddHybridCache_AfterAddStampedeGuard_StampedeGuardStillServesHybridCache()
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard();
        services.AddHybridCache();
        using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<HybridCache>().GetType().Assembly.Should().BeSameAs(typeof(StampedeCache).Assembly, "AddHybridCache registers with TryAdd");
    }

    [Fact]
    public void AddSingletonHybridCache_AfterAddStampedeGuard_LastRegistrationWins()
    {
        var mine = new ServiceCollection().AddStampedeGuard().Services.BuildServiceProvider().GetRequiredService<HybridCache>();
        var services = new ServiceCollection();
        services.AddStampedeGuard();
        services.AddSingleton(mine);
        using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<HybridCache>().Should().BeSameAs(mine);
    }

    [Fact]
    public async Task AddStampedeGuard_IDistributedCacheRegisteredWithoutUseDistributedCache_NotUsed()
    {
        var l2 = new CountingDistributedCache();
        var services = new ServiceCollection();
        services.AddSingleton<IDistributedCache>(l2);
        services.AddStampedeGuard();
        using var provider = services.BuildServiceProvider();

        await provider.GetRequiredService<HybridCache>().GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        (l2.Gets, l2.Sets).Should().Be((0, 0), "the distributed tier is opt-in: UseDistributedCache()");
    }

    [Fact]
    public async Task AddStampedeGuard_UseDistributedCache_ReadsAndWritesTheRegisteredCache()
    {
        var l2 = new CountingDistributedCache();
        var services = new ServiceCollection();
        services.AddSingleton<IDistributedCache>(l2);
        services.AddStampedeGuard().UseDistributedCache();
        using var provider = services.BuildServiceProvider();

        await provider.GetRequiredService<HybridCache>().GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        l2.Gets.Should().BeGreaterThan(0);
        l2.Sets.Should().Be(1);
    }

    [Fact]
    public void AddStampedeGuard_HybridCacheOptionsLimits_MapOntoStampedeCacheOptions()
    {
        var services = new ServiceCollection();
        services.AddHybridCache(o =>
        {
            o.MaximumKeyLength = 77;
            o.MaximumPayloadBytes = 4096;
        });
        services.AddStampedeGuard(o => o.MaximumKeyLength = 500);
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<StampedeCache>().Options;

        (options.MaximumKeyLength, options.MaximumPayloadBytes).Should().Be((77, 4096));
    }

    [Fact]
    public void AddStampedeGuard_HybridCacheOptionsAtDefaults_KeepStampedeCacheOptions()
    {
        var services = new ServiceCollection();
        services.AddHybridCache();
        services.AddStampedeGuard(o => (o.MaximumKeyLength, o.MaximumPayloadBytes) = (500, 2048));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<StampedeCache>().Options;

        (options.MaximumKeyLength, options.MaximumPayloadBytes).Should().Be((500, 2048));
    }

    [Fact]
    public void AddStampedeGuard_TimeProviderInDI_UsedWhenOptionsKeepTheSystemClock()
    {
        var clock = new TestSupport.FakeTimeProvider();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(clock);
        services.AddStampedeGuard();
        using var provider = services.BuildServiceProvider();

        provider.GetRequiredService<StampedeCache>().Options.TimeProvider.Should().BeSameAs(clock);
    }

    [Fact]
    public void AddStampedeGuard_Builder_IsAHybridCacheBuilderForAddSerializer()
    {
        var services = new ServiceCollection();

        services.AddStampedeGuard().AddSerializer<int, IntAsTextSerializer>();

        services.Should().Contain(d => d.ServiceType == typeof(IHybridCacheSerializer<int>) && d.ImplementationType == typeof(IntAsTextSerializer));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the condition should hold within 10 s");
            await Task.Delay(1);
        }
    }
}

using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;

namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Microsoft's StampedeTests: concurrent callers of one key share one factory run; each caller's cancellation ends only
/// its own wait; the factory's token is cancelled only when every caller has gone. Both tiers are disabled through
/// <c>DefaultEntryOptions.Flags</c> and replaced by caches that throw, so every round runs the factory again.
/// </summary>
public sealed class StampedeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static HybridHost Host(Implementation implementation) => HybridHost.Create(
        implementation,
        services =>
        {
            var throwing = new ThrowingCache();
            services.AddSingleton<IMemoryCache>(throwing);
            services.AddSingleton<IDistributedCache>(throwing);
        },
        o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache | HybridCacheEntryFlags.DisableDistributedCache });

    [Theory]
    [Both(1, false)]
    [Both(1, true)]
    [Both(10, false)]
    [Both(10, true)]
    public async Task GetOrCreateAsync_ConcurrentCallers_ShareOneRunPerRound(Implementation implementation, int callers, bool cancellable)
    {
        using var host = Host(implementation);
        using var cts = cancellable ? new CancellationTokenSource() : null;
        var token = cts?.Token ?? CancellationToken.None;
        var runs = 0;
        var cancels = 0;
        Guid? previous = null;
        for (var round = 0; round < 2; round++)
        {
            using var gate = new SemaphoreSlim(0);
            runs = 0;
            var results = Enumerable.Range(0, callers).Select(_ => host.Cache.GetOrCreateAsync("key", async ct =>
            {
                using var registration = ct.Register(() => Interlocked.Increment(ref cancels));
                (await gate.WaitAsync(Bound, CancellationToken.None)).Should().BeTrue("the test releases the gate");
                Interlocked.Increment(ref runs);
                return Guid.NewGuid();
            }, cancellationToken: token).AsTask()).ToArray();

            Volatile.Read(ref runs).Should().Be(0);
            gate.Release();
            var values = await Task.WhenAll(results).WaitAsync(Bound);

            values.Distinct().Should().ContainSingle("every caller gets the one run's value");
            runs.Should().Be(1);
            cancels.Should().Be(0);
            values[0].Should().NotBe(previous ?? Guid.Empty, "no tier may keep the value between rounds");
            previous = values[0];
        }
    }

    [Theory]
    [Both(1)]
    [Both(10)]
    public async Task GetOrCreateAsync_EveryCallerCancels_EachGetsItsOwnCancellationAndTheFactoryTokenIsCancelled(Implementation implementation, int callers)
    {
        using var host = Host(implementation);
        using var gate = new SemaphoreSlim(0);
        var factoryDone = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        var sources = Enumerable.Range(0, callers).Select(_ => new CancellationTokenSource()).ToArray();
        var results = sources.Select(cts => host.Cache.GetOrCreateAsync("key", async ct =>
        {
            (await gate.WaitAsync(Bound, CancellationToken.None)).Should().BeTrue();
            Interlocked.Increment(ref runs);
            factoryDone.TrySetResult(ct.IsCancellationRequested);
            ct.ThrowIfCancellationRequested();
            return Guid.NewGuid();
        }, cancellationToken: cts.Token).AsTask()).ToArray();

        foreach (var cts in sources)
        {
            cts.Cancel();
        }

        for (var i = 0; i < callers; i++)
        {
            var act = () => results[i].WaitAsync(Bound);
            (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(sources[i].Token, "each caller is blamed on its own token");
        }

        runs.Should().Be(0, "the factory is still behind the gate");
        gate.Release();
        (await factoryDone.Task.WaitAsync(Bound)).Should().BeTrue("the factory's token is cancelled once every caller has gone");
        runs.Should().Be(1);
    }

    [Theory]
    [Both(2, 0)]
    [Both(2, 1)]
    [Both(10, 0)]
    [Both(10, 7)]
    public async Task GetOrCreateAsync_AllButOneCancel_TheRemainingCallerGetsTheValue(Implementation implementation, int callers, int remaining)
    {
        using var host = Host(implementation);
        using var gate = new SemaphoreSlim(0);
        var runs = 0;
        var factoryCancelled = false;
        var sources = Enumerable.Range(0, callers).Select(_ => new CancellationTokenSource()).ToArray();
        var results = sources.Select(cts => host.Cache.GetOrCreateAsync("key", async ct =>
        {
            (await gate.WaitAsync(Bound, CancellationToken.None)).Should().BeTrue();
            Interlocked.Increment(ref runs);
            factoryCancelled = ct.IsCancellationRequested;
            return Guid.NewGuid();
        }, cancellationToken: cts.Token).AsTask()).ToArray();

        for (var i = 0; i < callers; i++)
        {
            if (i != remaining)
            {
                sources[i].Cancel();
            }
        }

        for (var i = 0; i < callers; i++)
        {
            if (i != remaining)
            {
                var act = () => results[i].WaitAsync(Bound);
                (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(sources[i].Token);
            }
        }

        gate.Release();
        var value = await results[remaining].WaitAsync(Bound);

        value.Should().NotBeEmpty();
        runs.Should().Be(1);
        factoryCancelled.Should().BeFalse("one caller still wanted the value");
    }

    [Theory]
    [Both(false)]
    [Both(true)]
    public async Task GetOrCreateAsync_ImmutableType_EveryCallerGetsTheSameInstance(Implementation implementation, bool cancellable)
    {
        using var host = Host(implementation);
        var (first, second) = await TwoConcurrentCallers(host, () => new ImmutableSealed("value"), cancellable);

        first.Should().BeSameAs(second);
    }

    [Theory]
    [Both(false)]
    [Both(true)]
    public async Task GetOrCreateAsync_String_EveryCallerGetsTheSameInstance(Implementation implementation, bool cancellable)
    {
        using var host = Host(implementation);
        var (first, second) = await TwoConcurrentCallers(host, () => new string('x', 3), cancellable);

        first.Should().BeSameAs(second);
    }

    [Theory]
    [Both(false)]
    [Both(true)]
    public async Task GetOrCreateAsync_MutableType_EveryCallerGetsItsOwnCopy(Implementation implementation, bool cancellable)
    {
        using var host = Host(implementation);
        var (first, second) = await TwoConcurrentCallers(host, () => new MutablePoco { Value = "value" }, cancellable);

        first.Should().NotBeSameAs(second);
        first.Value.Should().Be("value");
        second.Value.Should().Be("value");
    }

    private static async Task<(T First, T Second)> TwoConcurrentCallers<T>(HybridHost host, Func<T> create, bool cancellable)
    {
        using var gate = new SemaphoreSlim(0);
        using var cts = new CancellationTokenSource();
        var token = cancellable ? cts.Token : CancellationToken.None;
        var runs = 0;
        async ValueTask<T> Factory(CancellationToken ct)
        {
            (await gate.WaitAsync(Bound, CancellationToken.None)).Should().BeTrue();
            Interlocked.Increment(ref runs);
            return create();
        }

        var first = host.Cache.GetOrCreateAsync("key", Factory, cancellationToken: token).AsTask();
        var second = host.Cache.GetOrCreateAsync("key", Factory, cancellationToken: token).AsTask();
        gate.Release();
        var values = await Task.WhenAll(first, second).WaitAsync(Bound);
        runs.Should().Be(1);
        return (values[0], values[1]);
    }
}

using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private const int Callers = 1_000;

    /// <summary>Starts <paramref name="count"/> calls from several threads released together by a barrier.</summary>
    private static async Task<List<Task<T>>> StartConcurrentAsync<T>(int count, Func<Task<T>> call)
    {
        const int threads = 8;
        var tasks = new Task<T>[count];
        using var barrier = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(w => Task.Factory.StartNew(
            () =>
            {
                barrier.SignalAndWait();
                for (var i = w; i < count; i += threads)
                {
                    tasks[i] = call();
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        await Poll.Within(Task.WhenAll(workers), "the callers to start");
        return [.. tasks];
    }

    [Fact]
    public async Task GetOrCreateAsync_ThousandConcurrentCallersOnMissingKey_RunFactoryOnceAndAllGetItsResult()
    {
        using var h = new CacheHarness();
        var factory = new GatedFactory<Payload>();

        var calls = await StartConcurrentAsync(Callers, () => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask());
        await Poll.UntilAsync(() => h.Metrics.Requests("miss") + h.Metrics.Requests("collapsed") == Callers, "every caller joined the flight");
        var produced = new Payload(42);
        factory.Release(produced);
        var results = await Poll.Within(Task.WhenAll(calls), "every caller to get the value");

        factory.Calls.Should().Be(1);
        results.Should().OnlyContain(r => ReferenceEquals(r, produced));
        h.Metrics.Requests("miss").Should().Be(1);
        h.Metrics.Requests("collapsed").Should().Be(Callers - 1);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryThrowsUnderThousandConcurrentCallers_AllGetTheSameExceptionFromOneRun()
    {
        using var h = new CacheHarness();
        var factory = new GatedFactory<Payload>();

        var calls = await StartConcurrentAsync(Callers, () => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask());
        await Poll.UntilAsync(() => h.Metrics.Requests("miss") + h.Metrics.Requests("collapsed") == Callers, "every caller joined the flight");
        var boom = new InvalidOperationException("origin down");
        factory.Fail(boom);
        await Poll.Within(Task.WhenAll(calls).ContinueWith(_ => { }, TaskScheduler.Default), "every caller to finish");

        factory.Calls.Should().Be(1);
        calls.Should().OnlyContain(t => t.IsFaulted && ReferenceEquals(t.Exception!.InnerException, boom));
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryThrew_NothingCachedAndNextCallRunsFactoryAgain()
    {
        using var h = new CacheHarness();
        var runs = 0;

        var first = async () => await h.Cache.GetOrCreateAsync<int>("k", _ => { runs++; throw new InvalidOperationException("down"); });
        await first.Should().ThrowAsync<InvalidOperationException>();
        var value = await h.Cache.GetOrCreateAsync("k", _ => { runs++; return ValueTask.FromResult(7); });

        value.Should().Be(7);
        runs.Should().Be(2);
    }

    [Fact]
    public async Task GetOrCreateAsync_NegativeCacheDurationSet_HitRethrowsSameExceptionWithoutRunningFactory()
    {
        using var h = new CacheHarness(o => o.NegativeCacheDuration = TimeSpan.FromSeconds(5));
        var runs = 0;
        var boom = new InvalidOperationException("down");
        ValueTask<int> Failing(CancellationToken _)
        {
            runs++;
            throw boom;
        }

        var first = async () => await h.Cache.GetOrCreateAsync<int>("k", Failing);
        await first.Should().ThrowAsync<InvalidOperationException>();
        h.Clock.Advance(TimeSpan.FromSeconds(4.9));
        var second = async () => await h.Cache.GetOrCreateAsync("k", _ => { runs++; return ValueTask.FromResult(1); });

        (await second.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(boom);
        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_NegativeCacheDurationPassed_RunsFactoryAgain()
    {
        using var h = new CacheHarness(o => o.NegativeCacheDuration = TimeSpan.FromSeconds(5));
        var first = async () => await h.Cache.GetOrCreateAsync<int>("k", _ => throw new InvalidOperationException("down"));
        await first.Should().ThrowAsync<InvalidOperationException>();

        h.Clock.Advance(TimeSpan.FromSeconds(5));
        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(3));

        value.Should().Be(3);
    }

    [Fact]
    public async Task GetOrCreateAsync_FreshEntry_ReturnsCachedValueWithoutFactoryRun()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
        h.Clock.Advance(TimeSpan.FromSeconds(9));

        var runs = 0;
        var value = await h.Cache.GetOrCreateAsync("k", _ => { runs++; return ValueTask.FromResult(2); });

        value.Should().Be(1);
        runs.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_PastDurationWithoutWindows_RunsFactoryAgain()
    {
        using var h = new CacheHarness(o => o.EarlyRefreshBeta = 0);
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        var value = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2));

        value.Should().Be(2);
    }

    [Fact]
    public async Task GetOrCreateAsync_ValueStoredInSharedL2ByAnotherInstance_LeaderRechecksL2AndRunsNoFactory()
    {
        var l2 = CacheHarness.NewL2();
        using var a = new CacheHarness(l2: l2);
        using var b = new CacheHarness(clock: a.Clock, l2: l2);
        await b.Cache.SetAsync("k", new Payload(5));

        var runs = 0;
        var value = await a.Cache.GetOrCreateAsync("k", _ => { runs++; return ValueTask.FromResult(new Payload(6)); });

        value.Should().Be(new Payload(5));
        runs.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryCallsDoNotCache_ValueReturnedButNotStored()
    {
        using var h = new CacheHarness();
        var runs = 0;
        ValueTask<int> Factory(int state, StampedeFactoryContext<int> context, CancellationToken _)
        {
            runs++;
            context.DoNotCache();
            return ValueTask.FromResult(state + runs);
        }

        var first = await h.Cache.GetOrCreateAsync<int, int>("k", 10, Factory);
        var second = await h.Cache.GetOrCreateAsync<int, int>("k", 10, Factory);

        (first, second, runs).Should().Be((11, 12, 2));
    }

    [Fact]
    public async Task GetOrCreateAsync_FactorySetsDurationOnContext_EntryExpiresByThatDuration()
    {
        using var h = new CacheHarness(o => o.EarlyRefreshBeta = 0);
        var runs = 0;
        ValueTask<int> Factory(int state, StampedeFactoryContext<int> context, CancellationToken _)
        {
            runs++;
            context.Options.Duration = TimeSpan.FromSeconds(1);
            return ValueTask.FromResult(runs);
        }

        await h.Cache.GetOrCreateAsync<int, int>("k", 0, Factory);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var value = await h.Cache.GetOrCreateAsync<int, int>("k", 0, Factory);

        value.Should().Be(2);
        h.Defaults.Duration.Should().Be(TimeSpan.FromSeconds(10), "the factory changed a copy, not the shared defaults");
    }

    [Fact]
    public async Task GetOrCreateAsync_DurationTimeSpanMaxValue_ValueIsCached()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.MaxValue);
        var runs = 0;

        await h.Cache.GetOrCreateAsync<int>("k", _ => ValueTask.FromResult(++runs));
        var second = await h.Cache.GetOrCreateAsync<int>("k", _ => ValueTask.FromResult(++runs));

        second.Should().Be(1, "a value cached 'forever' must be served from the cache");
        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_DurationOfThousandsOfYears_ValueIsCached()
    {
        using var h = new CacheHarness(o => o.Duration = TimeSpan.FromDays(365 * 9000));
        var runs = 0;

        var first = async () => await h.Cache.GetOrCreateAsync<int>("k", _ => ValueTask.FromResult(++runs));
        await first.Should().NotThrowAsync();
        var second = await h.Cache.GetOrCreateAsync<int>("k", _ => ValueTask.FromResult(++runs));

        second.Should().Be(1);
        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_SameKeyAsAnotherType_RunsFactoryAndReturnsItsValue()
    {
        using var h = new CacheHarness();
        await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1));

        var text = await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("one"));

        text.Should().Be("one");
    }

    internal sealed record Payload(int Number);
}

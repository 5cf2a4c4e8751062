using System.Collections.Concurrent;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    private const int AbandonedFactoryFailedEvent = 11;

    [Fact]
    public async Task GetOrCreateAsync_FactoryCallsItsOwnKey_ThrowsInvalidOperationNamingTheKeyAtOnce()
    {
        using var h = new CacheHarness(o => o.LockTimeout = Timeout.InfiniteTimeSpan);
        var runs = 0;
        async ValueTask<int> Factory(CancellationToken ct)
        {
            Interlocked.Increment(ref runs);
            return await h.Cache.GetOrCreateAsync("self", Factory, cancellationToken: ct) + 1;
        }

        var call = async () => await Poll.Within(h.Cache.GetOrCreateAsync("self", Factory).AsTask(), "the re-entrant call");

        (await call.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("'self'");
        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryCallsAnotherKey_IsNotReentrancy()
    {
        using var h = new CacheHarness();

        var value = await h.Cache.GetOrCreateAsync("outer", async ct => await h.Cache.GetOrCreateAsync("inner", _ => ValueTask.FromResult(1), cancellationToken: ct) + 1);

        value.Should().Be(2);
    }

    [Fact]
    public async Task Dispose_WhileLeaderFactoryHangs_EveryWaiterGetsObjectDisposedAndFactoryTokenIsCancelled()
    {
        var h = new CacheHarness(o => o.LockTimeout = Timeout.InfiniteTimeSpan);
        var factory = new GatedFactory<string>();
        var calls = Enumerable.Range(0, 5).Select(_ => h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToList();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Metrics.Requests("collapsed") == 4, "five callers on one run");

        h.Dispose();

        foreach (var call in calls)
        {
            await FluentActions.Awaiting(() => Poll.Within(call, "a waiter")).Should().ThrowAsync<ObjectDisposedException>();
        }

        factory.Tokens.Single().IsCancellationRequested.Should().BeTrue();
        var after = async () => await h.Cache.GetOrCreateAsync("other", _ => ValueTask.FromResult("x"));
        await after.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryFailsAfterHardTimeout_FailureObservedLoggedAndCounted()
    {
        const int runs = 20;
        var marker = Guid.NewGuid().ToString();
        var unobserved = new ConcurrentBag<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.ToString().Contains(marker, StringComparison.Ordinal))
            {
                unobserved.Add(e.Exception);
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            using var h = new CacheHarness(o => o.FactoryHardTimeout = TimeSpan.FromSeconds(1));
            var gates = new TaskCompletionSource<string>[runs];
            for (var i = 0; i < runs; i++)
            {
                var gate = gates[i] = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                var call = h.Cache.GetOrCreateAsync($"k{i}", async _ => await gate.Task).AsTask();
                await Poll.UntilAsync(() => h.Clock.ActiveTimers > 0, "the hard timeout timer");
                h.Clock.Advance(TimeSpan.FromSeconds(1));
                await FluentActions.Awaiting(() => Poll.Within(call, "the timed-out call")).Should().ThrowAsync<StampedeFactoryTimeoutException>();
                gate.SetException(new InvalidOperationException(marker));
            }

            await Poll.UntilAsync(() => h.LogsWithEventId(AbandonedFactoryFailedEvent).Count == runs, "every abandoned failure logged");
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            unobserved.Should().BeEmpty();
            h.Metrics.Counter("stampedeguard.factory.errors").Should().Be(2 * runs, "the timeout, then the late failure");
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }
    }

    /// <summary>
    /// The only caller cancels; the factory turns its cancelled token into its own IOException. Then a next call,
    /// whose factory returns "fresh": the run that followed the cancellation must have left nothing behind.
    /// </summary>
    private static async Task<string> CancelOnlyCallerThenCallAgainAsync(CacheHarness h)
    {
        using var cts = new CancellationTokenSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = h.Cache.GetOrCreateAsync<string>("k", async ct =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => { }, TaskScheduler.Default);
            throw new IOException("the connection was closed");
        }, cancellationToken: cts.Token).AsTask();
        await Poll.Within(started.Task, "the factory");

        await cts.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(call, "the cancelled caller")).Should().ThrowAsync<OperationCanceledException>();
        await Poll.UntilAsync(() => h.Cache.FlightCount == 0, "the cancelled run ended");
        return await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult("fresh"));
    }

    [Fact]
    public async Task GetOrCreateAsync_OnlyCallerCancelsAndFactoryThrowsItsOwnError_NoNegativeEntry()
    {
        using var h = new CacheHarness(o => o.NegativeCacheDuration = TimeSpan.FromMinutes(1));

        var next = await CancelOnlyCallerThenCallAgainAsync(h);

        next.Should().Be("fresh");
        h.Metrics.Counter("stampedeguard.factory.errors").Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_OnlyCallerCancelsWithStaleValue_NoFailSafeThrottle()
    {
        using var h = new CacheHarness(o =>
        {
            o.Duration = TimeSpan.FromSeconds(1);
            o.StaleIfError = TimeSpan.FromHours(1);
            o.EarlyRefreshBeta = 0;
        });
        await h.Cache.SetAsync("k", "old");
        h.Clock.Advance(TimeSpan.FromSeconds(2));

        var next = await CancelOnlyCallerThenCallAgainAsync(h);

        next.Should().Be("fresh", "no fail-safe throttle follows a cancelled run");
        h.Metrics.Counter("stampedeguard.fail_safe.activations").Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryFinishesAsTheHardTimeoutFires_SystemClock_AlwaysStampedeFactoryTimeoutException()
    {
        using var cache = new StampedeCache(new StampedeCacheOptions
        {
            TimeProvider = TimeProvider.System,
            DefaultEntryOptions = new StampedeCacheEntryOptions { FactoryHardTimeout = TimeSpan.FromMilliseconds(20) },
        });
        var other = new ConcurrentBag<Exception>();
        for (var batch = 0; batch < 20; batch++)
        {
            var calls = Enumerable.Range(0, 100).Select(async i =>
            {
                try
                {
                    await cache.GetOrCreateAsync($"b{batch}k{i}", async _ => { await Task.Delay(20); return i; });
                }
                catch (StampedeFactoryTimeoutException)
                {
                }
                catch (Exception ex)
                {
                    other.Add(ex);
                }
            });
            await Poll.Within(Task.WhenAll(calls), "a batch");
        }

        other.Should().BeEmpty();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GetOrCreateAsync_CallerCancelled_OperationCanceledCarriesTheCallersToken(bool waiter)
    {
        using var h = new CacheHarness();
        var factory = new GatedFactory<string>();
        if (waiter)
        {
            _ = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
            await Poll.UntilAsync(() => factory.Calls == 1, "the leader's run");
        }

        using var cts = new CancellationTokenSource();
        var call = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: cts.Token).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Cache.FlightCount == 1, "the caller waits");
        await cts.CancelAsync();

        var thrown = await FluentActions.Awaiting(() => Poll.Within(call, "the cancelled caller")).Should().ThrowAsync<OperationCanceledException>();
        thrown.Which.CancellationToken.Should().Be(cts.Token);
        factory.Release("v");
    }
}

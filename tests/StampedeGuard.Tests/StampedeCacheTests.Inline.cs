using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    [Fact]
    public async Task GetOrCreateAsync_SynchronousFactoryWithoutTimeouts_RunsInlineAndCompletesSynchronously()
    {
        using var h = new CacheHarness();
        var caller = Environment.CurrentManagedThreadId;
        var factoryThread = -1;
        var runs = 0;

        var call = h.Cache.GetOrCreateAsync("k", _ =>
        {
            runs++;
            factoryThread = Environment.CurrentManagedThreadId;
            return ValueTask.FromResult("v");
        });

        call.IsCompletedSuccessfully.Should().BeTrue("the factory ran inline and the leader took its own result without a hop");
        (await call).Should().Be("v");
        factoryThread.Should().Be(caller);
        runs.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_AsynchronousFactory_LeaderResumesWhereTheRunAnswersWithoutAThreadPoolHop()
    {
        using var cache = new StampedeCache(new StampedeCacheOptions()); // no meter listener: a timed wait would be the caller's own
        var gate = new TaskCompletionSource<string>(); // continuations run where it is completed
        var call = cache.GetOrCreateAsync("k", async _ => await gate.Task.ConfigureAwait(false)).AsTask(); // a ValueTask is consumed once
        int? resumedOn = null;
        var resumed = call.ContinueWith(_ => resumedOn = Environment.CurrentManagedThreadId, TaskContinuationOptions.ExecuteSynchronously);

        var opener = new Thread(() => gate.SetResult("v"));
        opener.Start();
        opener.Join();
        await resumed;

        (await call, resumedOn).Should().Be(("v", opener.ManagedThreadId), "the leader waits on the flight itself and resumes on the thread that answered (the old shared task queued it to the thread pool)");
    }

    [Theory]
    [InlineData("GetAwaiter().GetResult()")]
    [InlineData("Result")]
    public async Task GetOrCreateAsync_CallerBlocksOnThePendingValueTask_WaitsAndGetsTheValue(string how)
    {
        // Sync over async, as legacy code does: blocking on a ValueTask that is not complete yet must wait for it, as it
        // does on a task-backed one (HybridCache's), not throw because the leader's wait has no task behind it.
        using var cache = new StampedeCache(new StampedeCacheOptions());
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocked = Task.Run(() =>
        {
            var call = cache.GetOrCreateAsync("k", async _ =>
            {
                started.SetResult();
                return await gate.Task.ConfigureAwait(false);
            });
            return how == "Result" ? call.Result : call.GetAwaiter().GetResult();
        });
        await Poll.Within(started.Task, "the factory started");
        gate.SetResult("v");

        (await Poll.Within(blocked, "the blocked caller")).Should().Be("v");
    }

    [Fact]
    public async Task GetOrCreateAsync_SynchronousFactoryThrowsWithoutTimeouts_FailureReachesCallerOnce()
    {
        using var h = new CacheHarness();
        var runs = 0;

        var call = h.Cache.GetOrCreateAsync<string>("k", _ =>
        {
            runs++;
            throw new InvalidOperationException("origin down");
        });

        call.IsCompleted.Should().BeTrue();
        (await FluentActions.Awaiting(() => call.AsTask()).Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Be("origin down");
        runs.Should().Be(1);
        h.Cache.FlightCount.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_AfterInlineFactoryReturned_CallerIsNotTakenForReentrant()
    {
        using var h = new CacheHarness();
        var runs = 0;
        ValueTask<int> Factory(CancellationToken _) => ValueTask.FromResult(Interlocked.Increment(ref runs));

        (await h.Cache.GetOrCreateAsync("k", Factory)).Should().Be(1);
        await h.Cache.RemoveAsync("k");

        // Same logical flow, same key: the inline run's re-entrancy mark must not have stayed on the caller.
        (await h.Cache.GetOrCreateAsync("k", Factory)).Should().Be(2);
    }

    [Fact]
    public async Task GetOrCreateAsync_FactoryReadsContextOptionsTwice_GetsOneCopyNotTheCallersObject()
    {
        using var h = new CacheHarness();
        var callOptions = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(7), Tags = ["t"] };
        StampedeCacheEntryOptions? first = null;
        StampedeCacheEntryOptions? second = null;

        await h.Cache.GetOrCreateAsync<int, int>("k", 0, (_, context, _) =>
        {
            first = context.Options;
            second = context.Options;
            return ValueTask.FromResult(1);
        }, callOptions);

        first.Should().BeSameAs(second).And.NotBeSameAs(callOptions);
        first!.Duration.Should().Be(TimeSpan.FromSeconds(7));
        first.Tags.Should().Equal("t");
    }
}

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
}

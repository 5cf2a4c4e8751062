using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    /// <summary>A cache nobody listens to (no wait-duration histogram): waiters take the shared-answer path.</summary>
    private static StampedeCache UnobservedCache() =>
        new(new StampedeCacheOptions { TimeProvider = new FakeTimeProvider(), DefaultEntryOptions = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(10) } });

    [Fact]
    public async Task GetOrCreateAsync_ThousandUncancellableWaitersOnOneRun_OneFactoryCallAndEveryoneGetsItsValue()
    {
        using var cache = UnobservedCache();
        var factory = new GatedFactory<string>();
        var leader = cache.GetOrCreateAsync("k", factory.InvokeAsync);
        var waiters = Enumerable.Range(0, 1000).Select(_ => cache.GetOrCreateAsync("k", factory.InvokeAsync)).ToArray();

        leader.IsCompleted.Should().BeFalse();
        waiters.Should().OnlyContain(w => !w.IsCompleted, "every caller joined the run that waits on the gate");
        factory.Release("v");

        (await Poll.Within(leader.AsTask(), "the leader")).Should().Be("v");
        (await Poll.Within(Task.WhenAll(waiters.Select(w => w.AsTask())), "the waiters")).Should().HaveCount(1000).And.OnlyContain(v => v == "v");
        factory.Calls.Should().Be(1);
        cache.FlightCount.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_RunFailsWithUncancellableWaiters_EveryWaiterGetsTheOneFailure()
    {
        using var cache = UnobservedCache();
        var factory = new GatedFactory<string>();
        var calls = Enumerable.Range(0, 100).Select(_ => cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask()).ToArray();

        var failure = new InvalidOperationException("origin down");
        factory.Fail(failure);

        foreach (var call in calls)
        {
            (await FluentActions.Awaiting(() => Poll.Within(call, "a waiter")).Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(failure);
        }

        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_CancellableWaiterLeavesWhileUncancellableCallerWaits_FactoryTokenStaysUncancelled()
    {
        using var cache = UnobservedCache();
        var factory = new GatedFactory<string>();
        using var cts = new CancellationTokenSource();
        var patient = cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        var impatient = cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: cts.Token).AsTask();

        await cts.CancelAsync();

        await FluentActions.Awaiting(() => Poll.Within(impatient, "the cancelled waiter")).Should().ThrowAsync<OperationCanceledException>();
        factory.Tokens.Should().ContainSingle().Which.IsCancellationRequested.Should().BeFalse("a caller that cannot cancel still wants the value");
        factory.Release("v");
        (await Poll.Within(patient, "the uncancellable caller")).Should().Be("v");
        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_EveryCancellableWaiterLeaves_FactoryTokenIsCancelled()
    {
        using var cache = UnobservedCache();
        var factory = new GatedFactory<string>();
        using var cts = new CancellationTokenSource();
        var calls = Enumerable.Range(0, 10).Select(_ => cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: cts.Token).AsTask()).ToArray();

        await cts.CancelAsync();

        foreach (var call in calls)
        {
            await FluentActions.Awaiting(() => Poll.Within(call, "a cancelled caller")).Should().ThrowAsync<OperationCanceledException>();
        }

        factory.Tokens.Should().ContainSingle().Which.IsCancellationRequested.Should().BeTrue();
    }
}

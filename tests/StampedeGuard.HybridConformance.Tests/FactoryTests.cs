namespace StampedeGuard.HybridConformance.Tests;

/// <summary>
/// Factory outcomes and caller cancellation (Microsoft's SampleUsage and StampedeTests): stateful and stateless
/// overloads, exceptions reach every waiter and are not cached, a cancelled caller gets OperationCanceledException
/// with its own token even when the value is cached.
/// </summary>
public sealed class FactoryTests
{
    [Theory]
    [Both]
    public async Task GetOrCreateAsync_WithState_PassesTheStateAndCaches(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);

        var first = await host.Cache.GetOrCreateAsync("key", (Id: 7, Name: "seven"), static (s, _) => ValueTask.FromResult($"{s.Id}:{s.Name}"));
        var second = await host.Cache.GetOrCreateAsync("key", (Id: 8, Name: "eight"), static (s, _) => ValueTask.FromResult($"{s.Id}:{s.Name}"));

        (first, second).Should().Be(("7:seven", "7:seven"));
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_FactoryThrows_EveryWaiterGetsItAndNothingIsCached(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        async ValueTask<int> Failing(CancellationToken _)
        {
            Interlocked.Increment(ref runs);
            await gate.Task;
            throw new InvalidOperationException("origin down");
        }

        var callers = Enumerable.Range(0, 5).Select(_ => host.Cache.GetOrCreateAsync("key", Failing).AsTask()).ToArray();
        gate.SetResult();
        foreach (var caller in callers)
        {
            var act = () => caller.WaitAsync(TimeSpan.FromSeconds(10));
            (await act.Should().ThrowAsync<InvalidOperationException>()).WithMessage("origin down");
        }

        runs.Should().Be(1, "the five callers shared one run");
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(5))).Should().Be(5, "the failure was not cached");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_AlreadyCancelledOnAHit_ThrowsOperationCanceled(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        await host.Cache.SetAsync("key", 1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var act = async () => await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(2), cancellationToken: cts.Token);

        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_AlreadyCancelledOnAMiss_ThrowsWithoutRunningTheFactory(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var runs = 0;

        var act = async () => await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(Interlocked.Increment(ref runs)), cancellationToken: cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        runs.Should().Be(0);
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_CallerCancelsWhileWaiting_OthersStillGetTheValue(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();
        async ValueTask<int> Factory(CancellationToken _)
        {
            await gate.Task;
            return 42;
        }

        var cancelled = host.Cache.GetOrCreateAsync("key", Factory, cancellationToken: cts.Token).AsTask();
        var patient = host.Cache.GetOrCreateAsync("key", Factory).AsTask();
        cts.Cancel();
        var act = () => cancelled.WaitAsync(TimeSpan.FromSeconds(10));
        await act.Should().ThrowAsync<OperationCanceledException>();
        gate.SetResult();

        (await patient.WaitAsync(TimeSpan.FromSeconds(10))).Should().Be(42);
        (await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(0))).Should().Be(42, "the run completed and was cached");
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_AlreadyCancelledOnAMiss_ThrowsExactlyOperationCanceledWithTheToken(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var act = async () => await host.Cache.GetOrCreateAsync("key", _ => ValueTask.FromResult(1), cancellationToken: cts.Token);

        (await act.Should().ThrowExactlyAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
    }

    [Theory]
    [Both]
    public async Task GetOrCreateAsync_CallerCancelsWhileWaiting_ThrowsExactlyOperationCanceledWithItsToken(Implementation implementation)
    {
        using var host = HybridHost.Create(implementation);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();
        async ValueTask<int> Factory(CancellationToken _)
        {
            await gate.Task;
            return 42;
        }

        var patient = host.Cache.GetOrCreateAsync("key", Factory).AsTask();
        var cancelled = host.Cache.GetOrCreateAsync("key", Factory, cancellationToken: cts.Token).AsTask();
        cts.Cancel();
        await Task.WhenAny(cancelled, Task.Delay(TimeSpan.FromSeconds(10)));
        cancelled.IsCompleted.Should().BeTrue("the cancelled caller stops waiting");
        var act = async () => await cancelled;

        (await act.Should().ThrowExactlyAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
        gate.SetResult();
        (await patient.WaitAsync(TimeSpan.FromSeconds(10))).Should().Be(42);
    }
}

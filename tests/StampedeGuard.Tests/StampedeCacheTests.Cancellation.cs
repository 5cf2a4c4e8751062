using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests;

public sealed partial class StampedeCacheTests
{
    /// <summary>Three callers of one flight: two with their own tokens, one without.</summary>
    private static async Task<(Task<string> A, Task<string> B, Task<string> C, GatedFactory<string> Factory)> StartThreeCallersAsync(
        CacheHarness h, CancellationToken a, CancellationToken b, CancellationToken c)
    {
        var factory = new GatedFactory<string>();
        var ta = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: a).AsTask();
        var tb = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: b).AsTask();
        var tc = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: c).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Metrics.Requests("collapsed") == 2, "three callers on one flight");
        return (ta, tb, tc, factory);
    }

    [Fact]
    public async Task GetOrCreateAsync_OneCallerCancels_OnlyThatCallerGetsOperationCanceled()
    {
        using var h = new CacheHarness();
        using var first = new CancellationTokenSource();
        var (a, b, c, factory) = await StartThreeCallersAsync(h, first.Token, default, default);

        await first.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(a, "the cancelled caller")).Should().ThrowAsync<OperationCanceledException>();
        factory.Release("v");

        (await Poll.Within(Task.WhenAll(b, c), "the others")).Should().Equal("v", "v");
        factory.Calls.Should().Be(1);
    }

    [Fact]
    public async Task GetOrCreateAsync_SomeCallersCancel_FactoryTokenNotCancelled()
    {
        using var h = new CacheHarness();
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        var (a, b, c, factory) = await StartThreeCallersAsync(h, first.Token, second.Token, default);

        await first.CancelAsync();
        await second.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(Task.WhenAll(a, b), "the cancelled callers")).Should().ThrowAsync<OperationCanceledException>();

        factory.Tokens.Single().IsCancellationRequested.Should().BeFalse();
        factory.Release("v");
        (await Poll.Within(c, "the remaining caller")).Should().Be("v");
    }

    [Fact]
    public async Task GetOrCreateAsync_EveryCallerCancels_FactoryTokenCancelled()
    {
        using var h = new CacheHarness();
        using var all = new CancellationTokenSource();
        var (a, b, c, factory) = await StartThreeCallersAsync(h, all.Token, all.Token, all.Token);

        await all.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(Task.WhenAll(a, b, c), "the cancelled callers")).Should().ThrowAsync<OperationCanceledException>();

        factory.Tokens.Single().IsCancellationRequested.Should().BeTrue();
    }

    [Fact]
    public async Task GetOrCreateAsync_CallerArrivesAfterEveryoneCancelled_StartsNewRunAndGetsValue()
    {
        using var h = new CacheHarness();
        using var cts = new CancellationTokenSource();
        var factory = new GatedFactory<string>();
        var cancelled = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: cts.Token).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1, "the first run started");
        await cts.CancelAsync();
        await FluentActions.Awaiting(() => Poll.Within(cancelled, "the cancelled caller")).Should().ThrowAsync<OperationCanceledException>();

        var next = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 2, "a new run started");
        factory.Release("v");

        (await Poll.Within(next, "the new caller")).Should().Be("v");
    }

    [Fact]
    public async Task GetOrCreateAsync_AlreadyCancelledTokenOnMiss_ThrowsWithoutRunningFactory()
    {
        using var h = new CacheHarness();
        var runs = 0;

        var call = async () => await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(++runs), cancellationToken: new CancellationToken(true));

        await call.Should().ThrowAsync<OperationCanceledException>();
        runs.Should().Be(0);
    }

    [Fact]
    public async Task GetOrCreateAsync_WaiterCancels_ExceptionCarriesTheCallersToken()
    {
        using var h = new CacheHarness();
        using var mine = new CancellationTokenSource();
        var (a, b, c, factory) = await StartThreeCallersAsync(h, default, mine.Token, default);

        await mine.CancelAsync();

        (await FluentActions.Awaiting(() => Poll.Within(b, "the cancelled waiter")).Should().ThrowAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(mine.Token);
        factory.Release("v");
        await Poll.Within(Task.WhenAll(a, c), "the others");
    }

    [Fact]
    public async Task GetOrCreateAsync_AlreadyCancelledToken_ThrowsExactlyOperationCanceledWithTheCallersToken()
    {
        using var h = new CacheHarness();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var call = async () => await h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), cancellationToken: cts.Token);

        (await call.Should().ThrowExactlyAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task GetOrCreateAsync_AlreadyCancelledToken_ReturnsACanceledTask()
    {
        using var h = new CacheHarness();

        var task = h.Cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), cancellationToken: new CancellationToken(true));

        task.IsCanceled.Should().BeTrue("a cancelled call is a cancelled task, not a faulted one");
        await FluentActions.Awaiting(async () => await task).Should().ThrowExactlyAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task GetOrCreateAsync_WaiterCancels_ThrowsExactlyOperationCanceledWithItsToken()
    {
        using var h = new CacheHarness();
        using var mine = new CancellationTokenSource();
        var (a, b, c, factory) = await StartThreeCallersAsync(h, default, mine.Token, default);

        await mine.CancelAsync();

        (await FluentActions.Awaiting(() => Poll.Within(b, "the cancelled waiter")).Should().ThrowExactlyAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(mine.Token);
        factory.Release("v");
        await Poll.Within(Task.WhenAll(a, c), "the others");
    }

    [Fact]
    public async Task GetOrCreateAsync_LeaderCancels_ThrowsExactlyOperationCanceledWithItsToken()
    {
        using var h = new CacheHarness();
        using var mine = new CancellationTokenSource();
        var (a, b, c, factory) = await StartThreeCallersAsync(h, mine.Token, default, default);

        await mine.CancelAsync();

        (await FluentActions.Awaiting(() => Poll.Within(a, "the cancelled leader")).Should().ThrowExactlyAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(mine.Token);
        factory.Release("v");
        (await Poll.Within(Task.WhenAll(b, c), "the others")).Should().Equal("v", "v");
    }

    [Fact]
    public async Task GetOrCreateAsync_WaiterWithSoftTimeoutCancels_ThrowsExactlyOperationCanceledWithItsToken()
    {
        using var h = new CacheHarness(entry: e => e.FactorySoftTimeout = TimeSpan.FromSeconds(5));
        using var mine = new CancellationTokenSource();
        var factory = new GatedFactory<string>();
        var leader = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync).AsTask();
        var waiter = h.Cache.GetOrCreateAsync("k", factory.InvokeAsync, cancellationToken: mine.Token).AsTask();
        await Poll.UntilAsync(() => factory.Calls == 1 && h.Metrics.Requests("collapsed") == 1, "two callers on one flight");

        await mine.CancelAsync();

        (await FluentActions.Awaiting(() => Poll.Within(waiter, "the cancelled waiter")).Should().ThrowExactlyAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(mine.Token);
        factory.Release("v");
        (await Poll.Within(leader, "the leader")).Should().Be("v");
    }
}

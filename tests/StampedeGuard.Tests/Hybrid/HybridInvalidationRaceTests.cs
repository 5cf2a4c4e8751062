using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.TestSupport;

namespace StampedeGuard.Tests.Hybrid;

/// <summary>
/// Through Microsoft's <see cref="HybridCache"/> API (the adapter over the engine): an invalidation that returns while
/// a factory runs wins, as it does through <c>GetOrCreateAsync</c>: the run answers its own callers and stores nothing.
/// </summary>
public sealed class HybridInvalidationRaceTests : IDisposable
{
    private readonly ServiceProvider _provider;
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _runs;

    public HybridInvalidationRaceTests()
    {
        var services = new ServiceCollection();
        services.AddStampedeGuard(o => o.TimeProvider = new FakeTimeProvider());
        _provider = services.BuildServiceProvider();
    }

    private HybridCache Cache => _provider.GetRequiredService<HybridCache>();

    public void Dispose() => _provider.Dispose();

    /// <summary>The first run waits for the test to release it; every run returns its own number.</summary>
    private async ValueTask<int> Factory(CancellationToken cancellationToken)
    {
        var run = Interlocked.Increment(ref _runs);
        if (run == 1)
        {
            _entered.SetResult();
            await _release.Task.WaitAsync(cancellationToken);
        }

        return run;
    }

    [Theory]
    [InlineData("tag")]
    [InlineData("key")]
    public async Task Invalidation_WhileTheFactoryRuns_WinsAndTheNextCallRunsAgain(string by)
    {
        var first = Cache.GetOrCreateAsync("product:1", Factory, tags: ["products"]).AsTask();
        var joined = Cache.GetOrCreateAsync("product:1", Factory, tags: ["products"]).AsTask();
        await _entered.Task;

        if (by == "tag")
        {
            await Cache.RemoveByTagAsync("products");
        }
        else
        {
            await Cache.RemoveAsync("product:1");
        }

        var afterInvalidation = await Cache.GetOrCreateAsync("product:1", Factory, tags: ["products"]);
        _release.SetResult();

        afterInvalidation.Should().Be(2, "a call after the invalidation returned must not join the run it superseded");
        (await first).Should().Be(1, "the superseded run still answers the callers that joined it");
        (await joined).Should().Be(1);
        (await Cache.GetOrCreateAsync("product:1", Factory, tags: ["products"])).Should().Be(2, "the superseded run stored nothing over the newer value");
        _runs.Should().Be(2);
    }
}

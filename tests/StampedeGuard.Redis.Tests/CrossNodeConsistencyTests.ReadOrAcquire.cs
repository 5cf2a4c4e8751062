using StampedeGuard.Redis.Tests.Infrastructure;
using StampedeGuard.TestSupport;
using StampedeGuard.TestSupport.Redis;

namespace StampedeGuard.Redis.Tests;

/// <summary>
/// <see cref="StampedeCache.ReadOrAcquireAsync{T}"/> over a real Redis: the double check and the cross-node barrier of
/// an adapter's own work (the HTTP cache's origin executions), held by a write condition and fencing its store.
/// </summary>
public sealed partial class CrossNodeConsistencyTests
{
    private static readonly StampedeCacheEntryOptions Untagged = new() { Duration = TimeSpan.FromMinutes(5), EarlyRefreshBeta = 0 };

    private async Task<bool> LockedAsync(string key) =>
        (await redis.Server.CliAsync("exists", _prefix + "{" + key + "}:l")).Trim() == "1";

    [Fact]
    public async Task ReadOrAcquireAsync_FreshValueInRedis_ReturnedWithoutTakingTheBarrier()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await b.SetAsync("k", "stored", Untagged);
        await using var condition = await a.BeginConditionalWriteAsync();

        var found = await a.ReadOrAcquireAsync<string>("k", condition, Untagged);

        found.HasValue.Should().BeTrue();
        found.Value.Should().Be("stored");
        (await LockedAsync("k")).Should().BeFalse("a hit takes no barrier");
    }

    [Fact]
    public async Task ReadOrAcquireAsync_Miss_AnotherNodeWaitsForThisNodesStoreInsteadOfRunningItsFactory()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await using var condition = await a.BeginConditionalWriteAsync();

        (await a.ReadOrAcquireAsync<string>("k", condition, Untagged)).HasValue.Should().BeFalse();
        (await LockedAsync("k")).Should().BeTrue("the miss holds the key's barrier in Redis");

        var factoryRuns = 0;
        var onB = b.GetOrCreateAsync("k", _ =>
        {
            Interlocked.Increment(ref factoryRuns);
            return ValueTask.FromResult("b's own");
        }, Untagged).AsTask();
        (await a.SetIfUnchangedAsync("k", "a's", condition, Untagged)).Should().BeTrue();

        (await Poll.Within(onB, "node B gets node A's value")).Should().Be("a's");
        factoryRuns.Should().Be(0, "node B found the barrier held and waited for node A's value");
        (await LockedAsync("k")).Should().BeFalse("the fenced store released the barrier");
    }

    [Fact]
    public async Task SetIfUnchangedAsync_BarrierLeaseLostAndAnotherNodeLeads_RefusedAndTheOtherNodesValueSurvives()
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await using var condition = await a.BeginConditionalWriteAsync();
        (await a.ReadOrAcquireAsync<string>("k", condition, Untagged)).HasValue.Should().BeFalse();
        await redis.Server.CliAsync("del", _prefix + "{k}:l"); // the lease ran out (node A paused past it)

        var bStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bRelease = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var onB = b.GetOrCreateAsync("k", async ct =>
        {
            bStarted.TrySetResult();
            await bRelease.Task.WaitAsync(ct);
            return "b's newer";
        }, Untagged).AsTask();
        await Poll.Within(bStarted.Task, "node B leads once the lease is gone");

        // Node A resumes and stores what it read before node B began: nothing invalidated the key, but node B owns it.
        (await a.SetIfUnchangedAsync("k", "a's older", condition, Untagged)).Should().BeFalse("the store is fenced by the barrier node A no longer owns");
        bRelease.SetResult();
        (await onB).Should().Be("b's newer");

        (await StoredAsync("k") ?? string.Empty).Should().Contain("b's newer");
        (await a.TryGetAsync<string>("k")).Value.Should().Be("b's newer");
        (await b.TryGetAsync<string>("k")).Value.Should().Be("b's newer");
    }

    [Theory]
    [InlineData("here")]
    [InlineData("another node")]
    public async Task ReadOrAcquireAsync_KeyRemovedWhileTheBarrierIsHeld_BarrierReleasedAndTheStoreRefused(string where)
    {
        var a = await NodeAsync();
        var b = await NodeAsync();
        await using var condition = await a.BeginConditionalWriteAsync();
        (await a.ReadOrAcquireAsync<string>("k", condition, Untagged)).HasValue.Should().BeFalse();

        await (where == "here" ? a : b).RemoveAsync("k");

        // Nothing will be stored under the barrier any more: the next run (here or elsewhere) need not wait for it.
        await Poll.UntilAsync(() => !LockedAsync("k").GetAwaiter().GetResult(), "the barrier is released once the key changed");
        (await a.SetIfUnchangedAsync("k", "read before the removal", condition, Untagged)).Should().BeFalse();
        (await StoredAsync("k")).Should().BeNull();
    }

    /// <summary>As a double check (its caller has just looked), a miss costs one round trip: the read-or-acquire script, no plain read first.</summary>
    [RedisFact(SkipOnGarnet = GarnetGaps.ScriptCommandStats)]
    public async Task ReadOrAcquireAsync_Miss_OneScriptAndNoPlainReadFirst()
    {
        var a = await NodeAsync(o => o.HeartbeatInterval = Timeout.InfiniteTimeSpan);
        await using var condition = await a.BeginConditionalWriteAsync();
        var before = await redis.CommandStatsAsync();

        (await a.ReadOrAcquireAsync<string>("k", condition, Untagged)).HasValue.Should().BeFalse();

        var after = await redis.CommandStatsAsync();
        long Delta(string command) => after.GetValueOrDefault(command) - before.GetValueOrDefault(command);
        (Delta("evalsha") + Delta("eval")).Should().Be(1, "the read-or-acquire script");
        Delta("hmget").Should().Be(1, "only the one inside the script (commandstats counts it too)");
    }

    [Fact]
    public async Task DisposeAsync_BarrierHeld_Released()
    {
        var a = await NodeAsync();
        var condition = await a.BeginConditionalWriteAsync();
        (await a.ReadOrAcquireAsync<string>("k", condition, Untagged)).HasValue.Should().BeFalse();
        (await LockedAsync("k")).Should().BeTrue();

        await condition.DisposeAsync();

        (await LockedAsync("k")).Should().BeFalse();
        var act = () => a.ReadOrAcquireAsync<string>("k", condition, Untagged).AsTask();
        await act.Should().ThrowAsync<ObjectDisposedException>();
    }
}

using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StampedeGuard.Redis;
using StampedeGuard.TestSupport;
using StampedeGuard.TestSupport.Redis;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>Two app instances sharing a real redis-server: misses are collapsed across instances, purges reach both.</summary>
public sealed class RedisDistributedTests
{
    [Fact]
    public async Task Get_ConcurrentMissesOnTwoInstancesSharingRedis_OneOriginExecution()
    {
        await using var redis = await SharedRedis.StartAsync();
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<TestHost> StartInstanceAsync() => redis.StartInstanceAsync(app => app.MapGet("/r", async ctx =>
        {
            using var _ = origin.Enter();
            await gate.Task;
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("shared" + origin.Executions);
        }));

        await using var a = await StartInstanceAsync();
        await using var b = await StartInstanceAsync();
        (string, string) host = ("Host", "shop.example"); // both instances behind one name, as behind a load balancer

        var onA = Enumerable.Range(0, 25).Select(_ => a.Client.GetBodyAsync("/r", host)).ToArray();
        await origin.Entered.Task;
        var onB = Enumerable.Range(0, 25).Select(_ => b.Client.GetBodyAsync("/r", host)).ToArray();
        // Every request on B has led or joined B's flight: B's leader is at A's Redis lock before A's origin answers.
        await CollapsingTests.WaitUntilAsync(() => b.Count("miss") + b.Count("collapsed") == 25);
        gate.SetResult();

        var responses = await Task.WhenAll(onA.Concat(onB));
        responses.Select(r => r.Body + " | " + r.Response.CacheStatus()).Should().OnlyContain(r => r.StartsWith("shared1 |"));
        origin.Executions.Should().Be(1);

        // A purge on A reaches B's memory tier through the backplane.
        (await b.Client.GetAsync("/r", host)).CacheStatus().Should().Contain("hit");
        await a.App.Services.GetRequiredService<IStampedeResponseCache>().PurgeAsync(new Uri("http://shop.example/r"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await b.Client.GetAsync("/r", host)).CacheStatus().Contains("hit"))
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the purge should reach the other instance");
            await Task.Delay(20);
        }

        origin.Executions.Should().Be(2);
    }
    /// <summary>
    /// A purge on instance B while instance A's origin runs: what A fetched before the purge is stored nowhere (A's
    /// write is refused by Redis's script, or by the purge's message if A heard it first), so the next request on
    /// either instance goes to the origin again.
    /// </summary>
    [Theory]
    [InlineData("url")]
    [InlineData("tag")]
    public async Task Purge_OnAnotherInstanceWhileTheOriginRuns_WhatItFetchedIsStoredNowhere(string purge)
    {
        await using var redis = await SharedRedis.StartAsync();
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<TestHost> StartInstanceAsync() => redis.StartInstanceAsync(app => app.MapGet("/p", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers["Surrogate-Key"] = "catalog";
            if (origin.Executions == 1)
            {
                await gate.Task;
            }

            await ctx.Response.WriteAsync("v" + origin.Executions);
        }));

        await using var a = await StartInstanceAsync();
        await using var b = await StartInstanceAsync();
        (string, string) host = ("Host", "shop.example");

        var inFlight = a.Client.GetBodyAsync("/p", host);
        await origin.Entered.Task;
        var purging = b.App.Services.GetRequiredService<IStampedeResponseCache>();
        await (purge == "url" ? purging.PurgeAsync(new Uri("http://shop.example/p")) : purging.RemoveByTagAsync("catalog"));
        gate.SetResult();
        (await inFlight).Body.Should().Be("v1"); // its client is still answered

        // (A response fetched within a millisecond after the purge may be refused too: the condition's margin.)
        (await a.Client.GetBodyAsync("/p", host)).Body.Should().NotBe("v1", "instance A must not have stored the response fetched before the purge");
        (await b.Client.GetBodyAsync("/p", host)).Body.Should().NotBe("v1", "nor may Redis hold it for instance B");
        (await a.Client.GetBodyAsync("/p", host)).Body.Should().NotBe("v1");
    }

    /// <summary>
    /// A purge on instance B while instance A's origin runs, then a request on A once A heard the purge: it must not
    /// join the execution begun before the purge (it would get the purged content after the purge returned); it goes
    /// to the origin itself. The purge reaches A's executions in flight through the engine's backplane, for a URL and
    /// for a custom tag alike.
    /// </summary>
    [Theory]
    [InlineData("url")]
    [InlineData("tag")]
    public async Task Purge_OnAnotherInstanceWhileTheOriginRuns_ALaterRequestOnTheFirstDoesNotJoinThePurgedExecution(string purge)
    {
        await using var redis = await SharedRedis.StartAsync();
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var executions = 0;

        Task<TestHost> StartInstanceAsync() => redis.StartInstanceAsync(app => app.MapGet("/p", async ctx =>
        {
            using var _ = origin.Enter();
            var execution = Interlocked.Increment(ref executions);
            ctx.Response.Headers.CacheControl = "max-age=60";
            ctx.Response.Headers["Surrogate-Key"] = "catalog";
            await ctx.Response.StartAsync(); // the head goes out: the execution's tags are known
            if (execution == 1)
            {
                await gate.Task;
            }

            await ctx.Response.WriteAsync("v" + execution);
        }));

        await using var a = await StartInstanceAsync();
        await using var b = await StartInstanceAsync();
        (string, string) host = ("Host", "shop.example");
        var flights = a.App.Services.GetRequiredService<Internal.FlightRegistry>().Flights;

        var inFlight = a.Client.GetBodyAsync("/p", host);
        await origin.Entered.Task;
        await Poll.UntilAsync(() => flights.Oldest(f => f.HasTag("catalog") ? 0 : long.MaxValue) == 0, "instance A's execution knows its response's tags");
        var purging = b.App.Services.GetRequiredService<IStampedeResponseCache>();
        await (purge == "url" ? purging.PurgeAsync(new Uri("http://shop.example/p")) : purging.RemoveByTagAsync("catalog"));
        await Poll.UntilAsync(() => flights.IsEmpty, "instance A hears the purge and supersedes its execution");

        (await a.Client.GetBodyAsync("/p", host)).Body.Should().Be("v2", "a request after the purge reached instance A gets a new execution, not the purged one");
        gate.SetResult();
        (await inFlight).Body.Should().Be("v1", "the execution still answers the client that was waiting for it");
        executions.Should().Be(2);
    }

    /// <summary>
    /// The barrier's lease lost while the origin runs (the lock expired under a paused instance; here deleted in Redis):
    /// another instance leads, fetches and stores a newer response; the first instance's store of its older response
    /// is then refused (the key changed after its execution began), so every instance serves the newer one.
    /// </summary>
    [Fact]
    public async Task Store_AfterTheBarriersLeaseWasLostAndAnotherInstanceStored_IsRefused()
    {
        await using var redis = await SharedRedis.StartAsync();
        var origin = new Origin();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<TestHost> StartInstanceAsync() => redis.StartInstanceAsync(app => app.MapGet("/l", async ctx =>
        {
            using var _ = origin.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            var execution = origin.Executions;
            if (execution == 1)
            {
                await gate.Task;
            }

            await ctx.Response.WriteAsync("v" + execution);
        }));

        await using var a = await StartInstanceAsync();
        await using var b = await StartInstanceAsync();
        (string, string) host = ("Host", "shop.example");

        var slow = a.Client.GetBodyAsync("/l", host);
        await origin.Entered.Task;
        await redis.DeleteTheOnlyBarrierAsync(); // its lease ran out

        (await b.Client.GetBodyAsync("/l", host)).Body.Should().Be("v2", "instance B leads once the lease is gone");
        gate.SetResult();
        (await slow).Body.Should().Be("v1"); // its client is still answered

        (await a.Client.GetBodyAsync("/l", host)).Body.Should().Be("v2", "instance A must not have stored its older response over B's");
        (await b.Client.GetBodyAsync("/l", host)).Body.Should().Be("v2");
        origin.Executions.Should().Be(2);
    }

    /// <summary>
    /// The barrier's lease lost while the origin runs (instance A paused past it; here its lock deleted in Redis), and
    /// instance B leads a newer execution before A's ends: A's store of its older response is refused by the fence
    /// (B owns the key's barrier), so B's newer response is the one both instances serve. Without the fence A's store
    /// wins (nothing invalidated the key) and B's is refused (the key changed after B began): the older one stays.
    /// </summary>
    [Fact]
    public async Task Store_AfterTheBarriersLeaseWasLostWhileAnotherInstanceRuns_FencedSoTheNewerResponseIsServed()
    {
        await using var redis = await SharedRedis.StartAsync();
        var origin = new Origin();
        var gates = new[] { new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var entered = new[] { new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var executions = 0;
        Task<TestHost> StartInstanceAsync() => redis.StartInstanceAsync(app => app.MapGet("/f", async ctx =>
        {
            using var _ = origin.Enter();
            var execution = Interlocked.Increment(ref executions);
            ctx.Response.Headers.CacheControl = "max-age=60";
            if (execution <= 2)
            {
                entered[execution - 1].TrySetResult();
                await gates[execution - 1].Task;
            }

            await ctx.Response.WriteAsync("v" + execution);
        }));

        await using var a = await StartInstanceAsync();
        await using var b = await StartInstanceAsync();
        (string, string) host = ("Host", "shop.example");
        var flightsOnA = a.App.Services.GetRequiredService<Internal.FlightRegistry>().Flights;

        var onA = a.Client.GetBodyAsync("/f", host);
        await Poll.Within(entered[0].Task, "instance A's execution reaches the origin");
        await redis.DeleteTheOnlyBarrierAsync(); // its lease ran out
        var onB = b.Client.GetBodyAsync("/f", host);
        await Poll.Within(entered[1].Task, "instance B leads once the lease is gone");

        gates[0].SetResult(); // A resumes first and tries to store its older response
        (await onA).Body.Should().Be("v1", "its client is still answered");
        await Poll.UntilAsync(() => flightsOnA.IsEmpty, "instance A's execution ended (its store was tried)");
        gates[1].SetResult();
        (await onB).Body.Should().Be("v2");

        (await b.Client.GetBodyAsync("/f", host)).Body.Should().Be("v2", "instance B's newer response is stored");
        (await a.Client.GetBodyAsync("/f", host)).Body.Should().Be("v2", "instance A must not serve or keep its older one");
        executions.Should().Be(2);
    }

    /// <summary>A redis-server of the test's own and the app instances sharing it (one key prefix); disposed with them.</summary>
    private sealed class SharedRedis : IAsyncDisposable
    {
        private readonly RedisServer _server;
        /// <summary>Gets the key prefix every instance uses.</summary>
        public string Prefix { get; } = "http" + Guid.NewGuid().ToString("N")[..8] + ":";
        private readonly List<RedisStampedeTier> _tiers = [];

        private SharedRedis(RedisServer server) => _server = server;

        public static async Task<SharedRedis> StartAsync() => new(await RedisServer.StartAsync());

        /// <summary>Runs redis-cli against the server.</summary>
        public Task<string> CliAsync(params string[] args) => _server.CliAsync(args);

        /// <summary>Deletes the one flight barrier (the engine's lock of the flight's key) held in Redis, as if its lease had run out.</summary>
        public async Task DeleteTheOnlyBarrierAsync()
        {
            var locks = (await CliAsync("--scan", "--pattern", Prefix + "*:l")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            locks.Should().ContainSingle("one instance holds the flight's barrier");
            await CliAsync("del", locks[0]);
        }

        /// <summary>An app instance whose engine (and so the flight's barrier) is on the shared Redis.</summary>
        public async Task<TestHost> StartInstanceAsync(Action<WebApplication> endpoints)
        {
            var tier = await RedisStampedeTier.ConnectAsync(new RedisStampedeOptions { Configuration = _server.Configuration, KeyPrefix = Prefix });
            _tiers.Add(tier);
            return await TestHost.StartAsync(endpoints, services: s => s.AddSingleton<IStampedeCache>(_ => new StampedeCache(distributedStore: tier, backplane: tier)));
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var tier in _tiers)
            {
                await tier.DisposeAsync();
            }

            await _server.DisposeAsync();
        }
    }
}

using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>
/// A purge by the endpoint's tag while its first execution runs, through the endpoint shapes real apps use (a
/// <c>Results</c>-returning minimal API, an MVC controller action): the execution's own client gets what it fetched,
/// nothing of it is stored, and the next request runs the endpoint again. Real Kestrel, real HttpClient.
/// </summary>
public sealed class PurgeRaceEndpointTests
{
    private readonly Origin _origin = new();
    private readonly FirstExecutionGate _gate = new();

    private async Task PurgeWhileTheFirstExecutionRunsAsync(TestHost host, string path, string first, string second)
    {
        var inFlight = host.Client.GetBodyAsync(path);
        await _gate.Entered.Task;
        await host.App.Services.GetRequiredService<IStampedeResponseCache>().RemoveByTagAsync("catalog");
        _gate.Release.SetResult();
        (await inFlight).Body.Should().Be(first, "the purged execution still answers its own client");

        var next = await host.Client.GetBodyAsync(path);
        next.Body.Should().Be(second, "what the execution fetched before the purge must not have been stored");
        var again = await host.Client.GetUntilHitAsync(path);
        again.Response.CacheStatus().Should().Contain("hit", "the execution after the purge is stored");
        again.Body.Should().Be(second);
        _origin.Executions.Should().Be(2);
    }

    [Fact]
    public async Task PurgeByTag_WhileAResultsEndpointRuns_WhatItFetchedIsNotStored()
    {
        await using var host = await TestHost.StartAsync(app => app.MapGet("/results", async () =>
        {
            using var _ = _origin.Enter();
            var execution = _gate.Next();
            await _gate.WaitIfFirstAsync(execution);
            return Results.Ok(new RealEndpointTests.Item("c", execution));
        }).CacheResponses(p =>
        {
            p.DurationSeconds = 60;
            p.Tags = ["catalog"];
        }));

        await PurgeWhileTheFirstExecutionRunsAsync(host, "/results", """{"name":"c","count":1}""", """{"name":"c","count":2}""");
    }

    [Fact]
    public async Task PurgeByTag_WhileAnMvcActionRuns_WhatItFetchedIsNotStored()
    {
        await using var host = await TestHost.StartAsync(
            app => app.MapControllers(),
            services: s =>
            {
                s.AddSingleton(_origin);
                s.AddSingleton(_gate);
                s.AddSingleton<RealEndpointTests.Greeter>();
                s.AddControllers().AddApplicationPart(typeof(CatalogController).Assembly);
            });

        await PurgeWhileTheFirstExecutionRunsAsync(host, "/catalog/1", "item 1 from execution 1", "item 1 from execution 2");
    }
}

/// <summary>Numbers an endpoint's executions and holds the first one until <see cref="Release"/> completes.</summary>
public sealed class FirstExecutionGate
{
    private int _executions;

    /// <summary>Gets a task completed when the first execution has taken its number (a later one cannot take it).</summary>
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The calling execution's number, 1 for the first.</summary>
    public int Next() => Interlocked.Increment(ref _executions);

    public Task WaitIfFirstAsync(int execution)
    {
        if (execution != 1)
        {
            return Task.CompletedTask;
        }

        Entered.SetResult();
        return Release.Task;
    }
}

/// <summary>An MVC action cached with a tag by <see cref="StampedeResponseCacheAttribute"/>, whose first execution a test holds.</summary>
[ApiController]
[Route("catalog")]
public sealed class CatalogController(Origin origin, FirstExecutionGate gate) : ControllerBase
{
    [HttpGet("{id}")]
    [StampedeResponseCache(DurationSeconds = 60, Tags = ["catalog"])]
    public async Task<IActionResult> Get(int id)
    {
        using var _ = origin.Enter();
        var execution = gate.Next();
        await gate.WaitIfFirstAsync(execution);
        return Ok($"item {id} from execution {execution}");
    }
}

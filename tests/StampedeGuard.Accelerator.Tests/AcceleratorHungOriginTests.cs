using System.Diagnostics;
using System.Net;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>
/// Issue 17, item 5: a hung or failing origin is never multiplied. One client, then a wave of ten while its request is
/// outstanding: the origin sees one request at a time for the URL (a raw-socket origin counts them), every client gets
/// the flight's answer within the configured bounds, and its <c>Cache-Status</c> says why.
/// Before: an origin that held each request and then closed the connection got 34 requests from these eleven clients
/// (SocketsHttpHandler resent each request up to 3 times; every waiter went to the origin itself after 15 s), up to 11
/// at once, and ten of the clients had no answer after 30 s.
/// </summary>
public sealed class AcceleratorHungOriginTests
{
    private const int Wave = 10;
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task OriginHoldsThenClosesTheConnection_OneThenAWaveOfTen_OneOriginRequestAndEveryClientGetsOne502()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = RawOrigin.Start(async (_, cancellationToken) =>
        {
            await hold.Task.WaitAsync(cancellationToken);
            return null; // close the connection without a byte of response
        });
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address, "--StampedeGuard:Caching:OriginTimeout", "00:00:20");

        var first = accelerator.Client.GetAsync("/down");
        await origin.Counter.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var wave = Enumerable.Range(0, Wave).Select(_ => accelerator.Client.GetAsync("/down")).ToArray();
        await HttpTestExtensions.WaitUntilAsync(() => accelerator.Count("collapsed") == Wave, "the wave joins the first client's flight");
        var released = Stopwatch.StartNew();
        hold.SetResult();

        var leader = await first;
        var waiters = await Task.WhenAll(wave);
        released.Elapsed.Should().BeLessThan(Slack, "the one failed attempt is the answer: no resend, no waiter's own request");
        leader.StatusCode.Should().Be(HttpStatusCode.BadGateway);
        leader.CacheStatus().Should().Be("StampedeGuard; fwd=uri-miss; detail=server-error");
        waiters.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.BadGateway && r.CacheStatus() == "StampedeGuard; fwd=uri-miss; collapsed; detail=server-error");
        origin.Executions.Should().Be(1);
        origin.Counter.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task OriginNeverAnswers_OneThenAWaveOfTen_OneOriginRequestEndedAtOriginTimeoutAndEveryClientGetsThe504()
    {
        var originTimeout = TimeSpan.FromSeconds(2);
        await using var origin = RawOrigin.Start(async (_, cancellationToken) =>
        {
            await Task.Delay(Timeout.Infinite, cancellationToken); // until the accelerator closes the connection
            return null;
        });
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address, "--StampedeGuard:Caching:OriginTimeout", "00:00:02");

        var started = Stopwatch.StartNew();
        var first = accelerator.Client.GetAsync("/hang");
        await origin.Counter.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var wave = Enumerable.Range(0, Wave).Select(_ => accelerator.Client.GetAsync("/hang")).ToArray();
        await HttpTestExtensions.WaitUntilAsync(() => accelerator.Count("collapsed") == Wave, "the wave joins the first client's flight");

        var leader = await first;
        var waiters = await Task.WhenAll(wave);
        started.Elapsed.Should().BeLessThan(originTimeout + Slack);
        leader.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        leader.CacheStatus().Should().Be("StampedeGuard; fwd=uri-miss; detail=origin-timeout");
        waiters.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.GatewayTimeout && r.CacheStatus() == "StampedeGuard; fwd=uri-miss; collapsed; detail=origin-timeout");
        await HttpTestExtensions.WaitUntilAsync(() => origin.Counter.Concurrent == 0, "the hung origin request is ended (its connection closed) at the timeout");
        origin.Executions.Should().Be(1);
        origin.Counter.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task WaiterTimeoutBeforeOriginTimeout_WaitersGet504sAndALaterWaveJoinsTheSameFlight_OneOriginRequest()
    {
        await using var origin = RawOrigin.Start(async (_, cancellationToken) =>
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return null;
        });
        await using var accelerator = await AcceleratorHost.StartAsync(
            origin.Address, "--StampedeGuard:Caching:WaiterTimeout", "00:00:01", "--StampedeGuard:Caching:OriginTimeout", "00:00:30");

        var first = accelerator.Client.GetAsync("/slow");
        await origin.Counter.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        for (var round = 1; round <= 2; round++)
        {
            var started = Stopwatch.StartNew();
            var wave = await Task.WhenAll(Enumerable.Range(0, Wave).Select(_ => accelerator.Client.GetAsync("/slow")));

            started.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1) + Slack);
            wave.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.GatewayTimeout && r.CacheStatus() == "StampedeGuard; fwd=uri-miss; collapsed; detail=waiter-timeout");
            accelerator.Count("collapsed").Should().Be(round * Wave, "a waiter that gave up sends no request; the next wave joins the same flight");
            origin.Executions.Should().Be(1);
        }

        first.IsCompleted.Should().BeFalse("the flight's one origin request is still outstanding (OriginTimeout 30 s)");
        origin.Counter.MaxConcurrent.Should().Be(1);
        accelerator.Logs.GetSnapshot().Count(r => r.Id.Id == 210).Should().Be(2 * Wave);
        accelerator.Logs.GetSnapshot().Should().NotContain(r => r.Id.Id == 204, "event 204 (a waiter going to the origin itself) is retired");
    }

    [Fact]
    public async Task KeptAliveConnectionClosedBeforeTheResponse_RetriedOnceOnANewConnection_NeverMore()
    {
        var requests = 0;
        await using var origin = RawOrigin.Start((path, _) =>
        {
            if (path == "/warm")
            {
                return Task.FromResult<string?>(RawOrigin.Ok("warm"));
            }

            Interlocked.Increment(ref requests);
            return Task.FromResult<string?>(null); // close the connection without a byte of response
        });
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        (await accelerator.Client.GetAsync("/warm")).StatusCode.Should().Be(HttpStatusCode.OK); // leaves a kept-alive connection
        var response = await accelerator.Client.GetAsync("/closes");

        response.StatusCode.Should().Be(HttpStatusCode.BadGateway);
        requests.Should().Be(2, "one retry after a kept-alive connection closed (the origin may not have seen the request), none after a new one");
        origin.Counter.MaxConcurrent.Should().Be(1);
    }
}

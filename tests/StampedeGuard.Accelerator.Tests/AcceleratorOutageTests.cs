using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>
/// An origin that fails while many clients wait for the same URL: the collapsed waiters share the one failure
/// (502 from YARP for a broken connection, 504 for an origin that stops answering), one origin attempt at a time.
/// </summary>
public sealed class AcceleratorOutageTests
{
    private const int Clients = 20;

    [Fact]
    public async Task OriginDropsTheConnection_EachWaveOfCollapsedWaitersSharesOne502_OneOriginAttemptAtATime()
    {
        TaskCompletionSource[] gates = [new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously)];
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapGet("/down", async ctx =>
        {
            using var _ = o.Enter();
            await gates[Math.Min(o.Executions, gates.Length) - 1].Task;
            ctx.Abort(); // the origin dies mid-request: YARP answers 502
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        for (var wave = 1; wave <= gates.Length; wave++)
        {
            var responses = Enumerable.Range(0, Clients).Select(_ => accelerator.Client.GetAsync("/down")).ToArray();
            await HttpTestExtensions.WaitUntilAsync(() => origin.Executions == wave, "one client of the wave leads an origin attempt");
            await HttpTestExtensions.WaitUntilAsync(
                () => accelerator.Count("collapsed") == wave * (Clients - 1),
                "during an outage the other clients keep collapsing onto the leader (no hit-for-pass after a failure)");
            gates[wave - 1].SetResult();

            (await Task.WhenAll(responses)).Should().OnlyContain(r => r.StatusCode == HttpStatusCode.BadGateway);
            origin.Executions.Should().Be(wave);
        }

        origin.Counter.MaxConcurrent.Should().Be(1);
    }

    [Fact]
    public async Task OriginStopsAnswering_CollapsedWaitersShareThe504_OneOriginAttempt()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var origin = await OriginServer.StartAsync((app, o) => app.MapGet("/hang", async ctx =>
        {
            using var _ = o.Enter();
            await released.Task.WaitAsync(ctx.RequestAborted); // never answers; YARP gives up after ActivityTimeout
        }));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address, "--ReverseProxy:Clusters:origin:HttpRequest:ActivityTimeout", "00:00:05");

        var responses = Enumerable.Range(0, Clients).Select(_ => accelerator.Client.GetAsync("/hang")).ToArray();
        await origin.Counter.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await HttpTestExtensions.WaitUntilAsync(() => accelerator.Count("collapsed") == Clients - 1, "every other client joins the leader's flight within the 5 s activity timeout");

        (await Task.WhenAll(responses)).Should().OnlyContain(r => r.StatusCode == HttpStatusCode.GatewayTimeout);
        origin.Executions.Should().Be(1);
        origin.Counter.MaxConcurrent.Should().Be(1);
        released.SetResult();
    }
}

using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using StampedeGuard.TestSupport.Http;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>The accelerator's configuration-file form (YARP's ReverseProxy section plus StampedeGuard:Caching) and what YARP passes through.</summary>
public sealed class AcceleratorConfigurationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sg-accel-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task ConfigFile_TwoOriginsBehindRoutes_EachPathReachesItsOriginAndIsCachedOnce()
    {
        await using var a = await OriginServer.StartAsync((app, o) => app.MapGet("/a/{name}", async (HttpContext ctx, string name) =>
        {
            using var _ = o.Enter();
            ctx.Response.Headers.CacheControl = "max-age=60";
            await ctx.Response.WriteAsync("a:" + name);
        }));
        await using var b = await OriginServer.StartAsync((app, o) => app.MapGet("/b/{name}", async (HttpContext ctx, string name) =>
        {
            using var _ = o.Enter();
            await ctx.Response.WriteAsync("b:" + name); // no Cache-Control: DefaultFreshness from the file makes it cacheable
        }));
        var file = WriteConfig(new
        {
            ReverseProxy = new
            {
                Routes = new
                {
                    a = new { ClusterId = "a", Match = new { Path = "/a/{**rest}" } },
                    b = new { ClusterId = "b", Match = new { Path = "/b/{**rest}" } },
                },
                Clusters = new
                {
                    a = new { Destinations = new { one = new { Address = a.Address.ToString() } } },
                    b = new { Destinations = new { one = new { Address = b.Address.ToString() } } },
                },
            },
            StampedeGuard = new { Caching = new { DefaultFreshness = "00:01:00" } },
        });
        await using var accelerator = await AcceleratorHost.StartAsync(["--config", file]);

        for (var i = 0; i < 3; i++)
        {
            (await accelerator.Client.GetBodyAsync("/a/x")).Body.Should().Be("a:x");
            (await accelerator.Client.GetBodyAsync("/b/y")).Body.Should().Be("b:y");
        }

        a.Executions.Should().Be(1);
        b.Executions.Should().Be(1);
        (await accelerator.Client.GetAsync("/b/y")).CacheStatus().Should().Contain("hit");
        (await accelerator.Client.GetAsync("/c/z")).StatusCode.Should().Be(HttpStatusCode.NotFound); // no route
    }

    [Fact]
    public void ConfigFile_WithoutRoutes_RefusedWithUsage()
    {
        var file = WriteConfig(new { StampedeGuard = new { Caching = new { DefaultFreshness = "00:01:00" } } });
        using var error = new StringWriter();

        AcceleratorApp.Create(["--config", file], error).Should().BeNull();
        error.ToString().Should().Contain("usage:");
    }

    [Fact]
    public async Task WebSocketUpgrade_PassedThroughToTheOrigin_EchoesBothWays()
    {
        await using var origin = await OriginServer.StartAsync(
            (app, o) => app.Map("/ws", async ctx =>
            {
                using var _ = o.Enter();
                using var socket = await ctx.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[1024];
                WebSocketReceiveResult received;
                while (!(received = await socket.ReceiveAsync(buffer, CancellationToken.None)).CloseStatus.HasValue)
                {
                    await socket.SendAsync(Encoding.UTF8.GetBytes("echo:" + Encoding.UTF8.GetString(buffer, 0, received.Count)), WebSocketMessageType.Text, true, CancellationToken.None);
                }

                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }),
            middleware: app => app.UseWebSockets());
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);
        using var client = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        await client.ConnectAsync(new Uri($"ws://{accelerator.Address.Authority}/ws"), timeout.Token);
        var replies = new List<string>();
        foreach (var message in new[] { "one", "two" })
        {
            await client.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, timeout.Token);
            var buffer = new byte[1024];
            var result = await client.ReceiveAsync(buffer, timeout.Token);
            replies.Add(Encoding.UTF8.GetString(buffer, 0, result.Count));
        }

        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);

        replies.Should().Equal("echo:one", "echo:two");
        client.CloseStatus.Should().Be(WebSocketCloseStatus.NormalClosure);
        origin.Executions.Should().Be(1);
        accelerator.Count("bypass").Should().Be(1); // the cache stepped aside for the upgrade
    }

    private string WriteConfig(object config)
    {
        var path = Path.Combine(_directory, "appsettings.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace StampedeGuard.Accelerator.Tests;

/// <summary>The accelerator's command line and its default logging.</summary>
public sealed class AcceleratorCommandLineTests
{
    [Theory]
    [InlineData("")]
    [InlineData("--urls|http://127.0.0.1:0")]
    [InlineData("--origin|not a url")]
    [InlineData("--origin|ftp://127.0.0.1/")]
    [InlineData("--config|/nonexistent/appsettings.json")]
    public async Task RunAsync_NoOriginNoRoutesOrBadArgument_PrintsUsageAndReturns2(string commandLine)
    {
        var args = commandLine.Split('|', StringSplitOptions.RemoveEmptyEntries);
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await AcceleratorApp.RunAsync(args, output, error).WaitAsync(TimeSpan.FromSeconds(30));

        code.Should().Be(2);
        error.ToString().Should().ContainAny("usage: stampedeguard-accelerator", "--config: file not found");
        output.ToString().Should().BeEmpty();
    }

    [Fact]
    public async Task RunAsync_Help_PrintsUsageToOutputAndReturns0()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        (await AcceleratorApp.RunAsync(["--help"], output, error)).Should().Be(0);

        output.ToString().Should().Contain("--origin URL").And.Contain("--config FILE");
        error.ToString().Should().BeEmpty();
    }

    [Fact]
    public async Task DefaultLogging_Requests_NoPerRequestLogAtInformation()
    {
        await using var origin = await OriginServer.StartAsync((app, _) => app.MapGet("/p", ctx => ctx.Response.WriteAsync("p")));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address);

        for (var i = 0; i < 5; i++)
        {
            await accelerator.Client.GetStringAsync("/p");
        }

        var records = accelerator.Logs.GetSnapshot();
        records.Should().Contain(r => r.Id.Id == 300, "the start-up line says what is proxied");
        // (Data protection warns once per machine, when the first ASP.NET Core host of the run creates its key ring.)
        records.Where(r => r.Level >= LogLevel.Information && r.Id.Id != 300 && r.Category != "Microsoft.Hosting.Lifetime"
                && !(r.Category ?? string.Empty).StartsWith("Microsoft.AspNetCore.DataProtection", StringComparison.Ordinal))
            .Should().BeEmpty("request logging is opt-in");
    }

    [Fact]
    public async Task LoggingOptIn_YarpAtInformation_LogsEachForwardedRequest()
    {
        await using var origin = await OriginServer.StartAsync((app, _) => app.MapGet("/p", ctx => ctx.Response.WriteAsync("p")));
        await using var accelerator = await AcceleratorHost.StartAsync(origin.Address, "--Logging:LogLevel:Yarp", "Information");

        await accelerator.Client.GetStringAsync("/p");

        accelerator.Logs.GetSnapshot().Should().Contain(r => (r.Category ?? string.Empty).StartsWith("Yarp", StringComparison.Ordinal) && r.Level == LogLevel.Information);
    }
}

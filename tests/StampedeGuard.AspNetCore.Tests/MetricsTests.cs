using System.Diagnostics.Metrics;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

public sealed class MetricsTests
{
    [Fact]
    public async Task Requests_CountedByResult_OnTheStampedeGuardAspNetCoreMeter()
    {
        await using var host = await TestHost.StartAsync(app => app.MapGet("/m", ctx =>
        {
            ctx.Response.Headers.CacheControl = "max-age=60";
            return ctx.Response.WriteAsync("m");
        }));
        var factory = host.App.Services.GetRequiredService<IMeterFactory>();
        var results = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "StampedeGuard.AspNetCore" && ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "stampedeguard.http.requests")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                lock (results)
                {
                    results.Add((string)tag.Value!);
                }
            }
        });
        listener.Start();

        await host.Client.GetAsync("/m");
        await host.Client.GetAsync("/m");
        await host.Client.PostAsync("/m", new StringContent(string.Empty));

        results.Should().Equal("miss", "hit", "method");
    }
}

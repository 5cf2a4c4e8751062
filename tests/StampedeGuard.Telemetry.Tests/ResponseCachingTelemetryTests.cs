namespace StampedeGuard.Telemetry.Tests;

/// <summary>
/// What a user of the OpenTelemetry SDK sees from the HTTP middleware on real Kestrel: meter and activity source
/// <c>StampedeGuard.AspNetCore</c>.
/// </summary>
public sealed class ResponseCachingTelemetryTests : IDisposable
{
    private readonly OpenTelemetryCapture _otel = new("StampedeGuard.AspNetCore");
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task Meter_MissHitAndPost_ExportsRequestsOriginRequestsAndStoredWithUnitsAndTags()
    {
        await using var app = await KestrelApp.StartAsync(_time, a => a.MapMethods("/m", ["GET", "POST"], Cacheable));

        (await app.Client.GetAsync("/m")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await app.Client.GetAsync("/m")).CacheStatus().Should().Contain("hit");
        (await app.Client.PostAsync("/m", new StringContent(string.Empty))).StatusCode.Should().Be(HttpStatusCode.OK);
        var metrics = _otel.CollectMetrics();

        metrics["stampedeguard.http.requests"].Unit.Should().Be("{request}");
        metrics["stampedeguard.http.requests"].SumsByTags().Should().BeEquivalentTo(new Dictionary<string, long>
        {
            ["stampedeguard.result=miss"] = 1,
            ["stampedeguard.result=hit"] = 1,
            ["stampedeguard.result=method"] = 1,
        });
        (metrics["stampedeguard.http.origin.requests"].Unit, metrics["stampedeguard.http.origin.requests"].SumsByTags()[string.Empty]).Should().Be(("{request}", 2L));
        (metrics["stampedeguard.http.stored"].Unit, metrics["stampedeguard.http.stored"].SumsByTags()[string.Empty]).Should().Be(("{response}", 1L));
    }

    [Fact]
    public async Task Histogram_CollapsedWaitersWait200Ms_LandInThe100To250MsBucketOfTheAdvisedBoundaries()
    {
        const int waiters = 4;
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await KestrelApp.StartAsync(_time, a => a.MapGet("/c", async ctx =>
        {
            entered.TrySetResult();
            await gate.Task;
            await Cacheable(ctx);
        }));
        using var requests = new TagCounter(app.MeterFactory, "stampedeguard.http.requests");
        var leader = app.Client.GetAsync("/c");
        await Poll.Within(entered.Task, "the leader reached the origin");
        var timersBefore = _time.ActiveTimers;
        var collapsed = Enumerable.Range(0, waiters).Select(_ => app.Client.GetAsync("/c")).ToArray();
        await Poll.UntilAsync(
            () => requests["collapsed"] == waiters && _time.ActiveTimers == timersBefore + waiters,
            "every waiter is waiting for the leader's headers (its WaiterTimeout timer is armed)");
        _time.Advance(TimeSpan.FromMilliseconds(200));
        gate.SetResult();
        (await Task.WhenAll(collapsed.Append(leader))).Should().OnlyContain(r => r.StatusCode == HttpStatusCode.OK);

        var metric = _otel.CollectMetrics()["stampedeguard.http.waiter.duration"];
        var (count, buckets) = metric.Histogram();

        (metric.Unit, metric.MetricType, count).Should().Be(("s", OpenTelemetry.Metrics.MetricType.Histogram, (long)waiters));
        buckets.Select(b => b.Bound).Should().Equal(OpenTelemetryCapture.DocumentedBuckets);
        buckets.Where(b => b.Count > 0).Should().Equal((0.25, (long)waiters));
    }

    [Fact]
    public async Task Span_Miss_IsOneInternalStampedeguardHttpOriginSpanWithStatusAndStoredTags()
    {
        await using var app = await KestrelApp.StartAsync(_time, a => a.MapGet("/s", Cacheable));

        (await app.Client.GetAsync("/s")).StatusCode.Should().Be(HttpStatusCode.OK);
        await Poll.UntilAsync(() => _otel.Spans.Count == 1, "the origin span ended");
        (await app.Client.GetAsync("/s")).CacheStatus().Should().Contain("hit");

        var span = _otel.Spans.Should().ContainSingle().Subject;
        (span.DisplayName, span.Kind, span.Source.Name, span.Status).Should().Be(("stampedeguard.http.origin", ActivityKind.Internal, "StampedeGuard.AspNetCore", ActivityStatusCode.Unset));
        span.TagObjects.Should().BeEquivalentTo(new Dictionary<string, object?>
        {
            ["stampedeguard.http.revalidation"] = false,
            ["stampedeguard.http.background"] = false,
            ["http.response.status_code"] = 200,
            ["stampedeguard.http.stored"] = true,
        });
    }

    [Fact]
    public async Task Span_StaleEntryWithETag_IsARevalidationSpan()
    {
        await using var app = await KestrelApp.StartAsync(_time, a => a.MapGet("/r", ctx =>
        {
            ctx.Response.Headers.ETag = "\"v1\"";
            return Cacheable(ctx);
        }));

        await app.Client.GetAsync("/r");
        await Poll.UntilAsync(() => _otel.Spans.Count == 1, "the first origin span ended");
        _time.Advance(TimeSpan.FromSeconds(61));
        (await app.Client.GetAsync("/r")).StatusCode.Should().Be(HttpStatusCode.OK);
        await Poll.UntilAsync(() => _otel.Spans.Count == 2, "the revalidation span ended");

        _otel.Spans.Select(s => (s.DisplayName, s.GetTagItem("stampedeguard.http.revalidation")))
            .Should().Equal(("stampedeguard.http.origin", false), ("stampedeguard.http.origin", true));
    }

    [Fact]
    public async Task Span_OriginThrows_HasErrorStatusWithTheExceptionTypeName()
    {
        await using var app = await KestrelApp.StartAsync(_time, a => a.MapGet("/e", Task (HttpContext _) => throw new InvalidOperationException("secret detail")));

        await app.Client.GetAsync("/e");
        await Poll.UntilAsync(() => _otel.Spans.Count == 1, "the origin span ended");

        var span = _otel.Spans.Should().ContainSingle().Subject;
        (span.DisplayName, span.Status, span.StatusDescription).Should().Be(("stampedeguard.http.origin", ActivityStatusCode.Error, nameof(InvalidOperationException)));
    }

    public void Dispose() => _otel.Dispose();

    private static Task Cacheable(HttpContext context)
    {
        context.Response.Headers.CacheControl = "max-age=60";
        return context.Response.WriteAsync("body");
    }
}

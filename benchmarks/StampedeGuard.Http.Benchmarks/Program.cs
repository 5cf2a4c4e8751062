// The HTTP benchmark app: the same endpoints and payloads behind StampedeGuard's middleware or ASP.NET Core's
// OutputCache, plus a small client that measures time to first byte. Driven by benchmarks/http/run.sh with wrk.
//   server --mode stampede|outputcache --urls http://127.0.0.1:5101
//   ttfb --url http://127.0.0.1:5101/slow/1 --clients 50
using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.OutputCaching;

if (args.Length > 0 && args[0] == "ttfb")
{
    return await Ttfb.RunAsync(args);
}

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var mode = builder.Configuration["mode"] ?? "stampede";
if (mode == "stampede")
{
    builder.Services.AddStampedeGuardResponseCaching();
}
else
{
    builder.Services.AddOutputCache(o => o.AddBasePolicy(p => p.Expire(TimeSpan.FromHours(1))));
}

var app = builder.Build();
var payload = new string('x', 2048);
var chunk = new string('y', 1024);
long executions = 0;

// Stats are outside the caches (mapped before them, short-circuiting).
app.Map("/stats", stats => stats.Run(async ctx =>
{
    var value = ctx.Request.Query.ContainsKey("reset") ? Interlocked.Exchange(ref executions, 0) : Interlocked.Read(ref executions);
    await ctx.Response.WriteAsync(value.ToString(CultureInfo.InvariantCulture));
}));

if (mode == "stampede")
{
    app.UseStampedeGuardResponseCaching();
}
else
{
    app.UseOutputCache();
}

// A cacheable 2 KiB response.
app.MapGet("/cached", ctx =>
{
    Interlocked.Increment(ref executions);
    ctx.Response.Headers.CacheControl = "public, max-age=3600";
    ctx.Response.ContentType = "text/plain";
    return ctx.Response.WriteAsync(payload);
});

// A cacheable response that takes 200 ms to produce: the cold-start burst target.
app.MapGet("/cold/{id}", async ctx =>
{
    Interlocked.Increment(ref executions);
    await Task.Delay(200);
    ctx.Response.Headers.CacheControl = "public, max-age=3600";
    await ctx.Response.WriteAsync(payload);
});

// A cacheable body streamed slowly: 1 KiB at once, then 10 x 1 KiB, 100 ms apart (about 1 s in all).
app.MapGet("/slow/{id}", async ctx =>
{
    Interlocked.Increment(ref executions);
    ctx.Response.Headers.CacheControl = "public, max-age=3600";
    await ctx.Response.WriteAsync(chunk);
    await ctx.Response.Body.FlushAsync();
    for (var i = 0; i < 10; i++)
    {
        await Task.Delay(100);
        await ctx.Response.WriteAsync(chunk);
        await ctx.Response.Body.FlushAsync();
    }
});

// An uncacheable response (it sets a cookie) that takes 100 ms: waves must not be serialised.
app.MapGet("/uncacheable/{id}", async ctx =>
{
    Interlocked.Increment(ref executions);
    await Task.Delay(100);
    ctx.Response.Headers.SetCookie = "session=" + Guid.NewGuid().ToString("N");
    await ctx.Response.WriteAsync(payload);
});

await app.RunAsync();
return 0;

/// <summary>Fires N concurrent GETs at one URL and reports time to first byte and to the last byte.</summary>
internal static class Ttfb
{
    public static async Task<int> RunAsync(string[] args)
    {
        var url = Arg(args, "--url") ?? throw new ArgumentException("--url");
        var clients = int.Parse(Arg(args, "--clients") ?? "50", CultureInfo.InvariantCulture);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 10_000, UseCookies = false });
        // Warm up: open the connections and JIT the client first, so only the server's behaviour is measured.
        var stats = new Uri(new Uri(url), "/stats");
        for (var i = 0; i < 3; i++)
        {
            await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => http.GetStringAsync(stats)));
        }

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, clients).Select(async _ =>
        {
            await start.Task;
            var clock = Stopwatch.StartNew();
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            var first = await body.ReadAsync(buffer);
            var ttfb = clock.Elapsed.TotalMilliseconds;
            while (await body.ReadAsync(buffer) > 0)
            {
            }

            return (Ttfb: ttfb, Total: clock.Elapsed.TotalMilliseconds, First: first);
        }).ToArray();
        start.SetResult();
        var results = await Task.WhenAll(tasks);
        var ttfbs = results.Select(r => r.Ttfb).Order().ToArray();
        var totals = results.Select(r => r.Total).Order().ToArray();
        Console.WriteLine(FormattableString.Invariant($"ttfb_ms p50={P(ttfbs, 0.5):F0} p95={P(ttfbs, 0.95):F0} max={ttfbs[^1]:F0} total_ms p50={P(totals, 0.5):F0} max={totals[^1]:F0}"));
        return 0;
    }

    private static double P(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}

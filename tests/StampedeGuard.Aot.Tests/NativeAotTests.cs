using StampedeGuard.TestSupport.Processes;
using StampedeGuard.TestSupport.Redis;
using Xunit.Abstractions;

namespace StampedeGuard.Aot.Tests;

/// <summary>
/// StampedeGuard under Native AOT: the smoke app publishes without a trim or AOT warning, and its native binary does
/// what the app does on the JIT against a real redis-server (GetOrCreateAsync of a record through a source-generated
/// context, tags, the Redis tier's barrier across two nodes, HybridCache, the Redis lock, Memoize, a test clock, and a
/// type no context lists: served locally, its L2 write logged with the fix).
/// </summary>
public sealed class NativeAotTests(PublishedSmokeApp app, ITestOutputHelper output) : IClassFixture<PublishedSmokeApp>
{
    private static readonly string[] ExpectedLines =
    [
        "aot: dynamic-code=False",
        "record: Oslo 7 rain equal=True runs=1",
        "tags: after-remove=9 other-node=new runs=2",
        "barrier: callers=16 all-bergen=True runs=1",
        "hybrid: Tromso -3 equal=True copy=True runs=1",
        "lock: RedisStampedeLock held-elsewhere=refused after-release=granted",
        "memoize: Oslo Oslo runs=1",
        "clock: fresh-before=True expired-after=True",
        "default-json: string=True record=False",
        "log: warnings=0",
        "unlisted: served=1 logged=1 names-fix=True",
        "hybrid-unlisted: InvalidOperationException",
        "smoke: ok",
    ];

    [AotFact]
    public void Publish_SmokeApp_SucceedsWithoutTrimOrAotWarnings()
    {
        var publish = PublishOrFail();

        publish.ExitCode.Should().Be(0, publish.Output);
        app.TrimAndAotDiagnostics.Should().BeEmpty("every library is IsAotCompatible and the app uses only its AOT-safe paths");
        var size = new FileInfo(app.Binary).Length;
        output.WriteLine($"publish took {publish.Elapsed.TotalSeconds:F0} s; native binary {size / 1024.0 / 1024.0:F1} MiB");
    }

    [AotFact]
    public async Task NativeBinary_AgainstRealRedis_PassesEveryCheck()
    {
        var publish = PublishOrFail();
        publish.ExitCode.Should().Be(0, publish.Output);
        await using var redis = await RedisServer.StartAsync();

        var run = await ChildProcess.RunAsync(app.Binary, ["--redis", redis.EndPoint], Path.GetDirectoryName(app.Binary)!, TimeSpan.FromSeconds(90));

        run.ExitCode.Should().Be(0, run.Output);
        run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Should().Equal(ExpectedLines, "stderr: " + run.StandardError);
    }

    private ChildProcess PublishOrFail()
    {
        if (NativeToolchain.Missing is not null)
        {
            Assert.Fail(NativeToolchain.Explanation); // reached only under CI=true: otherwise the test is skipped
        }

        return app.Publish ?? throw new InvalidOperationException("The smoke app was not published.");
    }
}

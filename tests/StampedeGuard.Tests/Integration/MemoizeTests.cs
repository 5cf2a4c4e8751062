using FluentAssertions;
using StampedeGuard.Memoization;
using Xunit;

namespace StampedeGuard.Tests.Integration;

public sealed class MemoizeTests : IDisposable
{
    private readonly StampedeCache _cache = new();

    public void Dispose() => _cache.Dispose();

    [Fact]
    public async Task Memoize_ConcurrentCallsWithTheSameArgument_RunTheFunctionOnce()
    {
        var runs = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var render = _cache.Memoize<int, string>("render", async (page, _) =>
        {
            Interlocked.Increment(ref runs);
            await gate.Task;
            return $"page {page}";
        });

        var calls = Enumerable.Range(0, 100).Select(_ => Task.Run(() => render(1, default).AsTask())).ToArray();
        while (_cache.FlightCount == 0 || Volatile.Read(ref runs) == 0)
        {
            await Task.Yield();
        }

        gate.SetResult();

        (await Task.WhenAll(calls)).Should().AllBe("page 1");
        runs.Should().Be(1);
    }

    [Fact]
    public async Task Memoize_DifferentArguments_AreDifferentKeys()
    {
        var runs = 0;
        var add = _cache.Memoize<int, int, int>("add", (a, b, _) => { Interlocked.Increment(ref runs); return ValueTask.FromResult(a + b); });

        (await add(1, 2, default)).Should().Be(3);
        (await add(2, 1, default)).Should().Be(3);
        (await add(1, 2, default)).Should().Be(3);

        runs.Should().Be(2);
        (await _cache.TryGetAsync<int>("add(1,2)")).HasValue.Should().BeTrue();
    }

    [Fact]
    public async Task Memoize_StringAndNumberArguments_DoNotCollide()
    {
        var describe = _cache.Memoize<object?, string>("describe", (arg, _) => ValueTask.FromResult(arg?.GetType().Name ?? "null"));

        (await describe(1, default)).Should().Be("Int32");
        (await describe("1", default)).Should().Be("String");
        (await describe(null, default)).Should().Be("null");
        StampedeMemoizeExtensions.Format("a,b", System.Text.Json.JsonSerializerOptions.Default).Should().Be("\"a,b\"");
        StampedeMemoizeExtensions.Format(1.5, System.Text.Json.JsonSerializerOptions.Default).Should().Be("1.5");
    }

    [Fact]
    public void Memoize_EmptyName_ThrowsNamingTheArgument()
    {
        var act = () => _cache.Memoize<int, int>("", (x, _) => ValueTask.FromResult(x));

        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("name");
    }
}

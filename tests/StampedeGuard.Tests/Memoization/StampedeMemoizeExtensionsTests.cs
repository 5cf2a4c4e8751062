using StampedeGuard.Memoization;
using StampedeGuard.Tests.Infrastructure;

namespace StampedeGuard.Tests.Memoization;

public sealed class StampedeMemoizeExtensionsTests
{
    [Fact]
    public async Task Memoize_DateTimesDifferingBelowOneSecond_DistinctResults()
    {
        using var h = new CacheHarness();
        var echo = h.Cache.Memoize<DateTime, DateTime>("echo", (t, _) => ValueTask.FromResult(t));
        var first = new DateTime(2026, 1, 1, 12, 0, 0, 100, DateTimeKind.Utc);
        var second = first.AddMilliseconds(100);

        (await echo(first, default)).Should().Be(first);
        (await echo(second, default)).Should().Be(second, "a memoized function must not answer for another argument");
    }

    [Fact]
    public async Task Memoize_DateTimeOffsetsDifferingBelowOneSecond_DistinctResults()
    {
        using var h = new CacheHarness();
        var echo = h.Cache.Memoize<DateTimeOffset, DateTimeOffset>("echo", (t, _) => ValueTask.FromResult(t));
        var first = new DateTimeOffset(2026, 1, 1, 12, 0, 0, 100, TimeSpan.Zero);
        var second = first.AddMilliseconds(100);

        (await echo(first, default)).Should().Be(first);
        (await echo(second, default)).Should().Be(second, "a memoized function must not answer for another argument");
    }

    [Fact]
    public async Task Memoize_SameInstantInDifferentOffsets_EachGetsItsOwnResult()
    {
        using var h = new CacheHarness();
        var echo = h.Cache.Memoize<DateTimeOffset, DateTimeOffset>("echo", (t, _) => ValueTask.FromResult(t));
        var utc = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var paris = utc.ToOffset(TimeSpan.FromHours(1));

        await echo(utc, default);

        (await echo(paris, default)).Offset.Should().Be(TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task Memoize_StringWithCommaVersusTwoArguments_DoNotCollide()
    {
        using var h = new CacheHarness();
        var one = h.Cache.Memoize<string, string>("f", (a, _) => ValueTask.FromResult("one:" + a));
        var two = h.Cache.Memoize<string, string, string>("f", (a, b, _) => ValueTask.FromResult("two:" + a + "|" + b));

        var single = await one("a,b", default);
        var pair = await two("a", "b", default);

        (single, pair).Should().Be(("one:a,b", "two:a|b"));
    }

    [Fact]
    public async Task Memoize_NullArgumentVersusTheStringNull_DoNotCollide()
    {
        using var h = new CacheHarness();
        var echo = h.Cache.Memoize<string?, string>("echo", (a, _) => ValueTask.FromResult(a ?? "<null>"));

        (await echo(null, default), await echo("null", default)).Should().Be(("<null>", "null"));
    }

    [Fact]
    public async Task Memoize_ArgumentLongerThanMaximumKeyLength_StillReturnsTheFunctionsResult()
    {
        using var h = new CacheHarness();
        var length = h.Cache.Memoize<string, int>("length", (text, _) => ValueTask.FromResult(text.Length));
        var query = new string('q', 2_000);

        var call = async () => await length(query, default);

        (await call.Should().NotThrowAsync("a memoized function accepts whatever its function accepts")).Which.Should().Be(2_000);
    }
}

namespace StampedeGuard.Tests;

public sealed class StampedeCacheEntryOptionsTests
{
    public static TheoryData<string, Action<StampedeCacheEntryOptions>> NegativeDurations => new()
    {
        { "Duration", o => o.Duration = TimeSpan.FromSeconds(-1) },
        { "Duration", o => o.Duration = TimeSpan.Zero },
        { "StaleWhileRevalidate", o => o.StaleWhileRevalidate = TimeSpan.FromSeconds(-1) },
        { "StaleIfError", o => o.StaleIfError = TimeSpan.FromTicks(-1) },
        { "FailSafeThrottle", o => o.FailSafeThrottle = TimeSpan.FromSeconds(-1) },
        { "FactorySoftTimeout", o => o.FactorySoftTimeout = TimeSpan.FromSeconds(-2) },
        { "FactoryHardTimeout", o => o.FactoryHardTimeout = TimeSpan.FromSeconds(-2) },
        { "LockTimeout", o => o.LockTimeout = TimeSpan.FromSeconds(-2) },
        { "NegativeCacheDuration", o => o.NegativeCacheDuration = TimeSpan.FromSeconds(-1) },
        { "LocalDuration", o => o.LocalDuration = TimeSpan.FromSeconds(-1) },
    };

    [Theory]
    [MemberData(nameof(NegativeDurations))]
    public void Setter_NegativeDuration_ThrowsArgumentOutOfRangeNamingOption(string option, Action<StampedeCacheEntryOptions> set)
    {
        var options = new StampedeCacheEntryOptions();

        var act = () => set(options);

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(option);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-0.5)]
    public void EarlyRefreshBeta_NotFiniteOrNegative_ThrowsArgumentOutOfRangeNamingOption(double beta)
    {
        var options = new StampedeCacheEntryOptions();

        var act = () => options.EarlyRefreshBeta = beta;

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("EarlyRefreshBeta");
    }

    [Fact]
    public void EarlyRefresh_UndefinedValue_ThrowsArgumentOutOfRangeNamingOption()
    {
        var options = new StampedeCacheEntryOptions();

        var act = () => options.EarlyRefresh = (StampedeEarlyRefresh)42;

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("EarlyRefresh");
    }

    [Fact]
    public void Setter_RejectedValue_LeavesPreviousValue()
    {
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(3) };

        var act = () => options.Duration = TimeSpan.FromSeconds(-3);

        act.Should().Throw<ArgumentOutOfRangeException>();
        options.Duration.Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void Timeouts_InfiniteTimeSpan_Accepted()
    {
        var options = new StampedeCacheEntryOptions
        {
            FactorySoftTimeout = Timeout.InfiniteTimeSpan,
            FactoryHardTimeout = Timeout.InfiniteTimeSpan,
            LockTimeout = Timeout.InfiniteTimeSpan,
        };

        (options.FactorySoftTimeout, options.FactoryHardTimeout, options.LockTimeout)
            .Should().Be((Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public void Clone_ChangedCopy_LeavesOriginalAlone()
    {
        var options = new StampedeCacheEntryOptions { Duration = TimeSpan.FromSeconds(3) };

        var copy = options.Clone();
        copy.Duration = TimeSpan.FromSeconds(9);

        options.Duration.Should().Be(TimeSpan.FromSeconds(3));
    }
}

namespace StampedeGuard.Tests;

public sealed class StampedeCacheOptionsTests
{
    [Fact]
    public void MaximumKeyLength_Zero_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeCacheOptions { MaximumKeyLength = 0 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("MaximumKeyLength");
    }

    [Fact]
    public void MaximumPayloadBytes_Negative_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeCacheOptions { MaximumPayloadBytes = -1 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("MaximumPayloadBytes");
    }

    [Fact]
    public void TimeProvider_Null_ThrowsArgumentNullNamingOption()
    {
        var act = () => new StampedeCacheOptions { TimeProvider = null! };

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("TimeProvider");
    }

    [Fact]
    public void DefaultEntryOptions_Defaults_MatchDocumentation()
    {
        var options = new StampedeCacheOptions().DefaultEntryOptions;

        options.Duration.Should().Be(TimeSpan.FromMinutes(5));
        options.LockTimeout.Should().Be(TimeSpan.FromSeconds(30));
        options.EarlyRefresh.Should().Be(StampedeEarlyRefresh.Adaptive);
        options.StaleIfError.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void DistributedCompression_Defaults_MatchDocumentation()
    {
        var options = new StampedeCacheOptions();

        (options.DistributedCompression, options.DistributedCompressionThreshold, options.DistributedCompressionLevel)
            .Should().Be((StampedeCompression.None, 1024, System.IO.Compression.CompressionLevel.Fastest));
    }

    [Fact]
    public void DistributedCompression_Undefined_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeCacheOptions { DistributedCompression = (StampedeCompression)3 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("DistributedCompression");
    }

    [Fact]
    public void DistributedCompressionThreshold_Negative_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeCacheOptions { DistributedCompressionThreshold = -1 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("DistributedCompressionThreshold");
    }

    [Fact]
    public void DistributedCompressionLevel_Undefined_ThrowsArgumentOutOfRangeNamingOption()
    {
        var act = () => new StampedeCacheOptions { DistributedCompressionLevel = (System.IO.Compression.CompressionLevel)42 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("DistributedCompressionLevel");
    }
}

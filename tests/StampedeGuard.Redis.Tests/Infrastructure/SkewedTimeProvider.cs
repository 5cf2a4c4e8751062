namespace StampedeGuard.Redis.Tests.Infrastructure;

/// <summary>The system clock shifted by a fixed offset: a node whose wall clock is off.</summary>
internal sealed class SkewedTimeProvider(TimeSpan offset) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => TimeProvider.System.GetUtcNow() + offset;
}

namespace StampedeGuard.Stampede;

/// <summary>The cached value: a rendered page that knows when its factory call completed (UTC ticks).</summary>
internal sealed record LandingPage(long ProducedAt);

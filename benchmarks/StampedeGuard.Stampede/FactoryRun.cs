namespace StampedeGuard.Stampede;

/// <summary>One run of the expensive factory, in UTC ticks.</summary>
internal readonly record struct FactoryRun(long Start, long End);

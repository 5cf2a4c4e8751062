namespace StampedeGuard.Benchmarks;

/// <summary>A cached value (a reference type, as most cached values are).</summary>
public sealed record Page(string Html);

using System.ComponentModel;

namespace StampedeGuard.Benchmarks;

/// <summary>
/// A cached value (a reference type, as most cached values are). Sealed and marked immutable so HybridCache keeps the
/// instance in its L1 instead of a serialized copy it would deserialize on every hit (its documented advice).
/// </summary>
[ImmutableObject(true)]
public sealed record Page(string Html);

using Microsoft.Extensions.Caching.Hybrid;
using StampedeGuard;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Carries the cache-wide limits of <see cref="HybridCacheOptions"/> over to <see cref="StampedeCacheOptions"/>: a
/// limit the application changed from HybridCache's default (1024 characters, 1 MiB) wins, the others stay.
/// </summary>
internal static class HybridOptionsMapping
{
    private static readonly HybridCacheOptions Defaults = new();

    public static void Apply(HybridCacheOptions hybrid, StampedeCacheOptions options)
    {
        if (hybrid.MaximumKeyLength != Defaults.MaximumKeyLength)
        {
            options.MaximumKeyLength = hybrid.MaximumKeyLength;
        }

        if (hybrid.MaximumPayloadBytes != Defaults.MaximumPayloadBytes)
        {
            options.MaximumPayloadBytes = (int)Math.Clamp(hybrid.MaximumPayloadBytes, 1, int.MaxValue);
        }
    }
}

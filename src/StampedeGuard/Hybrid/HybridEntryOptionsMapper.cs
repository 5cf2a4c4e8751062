using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Hybrid;

namespace StampedeGuard.Hybrid;

/// <summary>
/// Turns HybridCache's per-call options, its cache-wide defaults (<see cref="HybridCacheOptions.DefaultEntryOptions"/>)
/// and StampedeGuard's defaults into one <see cref="StampedeCacheEntryOptions"/>, with HybridCache's merge rules:
/// <list type="bullet">
/// <item><c>Expiration</c>: the call's, else the default's, else <see cref="StampedeCacheOptions.DefaultEntryOptions"/>'s Duration.</item>
/// <item><c>LocalCacheExpiration</c>: the call's (capped by the call's Expiration), else the call's Expiration, else the
/// default's (capped by the default Expiration), else the default Expiration; an L1 lifetime not shorter than the
/// entry's freshness maps to "as long as the entry" (the L1 copy never outlives the value's own windows).</item>
/// <item><c>Flags</c>: the call's when set (they replace, not add to, the defaults), else the default's.
/// <c>DisableLocalCacheRead/Write</c> map to <see cref="StampedeCacheEntryOptions.SkipLocalCacheRead"/>/<see cref="StampedeCacheEntryOptions.SkipLocalCacheWrite"/>;
/// either distributed flag maps to <see cref="StampedeCacheEntryOptions.SkipDistributedCache"/> (L2 neither read nor
/// written); <c>DisableCompression</c> has nothing to disable.</item>
/// </list>
/// Everything else (stale windows, fail-safe, timeouts) comes from StampedeGuard's defaults. Results are memoised per
/// options instance when no tags are given, so a hit with a shared options object allocates nothing.
/// </summary>
internal sealed class HybridEntryOptionsMapper
{
    private readonly StampedeCacheEntryOptions _engineDefaults;
    private readonly HybridCacheEntryOptions? _hybridDefaults;
    private readonly StampedeCacheEntryOptions _defaults;
    private readonly ConditionalWeakTable<HybridCacheEntryOptions, StampedeCacheEntryOptions> _mapped = [];
    private readonly ConditionalWeakTable<HybridCacheEntryOptions, StampedeCacheEntryOptions>.CreateValueCallback _convert;

    public HybridEntryOptionsMapper(StampedeCacheEntryOptions engineDefaults, HybridCacheEntryOptions? hybridDefaults)
    {
        _engineDefaults = engineDefaults;
        _hybridDefaults = hybridDefaults;
        _convert = options => Convert(options, null);
        _defaults = Convert(null, null);
    }

    /// <summary>The flags in force for a call.</summary>
    public HybridCacheEntryFlags Flags(HybridCacheEntryOptions? options) => options?.Flags ?? _hybridDefaults?.Flags ?? HybridCacheEntryFlags.None;

    /// <summary>The engine options of a call; tags must already be validated.</summary>
    public StampedeCacheEntryOptions Map(HybridCacheEntryOptions? options, IReadOnlyList<string>? tags)
    {
        if (tags is null)
        {
            return options is null ? _defaults : _mapped.GetValue(options, _convert);
        }

        return Convert(options, tags);
    }

    private StampedeCacheEntryOptions Convert(HybridCacheEntryOptions? options, IReadOnlyList<string>? tags)
    {
        var mapped = _engineDefaults.Clone();
        mapped.Duration = options?.Expiration ?? _hybridDefaults?.Expiration ?? mapped.Duration;
        var local = EffectiveLocal(options) ?? EffectiveLocal(_hybridDefaults);
        if (local is { } l1)
        {
            mapped.LocalDuration = l1 < mapped.Duration ? l1 : null;
        }

        var flags = Flags(options);
        if ((flags & (HybridCacheEntryFlags.DisableDistributedCacheRead | HybridCacheEntryFlags.DisableDistributedCacheWrite)) != 0)
        {
            mapped.SkipDistributedCache = true;
        }

        mapped.SkipLocalCacheRead = (flags & HybridCacheEntryFlags.DisableLocalCacheRead) != 0;
        mapped.SkipLocalCacheWrite = (flags & HybridCacheEntryFlags.DisableLocalCacheWrite) != 0;
        if (tags is not null)
        {
            mapped.Tags = tags;
        }

        return mapped;
    }

    /// <summary>HybridCache's L1 lifetime of one options object: LocalCacheExpiration capped by Expiration, else Expiration.</summary>
    private static TimeSpan? EffectiveLocal(HybridCacheEntryOptions? options) =>
        options?.LocalCacheExpiration is { } local
            ? (options.Expiration is { } overall && overall < local ? overall : local)
            : options?.Expiration;
}

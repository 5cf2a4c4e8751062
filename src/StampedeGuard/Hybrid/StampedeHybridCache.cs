using System.Diagnostics.CodeAnalysis;
using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StampedeGuard.Serialization;

namespace StampedeGuard.Hybrid;

/// <summary>
/// Microsoft's <see cref="HybridCache"/> API on the StampedeGuard engine: code written against HybridCache gets
/// single-flight, early refresh, stale serving, fail-safe and the Redis barrier, with HybridCache's contract:
/// <list type="bullet">
/// <item>Keys: an empty or whitespace key, one longer than MaximumKeyLength, or one with a control character
/// (<c>\0</c>-<c>\x1f</c>; also a lone surrogate, which the engine refuses) is not cached: the factory runs for that call (logged, ids 80-82).</item>
/// <item>Tags: null, empty, whitespace and the reserved <c>"*"</c> throw <see cref="ArgumentException"/> (parameter
/// <c>tags</c>), and so do tags the engine cannot store (control characters, lone surrogates);
/// <c>RemoveByTagAsync("*")</c> invalidates everything, a blank or unstorable tag does nothing.</item>
/// <item>Defensive copies: values of types that are not immutable (see <see cref="ImmutableType{T}"/>) are kept as the
/// bytes their serializer wrote and deserialized for each caller; immutable types are shared (no allocation on a hit).</item>
/// <item>Options: see <see cref="HybridEntryOptionsMapper"/>; <c>DisableUnderlyingData</c> reads without a factory.</item>
/// <item>Cancellation: a cancelled token throws <see cref="OperationCanceledException"/> at once, even for a cached key;
/// whenever the caller's token ends its wait, the exception is exactly <see cref="OperationCanceledException"/> (not
/// <see cref="TaskCanceledException"/>) carrying that token, as Microsoft's.</item>
/// </list>
/// </summary>
internal sealed class StampedeHybridCache : HybridCache
{

    private readonly StampedeCache _cache;
    private readonly HybridEntryOptionsMapper _mapper;
    private readonly IHybridCacheSerializerFactory _serializerFactory;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Type, object> _serializers = new();

    public StampedeHybridCache(StampedeCache cache, HybridCacheEntryOptions? defaultEntryOptions, IHybridCacheSerializerFactory serializerFactory, ILoggerFactory? loggerFactory)
    {
        _cache = cache;
        _mapper = new HybridEntryOptionsMapper(cache.Options.DefaultEntryOptions, defaultEntryOptions);
        _serializerFactory = serializerFactory;
        _logger = (ILogger?)loggerFactory?.CreateLogger<HybridCache>() ?? NullLogger.Instance;
    }

    public override ValueTask<T> GetOrCreateAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        cancellationToken.ThrowIfCancellationRequested();
        var flags = _mapper.Flags(options);
        // A fresh L1 hit first: options and tags matter only when the value is computed (as in Microsoft's, which
        // reads tags only on a miss), so a hit maps nothing and copies nothing; a key the rules refuse is never
        // stored, so it cannot hit, and is checked (a scan of the key) only after a miss.
        if (key is not null && (flags & (HybridCacheEntryFlags.DisableLocalCacheRead | HybridCacheEntryFlags.DisableUnderlyingData)) == 0)
        {
            if (!HybridPayload.Holds<T>())
            {
                if (_cache.TryGetFresh(key, out T hit))
                {
                    return new ValueTask<T>(hit);
                }
            }
            else if (_cache.TryGetFresh(key, out HybridPayload<T> copy))
            {
                return new ValueTask<T>(Deserialize(copy));
            }
        }

        if (!IsCacheable(key))
        {
            return (flags & HybridCacheEntryFlags.DisableUnderlyingData) == 0 ? factory(state, cancellationToken) : default;
        }

        var mapped = _mapper.Map(options, ValidateTags(tags));
        if ((flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
        {
            return ReadOnlyAsync<T>(key, mapped, cancellationToken);
        }

        if (!HybridPayload.Holds<T>())
        {
            return _cache.GetOrCreateAsync<(TState State, Func<TState, CancellationToken, ValueTask<T>> Factory), T>(
                key, (state, factory), static (s, _, ct) => s.Factory(s.State, ct), mapped, cancellationToken);
        }

        return GetOrCreateCopyAsync(key, state, factory, mapped, cancellationToken);
    }

    public override ValueTask SetAsync<T>(string key, T value, HybridCacheEntryOptions? options = null, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var mapped = _mapper.Map(options, ValidateTags(tags));
        if (!IsCacheable(key))
        {
            return default; // GetOrCreateAsync would never read it.
        }

        return CallerCancellation(HybridPayload.Holds<T>() ? _cache.SetAsync(key, Serialize(value), mapped, cancellationToken) : _cache.SetAsync(key, value, mapped, cancellationToken), cancellationToken);
    }

    public override ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return IsValid(key) ? CallerCancellation(_cache.RemoveAsync(key, cancellationToken), cancellationToken) : default;
    }

    public override ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default) =>
        string.IsNullOrWhiteSpace(tag) || (tag != StampedeKeys.AllTag && !StampedeKeys.IsValid(tag, int.MaxValue))
            ? default // no entry can carry such a tag
            : CallerCancellation(_cache.RemoveByTagAsync(tag, cancellationToken), cancellationToken);

    /// <summary>
    /// <paramref name="pending"/>, except that a cancellation by the caller's token (an L2 call it cancelled may throw
    /// <see cref="TaskCanceledException"/>) ends it with exactly <see cref="OperationCanceledException"/> carrying that token.
    /// </summary>
    private static ValueTask CallerCancellation(ValueTask pending, CancellationToken cancellationToken) =>
        pending.IsCompletedSuccessfully || !cancellationToken.CanBeCanceled ? pending : AwaitCallerCancellation(pending, cancellationToken);

    private static async ValueTask AwaitCallerCancellation(ValueTask pending, CancellationToken cancellationToken)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (IsForeignCancellation(ex, cancellationToken))
        {
            throw new OperationCanceledException(ex.Message, ex, cancellationToken);
        }
    }

    /// <summary>The caller's token is cancelled but <paramref name="ex"/> is not exactly its <see cref="OperationCanceledException"/>.</summary>
    private static bool IsForeignCancellation(OperationCanceledException ex, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested && (ex.GetType() != typeof(OperationCanceledException) || ex.CancellationToken != cancellationToken);

    private async ValueTask<T> GetOrCreateCopyAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, StampedeCacheEntryOptions options, CancellationToken cancellationToken)
    {
        var payload = await _cache.GetOrCreateAsync<(StampedeHybridCache Cache, TState State, Func<TState, CancellationToken, ValueTask<T>> Factory), HybridPayload<T>>(
            key,
            (this, state, factory),
            static async (s, _, ct) => s.Cache.Serialize(await s.Factory(s.State, ct).ConfigureAwait(false)),
            options,
            cancellationToken).ConfigureAwait(false);
        return Deserialize(payload);
    }

    private async ValueTask<T> ReadOnlyAsync<T>(string key, StampedeCacheEntryOptions options, CancellationToken cancellationToken)
    {
        try
        {
            if (!HybridPayload.Holds<T>())
            {
                var lookup = await _cache.TryGetAsync<T>(key, options, cancellationToken).ConfigureAwait(false);
                return lookup.HasValue && !lookup.IsStale ? lookup.Value! : default!;
            }

            var copy = await _cache.TryGetAsync<HybridPayload<T>>(key, options, cancellationToken).ConfigureAwait(false);
            return copy.HasValue && !copy.IsStale ? Deserialize(copy.Value!) : default!;
        }
        catch (OperationCanceledException ex) when (IsForeignCancellation(ex, cancellationToken))
        {
            throw new OperationCanceledException(ex.Message, ex, cancellationToken);
        }
    }

    private HybridPayload<T> Serialize<T>(T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Serializer<T>().Serialize(value, buffer);
        return new HybridPayload<T>(buffer.WrittenSpan.ToArray());
    }

    private T Deserialize<T>(HybridPayload<T> payload) => Serializer<T>().Deserialize(new ReadOnlySequence<byte>(payload.Bytes));

    private IHybridCacheSerializer<T> Serializer<T>() =>
        (IHybridCacheSerializer<T>)_serializers.GetOrAdd(typeof(T), static (_, factory) =>
            factory.TryCreateSerializer<T>(out var serializer) ? serializer : throw new InvalidOperationException(JsonStampedeSerializerFactory.NoSerializerMessage(typeof(T))), _serializerFactory);

    /// <summary>HybridCache's key rules, logged when broken.</summary>
    private bool IsCacheable([NotNullWhen(true)] string? key)
    {
        switch (Check(key))
        {
            case KeyRule.Valid:
                return true;
            case KeyRule.EmptyOrWhitespace:
                HybridLog.KeyEmptyOrWhitespace(_logger);
                break;
            case KeyRule.TooLong:
                HybridLog.MaximumKeyLengthExceeded(_logger, key!.Length, _cache.Options.MaximumKeyLength);
                break;
            default:
                HybridLog.KeyInvalidContent(_logger);
                break;
        }

        return false;
    }

    private bool IsValid(string key) => Check(key) == KeyRule.Valid;

    private KeyRule Check(string? key) =>
        string.IsNullOrWhiteSpace(key) ? KeyRule.EmptyOrWhitespace
        : key.Length > _cache.Options.MaximumKeyLength ? KeyRule.TooLong
        : !StampedeKeys.IsValid(key, _cache.Options.MaximumKeyLength) ? KeyRule.InvalidContent // control characters, lone surrogates
        : KeyRule.Valid;

    /// <summary>HybridCache's tag rules (the engine's: non-blank, valid characters, not the reserved <c>"*"</c>); no tags is null.</summary>
    private static string[]? ValidateTags(IEnumerable<string>? tags)
    {
        if (tags is null)
        {
            return null;
        }

        string[] list = [.. tags];
        return list.Length == 0 ? null : StampedeKeys.ValidateTags(list, nameof(tags));
    }

    private enum KeyRule
    {
        Valid,
        EmptyOrWhitespace,
        TooLong,
        InvalidContent,
    }
}

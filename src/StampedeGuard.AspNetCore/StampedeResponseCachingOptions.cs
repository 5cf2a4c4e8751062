using static StampedeGuard.Shared.OptionGuard;

namespace StampedeGuard.AspNetCore;

/// <summary>
/// Options of the response caching middleware. Defaults follow RFC 9111 for a shared cache; every relaxation an
/// accelerator operator may want (a default freshness, storing responses with <c>Set-Cookie</c>, client bypass) is
/// opt-in. Setters validate and throw <see cref="ArgumentOutOfRangeException"/> naming the option.
/// </summary>
public sealed class StampedeResponseCachingOptions
{
    private long _maximumBodySize = 1024 * 1024;
    private int _maximumHeaderBytes = 32 * 1024;
    private TimeSpan _waiterTimeout = TimeSpan.FromSeconds(60);
    private TimeSpan _originTimeout = TimeSpan.FromSeconds(60);
    private TimeSpan _hitForPassDuration = TimeSpan.FromMinutes(2);
    private TimeSpan? _defaultFreshness;
    private TimeSpan _staleWhileRevalidate = TimeSpan.Zero;
    private TimeSpan _staleIfError = TimeSpan.Zero;
    private TimeSpan _validatorRetention = TimeSpan.FromMinutes(10);
    private TimeSpan _heuristicFreshnessLimit = TimeSpan.FromDays(1);
    private TimeSpan _negativeCacheDuration = TimeSpan.Zero;
    private string _cacheStatusName = "StampedeGuard";
    private string _keyPrefix = "sg-http|";

    /// <summary>
    /// Gets or sets the largest body that is stored. A larger body (by <c>Content-Length</c>, or once it grows past this
    /// while streaming) is passed through uncached and its URL gets a hit-for-pass marker. It is also the memory bound
    /// of one key's in-flight buffer: past it the slowest attached client paces the origin instead of memory growing.
    /// </summary>
    /// <value>Default 1 MiB. Must be positive.</value>
    public long MaximumBodySize
    {
        get => _maximumBodySize;
        set => _maximumBodySize = value > 0 ? value : throw OutOfRange(nameof(MaximumBodySize), value, "must be positive");
    }

    /// <summary>Gets or sets the largest total size of a response's header fields that is stored; larger ones pass through uncached.</summary>
    /// <value>Default 32 KiB. Must be positive.</value>
    public int MaximumHeaderBytes
    {
        get => _maximumHeaderBytes;
        set => _maximumHeaderBytes = value > 0 ? value : throw OutOfRange(nameof(MaximumHeaderBytes), value, "must be positive");
    }

    /// <summary>
    /// Gets or sets how long a collapsed waiter waits for its flight's response headers. Past it the waiter stops
    /// waiting and gets the flight's failure at once: a stale response where stale-if-error allows
    /// (<c>Cache-Status: ...; collapsed; detail=stale-if-error</c>), otherwise this cache's <c>504 Gateway Timeout</c>
    /// (<c>...; collapsed; detail=waiter-timeout</c>). It never sends a request of its own: the flight's one origin request
    /// goes on for the other clients, bounded by <see cref="OriginTimeout"/> (a waiter that went to the origin itself
    /// would turn every outage into a stampede, Squid's bug 1918). Once headers arrived, the body streams at the origin's pace.
    /// </summary>
    /// <remarks>
    /// The default equals <see cref="OriginTimeout"/>'s, so by default every client of a flight gets the flight's own
    /// answer (at the latest the 504 of <see cref="OriginTimeout"/>); set it lower only when clients should hear back
    /// sooner than the origin is given. With a distributed lock the leader waits for it at most half of this (30 s when infinite).
    /// </remarks>
    /// <value>Default 60 seconds. Must be positive or <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    public TimeSpan WaiterTimeout
    {
        get => _waiterTimeout;
        set => _waiterTimeout = PositiveOrInfinite(nameof(WaiterTimeout), value);
    }

    /// <summary>
    /// Gets or sets how long an origin execution may take to produce its response headers (the time to the response
    /// head, like Varnish's <c>first_byte_timeout</c> and, for a request that sends no body, nginx's
    /// <c>proxy_read_timeout</c>; both default to 60 s). Past it the execution's token (the app's or the forwarder's
    /// <c>RequestAborted</c>) is cancelled and every client of the flight gets the same 504
    /// (<c>Cache-Status: ...; detail=origin-timeout</c>), or a stale response where stale-if-error allows; the flight stays
    /// registered until the origin code has returned, so a hung origin still sees one request at a time per URL.
    /// It does not bound the body: once the headers arrived the body streams at the origin's pace (the forwarder's own
    /// idle timeout, YARP's <c>ActivityTimeout</c>, 100 s by default, bounds a stalled body).
    /// </summary>
    /// <value>Default 60 seconds. Must be positive or <see cref="Timeout.InfiniteTimeSpan"/> (no limit: a hung origin then holds its flight's clients as long as it hangs).</value>
    public TimeSpan OriginTimeout
    {
        get => _originTimeout;
        set => _originTimeout = PositiveOrInfinite(nameof(OriginTimeout), value);
    }

    /// <summary>
    /// Gets or sets how long a key whose response was found uncacheable (private, no-store, Set-Cookie, Vary: *, too
    /// large) is remembered as such: requests for it skip collapsing and go to the origin in parallel (hit-for-pass).
    /// </summary>
    /// <value>Default 2 minutes. Zero disables the marker (every wave then collapses and detaches again).</value>
    public TimeSpan HitForPassDuration
    {
        get => _hitForPassDuration;
        set => _hitForPassDuration = NonNegative(nameof(HitForPassDuration), value);
    }

    /// <summary>
    /// Gets or sets a freshness lifetime for responses that carry no explicit one (no s-maxage, max-age or Expires) and
    /// are otherwise storable. An accelerator operator's override: RFC 9111 would only allow heuristic freshness.
    /// </summary>
    /// <value>Default null: only explicit and heuristic freshness.</value>
    public TimeSpan? DefaultFreshness
    {
        get => _defaultFreshness;
        set => _defaultFreshness = value is null || value > TimeSpan.Zero ? value : throw OutOfRange(nameof(DefaultFreshness), value, "must be positive");
    }

    /// <summary>Gets or sets the stale-while-revalidate window used when the response has no <c>stale-while-revalidate</c> directive (RFC 5861).</summary>
    /// <value>Default zero.</value>
    public TimeSpan StaleWhileRevalidate
    {
        get => _staleWhileRevalidate;
        set => _staleWhileRevalidate = NonNegative(nameof(StaleWhileRevalidate), value);
    }

    /// <summary>Gets or sets the stale-if-error window used when the response has no <c>stale-if-error</c> directive (RFC 5861).</summary>
    /// <value>Default zero.</value>
    public TimeSpan StaleIfError
    {
        get => _staleIfError;
        set => _staleIfError = NonNegative(nameof(StaleIfError), value);
    }

    /// <summary>
    /// Gets or sets how long a stale response that has a validator (<c>ETag</c> or <c>Last-Modified</c>) is kept so the
    /// next miss can revalidate it with a conditional request instead of a full fetch.
    /// </summary>
    /// <value>Default 10 minutes.</value>
    public TimeSpan ValidatorRetention
    {
        get => _validatorRetention;
        set => _validatorRetention = NonNegative(nameof(ValidatorRetention), value);
    }

    /// <summary>Gets or sets the upper bound of heuristic freshness (10% of the time since <c>Last-Modified</c>).</summary>
    /// <value>Default 1 day. Zero disables heuristic freshness.</value>
    public TimeSpan HeuristicFreshnessLimit
    {
        get => _heuristicFreshnessLimit;
        set => _heuristicFreshnessLimit = NonNegative(nameof(HeuristicFreshnessLimit), value);
    }

    /// <summary>
    /// Gets or sets a brief negative-caching lifetime for error responses that are heuristically cacheable (RFC 9110
    /// 15.1: 404, 405, 410, 414, 501) and carry no explicit freshness. An accelerator operator's override. It never
    /// applies to 502, 503, 504 or other 5xx without explicit freshness: those are never stored (RFC 9111 4.2.2); they
    /// are shared with the collapsed waiters of their execution, and a 5xx with its own <c>max-age</c> is stored like any response.
    /// </summary>
    /// <value>Default zero: off.</value>
    public TimeSpan NegativeCacheDuration
    {
        get => _negativeCacheDuration;
        set => _negativeCacheDuration = NonNegative(nameof(NegativeCacheDuration), value);
    }

    /// <summary>Gets or sets what the waiters of a failed origin execution get when no stale response may be served.</summary>
    /// <value>Default <see cref="OriginFailureMode.ShareFailure"/>.</value>
    public OriginFailureMode FailureMode { get; set; } = OriginFailureMode.ShareFailure;

    /// <summary>
    /// Gets or sets whether the request's cache directives are honoured (RFC 9111 5.2.1): <c>no-cache</c>, <c>max-age=0</c>
    /// or <c>Pragma: no-cache</c> make the cache go to the origin; <c>min-fresh</c> asks for a response fresh for that much
    /// longer; <c>max-stale</c> accepts a stale one (never past must-revalidate); <c>no-store</c> makes a miss pass to the
    /// origin without storing or collapsing. Off by default: clients must not be able to force origin load (useful in development).
    /// </summary>
    /// <value>Default false.</value>
    public bool AllowClientBypass { get; set; }

    /// <summary>
    /// Gets or sets whether a response carrying <c>Set-Cookie</c> may be stored. When on, it is stored as received
    /// (RFC 9111 3.1), <c>Set-Cookie</c> included, and every client served from the entry (hits and collapsed waiters)
    /// gets that cookie: only for cookies that are the same for everyone (a load balancer's affinity, a consent
    /// banner's default), never for a session. By default such a response is not stored and its collapsed waiters detach.
    /// </summary>
    /// <value>Default false.</value>
    public bool StoreResponsesWithSetCookie { get; set; }

    /// <summary>Gets or sets whether <c>CDN-Cache-Control</c> (RFC 9213) is honoured over <c>Cache-Control</c>.</summary>
    /// <value>Default true.</value>
    public bool HonorCdnCacheControl { get; set; } = true;

    /// <summary>
    /// Gets or sets the name of a targeted cache-control field of our own (RFC 9213). When the response has it, it
    /// replaces <c>CDN-Cache-Control</c> and <c>Cache-Control</c> for this cache's decisions, and it is removed from what
    /// clients see. Null disables it.
    /// </summary>
    /// <value>Default <c>StampedeGuard-Cache-Control</c>.</value>
    public string? TargetedCacheControlHeader { get; set; } = "StampedeGuard-Cache-Control";

    /// <summary>Gets or sets the name of a response header listing tags (space or comma separated) for <see cref="IStampedeResponseCache.RemoveByTagAsync"/>; removed from what clients see. Null disables it.</summary>
    /// <value>Default <c>Surrogate-Key</c>.</value>
    public string? TagsHeader { get; set; } = "Surrogate-Key";

    /// <summary>Gets or sets the cache's name in the <c>Cache-Status</c> header (RFC 9211).</summary>
    /// <value>Default <c>StampedeGuard</c>.</value>
    public string CacheStatusName
    {
        get => _cacheStatusName;
        set => _cacheStatusName = !string.IsNullOrWhiteSpace(value) ? value : throw OutOfRange(nameof(CacheStatusName), value, "must not be empty");
    }

    /// <summary>Gets or sets the prefix of every key this middleware gives the engine.</summary>
    /// <value>Default <c>sg-http|</c>.</value>
    public string KeyPrefix
    {
        get => _keyPrefix;
        set => _keyPrefix = value ?? throw new ArgumentNullException(nameof(KeyPrefix));
    }

    /// <summary>Gets or sets how the query string takes part in the key.</summary>
    /// <value>Default <see cref="QueryKeyMode.Sorted"/>.</value>
    public QueryKeyMode QueryKeyMode { get; set; } = QueryKeyMode.Sorted;

    /// <summary>Gets the query parameter names kept by <see cref="QueryKeyMode.AllowList"/>.</summary>
    /// <value>Default empty.</value>
    public ISet<string> QueryKeys { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Gets the request headers that always take part in the key when present. The defaults are the headers frameworks
    /// use to build absolute URLs or pick a method, which a client could otherwise use to poison the cache for everyone:
    /// a client that sends one gets an entry of its own.
    /// </summary>
    /// <value>Default: X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Scheme, X-Forwarded-Prefix, Forwarded, X-Host, X-Original-URL, X-Rewrite-URL, X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override.</value>
    public ISet<string> KeyedRequestHeaders { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Forwarded-Prefix", "Forwarded", "X-Host",
        "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
    };
}

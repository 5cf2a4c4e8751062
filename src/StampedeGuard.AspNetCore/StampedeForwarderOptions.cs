namespace StampedeGuard.AspNetCore;

/// <summary>Options of the forwarding handler that makes an app a caching reverse proxy (accelerator) for an origin server.</summary>
public sealed class StampedeForwarderOptions
{
    private TimeSpan _connectTimeout = TimeSpan.FromSeconds(10);
    private TimeSpan _responseHeadersTimeout = TimeSpan.FromSeconds(100);

    /// <summary>Gets or sets the origin server's base address (scheme, host, port, optional path prefix).</summary>
    /// <value>Required.</value>
    public Uri? Origin { get; set; }

    /// <summary>Gets or sets whether the client's <c>Host</c> is sent to the origin (an accelerator usually does); otherwise the origin's authority is sent.</summary>
    /// <value>Default true.</value>
    public bool PreserveHost { get; set; } = true;

    /// <summary>Gets or sets the pseudonym in the <c>Via</c> field added to requests and responses (RFC 9110 7.6.3).</summary>
    /// <value>Default <c>stampedeguard</c>.</value>
    public string ViaName { get; set; } = "stampedeguard";

    /// <summary>
    /// Gets or sets whether <c>X-Forwarded-For</c>, <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c> are set. The
    /// client's own X-Forwarded-Proto and X-Forwarded-Host are replaced, never passed on: they could poison the cache.
    /// </summary>
    /// <value>Default true.</value>
    public bool AddForwardedHeaders { get; set; } = true;

    /// <summary>Gets or sets how long connecting to the origin may take; past it the client gets 502.</summary>
    /// <value>Default 10 seconds.</value>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout;
        set => _connectTimeout = value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan ? value : throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), value, "ConnectTimeout must be positive or infinite.");
    }

    /// <summary>Gets or sets how long the origin may take to send its response headers; past it the client gets 504.</summary>
    /// <value>Default 100 seconds.</value>
    public TimeSpan ResponseHeadersTimeout
    {
        get => _responseHeadersTimeout;
        set => _responseHeadersTimeout = value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan ? value : throw new ArgumentOutOfRangeException(nameof(ResponseHeadersTimeout), value, "ResponseHeadersTimeout must be positive or infinite.");
    }
}

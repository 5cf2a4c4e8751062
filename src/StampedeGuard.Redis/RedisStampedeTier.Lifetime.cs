using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StampedeGuard.Redis.Internal;

namespace StampedeGuard.Redis;

/// <content>Creation (never blocking on Redis) and disposal (never disposing a connection the tier does not own).</content>
public sealed partial class RedisStampedeTier
{
    /// <summary>
    /// Creates the tier (connecting with <see cref="RedisStampedeOptions.Configuration"/>, or using
    /// <see cref="RedisStampedeOptions.ConnectionMultiplexer"/>) and waits until it is connected and subscribed to its
    /// channel, at most <see cref="RedisStampedeOptions.OperationTimeout"/>.
    /// </summary>
    /// <param name="options">The options.</param>
    /// <param name="loggerFactory">The logger factory, if any.</param>
    /// <param name="timeProvider">The clock for leases and waits; <see cref="TimeProvider.System"/> when null.</param>
    /// <returns>The tier. It works (answering misses) while Redis is unreachable and uses Redis once it is.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">Neither a connection nor a configuration string was given.</exception>
    /// <exception cref="InvalidOperationException">With <see cref="RedisStampedeOptions.ThrowOnRedisErrors"/>: the server cannot serve the tier (<see cref="ConfigurationError"/>).</exception>
    public static async Task<RedisStampedeTier> ConnectAsync(RedisStampedeOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        var tier = Create(options, null, loggerFactory, timeProvider);
        try
        {
            // Bounded by the real clock: the wait is for a socket, whatever clock drives leases.
            await tier.Subscribed.WaitAsync(tier._options.OperationTimeout, TimeProvider.System).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Redis is unreachable (or slow): the tier answers without it and connects in the background.
        }

        if (tier.ConfigurationError is { } error && tier._options.ThrowOnRedisErrors)
        {
            await tier.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(error);
        }

        return tier;
    }

    /// <summary>Creates the tier without waiting for anything (dependency injection): a connection it opens connects in the background.</summary>
    internal static RedisStampedeTier Create(RedisStampedeOptions options, IConnectionMultiplexer? registered, ILoggerFactory? loggerFactory, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Clone();
        var given = options.ConnectionMultiplexer ?? registered;
        var connection = given is not null ? new RedisConnection(given) : new RedisConnection(ParseConfiguration(options));
        return new RedisStampedeTier(connection, options, loggerFactory, timeProvider);
    }

    /// <summary>
    /// Stops listening on the channel (bounded by <see cref="RedisStampedeOptions.OperationTimeout"/>) and closes the
    /// connection if the tier opened it. An application's own connection is left open. Never throws because Redis is down.
    /// </summary>
    /// <returns>A task that completes when disposed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (!BeginDispose())
        {
            return;
        }

        if (_connection.Current is { } multiplexer)
        {
            try
            {
                await multiplexer.GetSubscriber().UnsubscribeAsync(_channel, _onMessage).WaitAsync(_options.OperationTimeout, TimeProvider.System).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Log.OperationFailed(Logger, "unsubscribe", ex);
            }
        }

        if (_connection.Ready.IsCompleted)
        {
            await CloseOwnedAsync().ConfigureAwait(false);
        }
        else
        {
            // Still connecting (Redis unreachable): never hold the caller up; the connection closes once the attempt ends.
            _ = CloseOwnedAsync();
        }

        Metrics.Dispose();
    }

    /// <summary>Like <see cref="DisposeAsync"/>, without waiting for the unsubscribe to be acknowledged.</summary>
    public void Dispose()
    {
        if (!BeginDispose())
        {
            return;
        }

        _connection.Current?.GetSubscriber().Unsubscribe(_channel, _onMessage, CommandFlags.FireAndForget);
        if (_connection.OwnsMultiplexer && _connection.Current is { } owned)
        {
            owned.Dispose();
        }
        else if (_connection.OwnsMultiplexer)
        {
            _ = CloseOwnedAsync(); // still connecting: closed once the attempt ends
        }

        Metrics.Dispose();
    }

    private static ConfigurationOptions ParseConfiguration(RedisStampedeOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            throw new ArgumentException("Set RedisStampedeOptions.Configuration or RedisStampedeOptions.ConnectionMultiplexer.", nameof(options));
        }

        return RedisConnection.OwnConfiguration(options.Configuration);
    }

    private bool BeginDispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return false;
        }

        _heartbeat?.Dispose();

        if (_connection.Current is { } multiplexer)
        {
            multiplexer.ConnectionRestored -= OnConnectionRestored;
            multiplexer.ConnectionFailed -= OnConnectionFailed;
        }

        return true;
    }

    private async Task CloseOwnedAsync()
    {
        if (!_connection.OwnsMultiplexer)
        {
            return;
        }

        try
        {
            // Still connecting: close it when the connect finishes (it never aborts, so it always finishes).
            var multiplexer = await _connection.Ready.ConfigureAwait(false);
            await multiplexer.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            multiplexer.Dispose();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            Log.OperationFailed(Logger, "close", ex);
        }
    }
}

using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using StampedeGuard.Distributed;
using StampedeGuard.Redis.Internal;

namespace StampedeGuard.Redis;

/// <content>The channel: backplane messages, waiter wake-ups, subscription health.</content>
public sealed partial class RedisStampedeTier
{
    /// <inheritdoc />
    public async ValueTask PublishAsync(BackplaneMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var payload = message.Envelope is { } e && e.Length > _options.MaximumNotificationPayloadBytes ? null : message.Envelope;
        RedisValue bytes = Notification.Encode((byte)message.Kind, InstanceId, message.Version, message.Timestamp, message.Key, payload);
        await _guard.RunAsync("publish", (channel: _channel, bytes), static (m, s) => m.GetSubscriber().PublishAsync(s.channel, s.bytes), 0L, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<BackplaneMessage> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_handlersGate)
        {
            _handlers = [.. _handlers, handler];
        }

        return new Subscription(this, handler);
    }

    /// <summary>Once the connection exists: watch its health and subscribe to the channel.</summary>
    private async Task AttachAsync()
    {
        IConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await _connection.Ready.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ArgumentException)
        {
            _guard.Outage.ConnectionFailed("initial", ex);
            return;
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        multiplexer.ConnectionRestored += OnConnectionRestored;
        multiplexer.ConnectionFailed += OnConnectionFailed;
        await SubscribeAsync(multiplexer).ConfigureAwait(false);
        if (multiplexer.IsConnected)
        {
            await ProbeScriptingAsync(multiplexer).ConfigureAwait(false); // else the first heartbeat that finds it connected
        }

        StartHeartbeat();
    }

    /// <summary>
    /// Checks once, at connect, that the server runs Lua scripts (every read, write, lock and invalidation is one). A
    /// server that refuses them (Garnet started without <c>--lua</c>, a managed Redis with scripting off, EVAL renamed)
    /// is reported once, as an error naming the server and the fix, and the tier then answers without Redis at once
    /// instead of failing (and warning) on every call.
    /// </summary>
    private async Task ProbeScriptingAsync(IConnectionMultiplexer multiplexer)
    {
        if (Interlocked.Exchange(ref _probed, 1) == 1)
        {
            return;
        }

        try
        {
            await multiplexer.GetDatabase(_options.Database).ScriptEvaluateAsync("return 1").WaitAsync(_options.OperationTimeout, TimeProvider.System).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (NoteScriptingRefused(ex))
        {
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Unreachable or slow: the outage handling reports that; the next heartbeat probes again.
            Volatile.Write(ref _probed, 0);
        }
    }

    private async Task SubscribeAsync(IConnectionMultiplexer multiplexer)
    {
        try
        {
            var subscriber = multiplexer.GetSubscriber();

            // Re-subscribing after a failed attempt: drop any handler that attempt left registered, so it runs once.
            if (Interlocked.Exchange(ref _subscribeFailed, 0) == 1)
            {
                await subscriber.UnsubscribeAsync(_channel, _onMessage, CommandFlags.FireAndForget).ConfigureAwait(false);
            }

            // The handler form: the client keeps the handler registered even when this first attempt fails (Redis not
            // up yet) and subscribes it on connect. It may run messages concurrently, so one sender's messages can be
            // handled out of order: the engine orders a key's changes by the versions Redis gave them (a message
            // older than what a node holds changes nothing), so order of arrival does not matter.
            await subscriber.SubscribeAsync(_channel, _onMessage).WaitAsync(_options.OperationTimeout, TimeProvider.System).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Volatile.Write(ref _subscribeFailed, 1);
            Log.SubscribeFailed(Logger, _keys.Channel, ex);
        }
    }

    /// <summary>
    /// Whether a server's error reply says it does not run scripts; the first such reply (the probe's, or a call's that
    /// came before it) sets <see cref="ConfigurationError"/> and logs it once.
    /// </summary>
    private bool NoteScriptingRefused(RedisServerException ex)
    {
        var message = ex.Message;
        if (!message.Contains("lua", StringComparison.OrdinalIgnoreCase) && !message.Contains("unknown command", StringComparison.OrdinalIgnoreCase) && !message.Contains("noscript", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var server = _connection.Current is { } multiplexer ? string.Join(", ", multiplexer.GetEndPoints().Select(e => e.ToString())) : "?";
        var error = $"The Redis server at {server} does not run Lua scripts ({message}); StampedeGuard.Redis needs them for every read, write, lock and invalidation. On Garnet, start it with --lua --lua-transaction-mode (without the second its scripts are not atomic); on a managed service, enable scripting.";
        if (Interlocked.CompareExchange(ref _configurationError, error, null) is null)
        {
            Log.ScriptingUnavailable(Logger, server, message);
        }

        return true;
    }

    private void OnMessage(RedisChannel channel, RedisValue received)
    {
        if (!Notification.TryDecode((byte[]?)received, out var message))
        {
            return;
        }

        Metrics.Notifications.Add(1);
        if (message.Kind == Notification.Released)
        {
            _waits.Notify(message.Key, null);
            return;
        }

        if (message.Kind == Notification.Heartbeat)
        {
            if (message.Sender == InstanceId)
            {
                // Our own heartbeat proves every message published before it was *sent* has been heard, not every message
                // up to now: one that waited in the socket while this process was paused vouches for nothing after it.
                // So trust runs from its send time (a timestamp of this process's clock): a late one ends it at once.
                var sentAt = message.Timestamp;
                Volatile.Write(ref _heartbeatSeen, sentAt);
                Volatile.Write(ref _heardItself, 1);
                var trustLeft = _aliveFor - TimeProvider.System.GetElapsedTime(sentAt).Ticks;
                Deliver(new BackplaneMessage { Kind = BackplaneMessageKind.Alive, Timestamp = Math.Max(trustLeft, 1) });
            }

            return;
        }

        if (message.Kind > (byte)BackplaneMessageKind.RemoveByTag)
        {
            return;
        }

        var kind = (BackplaneMessageKind)message.Kind;
        if (kind != BackplaneMessageKind.RemoveByTag)
        {
            _waits.Notify(_keys.Lock(message.Key), kind == BackplaneMessageKind.Set ? message.Envelope : null, message.Version);
        }

        if (message.Sender == InstanceId)
        {
            return;
        }

        Deliver(new BackplaneMessage { Kind = kind, Key = message.Key, Envelope = message.Envelope, Version = message.Version, Timestamp = kind == BackplaneMessageKind.RemoveByTag ? StampFromMicroseconds(message.Version) : message.Timestamp });
    }

    private void Deliver(BackplaneMessage backplaneMessage)
    {
        foreach (var handler in Volatile.Read(ref _handlers))
        {
            try
            {
                handler(backplaneMessage);
            }
            catch (Exception ex)
            {
                Log.HandlerFailed(Logger, ex);
            }
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        Log.ConnectionRestored(Logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?");
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            if (Volatile.Read(ref _subscribeFailed) == 1 && sender is IConnectionMultiplexer multiplexer && Volatile.Read(ref _disposed) == 0)
            {
                _ = SubscribeAsync(multiplexer);
            }

            if (Interlocked.Exchange(ref _subscriptionBroken, 0) == 1)
            {
                // Messages published while the subscription was down are gone: every waiter re-checks the store now,
                // and the node drops what it holds in memory (it may have missed invalidations).
                _waits.NotifyAll();
                Reset(storeRolledBack: false);
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            Volatile.Write(ref _subscriptionBroken, 1);
            Reset(storeRolledBack: false); // from now on invalidations may go unheard
        }

        Log.ConnectionFailed(Logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?", e.FailureType.ToString(), e.Exception);
        _guard.Outage.ConnectionFailed(e.ConnectionType.ToString(), e.Exception);

        // No push will come while the connection is down: waiters re-check now (a miss if Redis is gone, so the
        // engine goes on locally) instead of sleeping out the holder's lease.
        _waits.NotifyAll();
    }

    /// <summary>Tells the node to drop its in-memory copies: messages may have been lost, or Redis lost or rolled back data.</summary>
    private void Reset(bool storeRolledBack)
    {
        Metrics.Resets.Add(1);
        Deliver(new BackplaneMessage { Kind = BackplaneMessageKind.Reset, Key = storeRolledBack ? "*" : string.Empty });
    }

    private void StartHeartbeat()
    {
        if (_options.HeartbeatInterval == Timeout.InfiniteTimeSpan || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        Volatile.Write(ref _heartbeatSeen, TimeProvider.System.GetTimestamp());
        // The first at once: the node learns Redis's epoch as soon as it is connected, so a restart right after is seen.
        _heartbeat = TimeProvider.System.CreateTimer(static s => _ = ((RedisStampedeTier)s!).HeartbeatAsync(), this, TimeSpan.Zero, _options.HeartbeatInterval);
    }

    /// <summary>
    /// One heartbeat: count it in Redis's epoch counter and publish it to ourselves. A counter lower than the last one
    /// seen means Redis lost or rolled back data; our own heartbeat unseen for two intervals means invalidations may
    /// go unheard: either way the node drops its in-memory copies (on the real clock, whatever clock drives leases).
    /// </summary>
    private async Task HeartbeatAsync()
    {
        if (Interlocked.Exchange(ref _heartbeating, 1) == 1)
        {
            return;
        }

        try
        {
            if (Volatile.Read(ref _probed) == 0 && _connection.Current is { IsConnected: true } multiplexer)
            {
                await ProbeScriptingAsync(multiplexer).ConfigureAwait(false);
            }

            var silentFor = TimeProvider.System.GetElapsedTime(Volatile.Read(ref _heartbeatSeen));
            if (silentFor > 2 * _options.HeartbeatInterval)
            {
                // Logged once per silence, and not at all during a known outage (whose own warning says it all). Before
                // the node first heard itself, silence is start-up (a subscription that takes a while on a busy or shared
                // connection): the copies go all the same, the warning only after ten intervals of it.
                var warnAfter = Volatile.Read(ref _heardItself) != 0 ? 2 * _options.HeartbeatInterval : 10 * _options.HeartbeatInterval;
                if (silentFor > warnAfter && Interlocked.Exchange(ref _silent, 1) == 0 && !_guard.Outage.IsActive)
                {
                    Log.HeartbeatMissed(Logger, silentFor.TotalMilliseconds);
                }

                Reset(storeRolledBack: false);
            }
            else
            {
                Volatile.Write(ref _silent, 0);
            }

            var message = Notification.Encode(Notification.Heartbeat, InstanceId, 0, TimeProvider.System.GetTimestamp(), string.Empty, null);
            var keys = new RedisKey[] { _keys.Epoch };
            var args = new RedisValue[] { _keys.Channel, message };
            var reply = await EvaluateAsync("heartbeat", RedisScripts.Heartbeat, keys, args, deadlineAt: -1, CancellationToken.None).ConfigureAwait(false);
            if (reply is { IsNull: false })
            {
                var epoch = (long)reply;
                var last = Volatile.Read(ref _epoch);
                Volatile.Write(ref _epoch, epoch);
                if (epoch <= last)
                {
                    Log.StoreRolledBack(Logger, last, epoch);
                    Reset(storeRolledBack: true);
                }
            }
        }
        catch (Exception ex)
        {
            Log.OperationFailed(Logger, "heartbeat", ex);
        }
        finally
        {
            Volatile.Write(ref _heartbeating, 0);
        }
    }

    private void Unsubscribe(Action<BackplaneMessage> handler)
    {
        lock (_handlersGate)
        {
            _handlers = Array.FindAll(_handlers, h => h != handler);
        }
    }

    private sealed class Subscription(RedisStampedeTier owner, Action<BackplaneMessage> handler) : IDisposable
    {
        public void Dispose() => owner.Unsubscribe(handler);
    }
}

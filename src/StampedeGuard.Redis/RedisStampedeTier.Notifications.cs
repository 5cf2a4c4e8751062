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
        RedisValue bytes = Notification.Encode((byte)message.Kind, InstanceId, message.Timestamp, message.Key, payload);
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

            await subscriber.SubscribeAsync(_channel, _onMessage).WaitAsync(_options.OperationTimeout, TimeProvider.System).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Volatile.Write(ref _subscribeFailed, 1);
            Log.SubscribeFailed(Logger, _keys.Channel, ex);
        }
    }

    private void OnMessage(RedisChannel channel, RedisValue value)
    {
        if (!Notification.TryDecode((byte[]?)value, out var message))
        {
            return;
        }

        Metrics.Notifications.Add(1);
        if (message.Kind == Notification.Released)
        {
            _waits.Notify(message.Key, null);
            return;
        }

        if (message.Kind > (byte)BackplaneMessageKind.RemoveByTag)
        {
            return;
        }

        var kind = (BackplaneMessageKind)message.Kind;
        if (kind != BackplaneMessageKind.RemoveByTag)
        {
            _waits.Notify(_keys.Lock(message.Key), kind == BackplaneMessageKind.Set ? message.Envelope : null);
        }

        if (message.Sender == InstanceId)
        {
            return;
        }

        var backplaneMessage = new BackplaneMessage(kind, message.Key, message.Envelope, message.Timestamp);
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
                // Messages published while the subscription was down are gone: every waiter re-checks the store now.
                _waits.NotifyAll();
            }
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            Volatile.Write(ref _subscriptionBroken, 1);
        }

        Log.ConnectionFailed(Logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?", e.FailureType.ToString(), e.Exception);
        _guard.Outage.ConnectionFailed(e.ConnectionType.ToString(), e.Exception);

        // No push will come while the connection is down: waiters re-check now (a miss if Redis is gone, so the
        // engine goes on locally) instead of sleeping out the holder's lease.
        _waits.NotifyAll();
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

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
        RedisChannel channel = _keys.Channel;
        await _guard.RunAsync("publish", (subscriber: _subscriber, channel, bytes), static s => s.subscriber.PublishAsync(s.channel, s.bytes), 0L, cancellationToken).ConfigureAwait(false);
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

    private async Task SubscribeAsync()
    {
        try
        {
            await _subscriber.SubscribeAsync(_keys.Channel, _onMessage).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
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
        if (e.ConnectionType == ConnectionType.Subscription && Interlocked.Exchange(ref _subscriptionBroken, 0) == 1)
        {
            // Messages published while the subscription was down are gone: every waiter re-checks the store now.
            _waits.NotifyAll();
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            Volatile.Write(ref _subscriptionBroken, 1);
        }

        Log.ConnectionFailed(Logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? "?", e.FailureType.ToString(), e.Exception);

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

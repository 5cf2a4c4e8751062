using StackExchange.Redis;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// The tier's multiplexer: the application's own (used, never disposed), or one the tier opens itself in the
/// background (owned: <c>abortConnect=false</c>, <see cref="BacklogPolicy.FailFast"/>), so creating the tier never
/// blocks. Until the first connect finishes, one call waits for it (bounded by its operation timeout); once such a
/// wait has timed out, later calls fail at once until the connect completes, so an unreachable Redis costs a caller
/// at most one operation timeout.
/// </summary>
internal sealed class RedisConnection
{
    private readonly Task<IConnectionMultiplexer> _connecting;
    private IConnectionMultiplexer? _multiplexer;
    private int _waitTimedOut;

    /// <summary>Uses the application's multiplexer.</summary>
    public RedisConnection(IConnectionMultiplexer multiplexer)
    {
        _multiplexer = multiplexer;
        _connecting = Task.FromResult(multiplexer);
    }

    /// <summary>Opens (and owns) a multiplexer in the background.</summary>
    public RedisConnection(ConfigurationOptions configuration)
    {
        OwnsMultiplexer = true;
        _connecting = ConnectAsync(configuration);
    }

    public bool OwnsMultiplexer { get; }

    /// <summary>Gets a task that completes when the multiplexer exists (connected or still retrying in the background).</summary>
    public Task<IConnectionMultiplexer> Ready => _connecting;

    /// <summary>Gets the multiplexer if the first connect has finished, else null.</summary>
    public IConnectionMultiplexer? Current => Volatile.Read(ref _multiplexer);

    /// <summary>
    /// The settings of the tier's own multiplexer: never abort on a failed connect (retry in the background), and fail
    /// fast instead of queueing commands while disconnected, so no lock acquisition is replayed once Redis is back.
    /// </summary>
    public static ConfigurationOptions OwnConfiguration(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        return options;
    }

    /// <summary>The multiplexer, waiting for the first connect as described on the type.</summary>
    /// <exception cref="RedisConnectionException">The first connect has not finished and a wait for it already timed out.</exception>
    public ValueTask<IConnectionMultiplexer> GetAsync(CancellationToken timeoutToken)
    {
        if (Current is { } multiplexer)
        {
            return new ValueTask<IConnectionMultiplexer>(multiplexer);
        }

        if (_connecting.IsCompleted)
        {
            return new ValueTask<IConnectionMultiplexer>(_connecting);
        }

        return Volatile.Read(ref _waitTimedOut) == 1
            ? ValueTask.FromException<IConnectionMultiplexer>(new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected yet (the first connect is still under way)."))
            : WaitAsync(timeoutToken);
    }

    private async ValueTask<IConnectionMultiplexer> WaitAsync(CancellationToken timeoutToken)
    {
        try
        {
            return await _connecting.WaitAsync(timeoutToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Volatile.Write(ref _waitTimedOut, 1);
            throw;
        }
    }

    private async Task<IConnectionMultiplexer> ConnectAsync(ConfigurationOptions configuration)
    {
        // Off the creating thread at once: whatever the client does synchronously (DNS, first socket) never blocks a
        // DI resolve or a constructor.
        await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        Volatile.Write(ref _multiplexer, multiplexer);
        return multiplexer;
    }
}

using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// Runs every Redis call through one pipeline: a circuit breaker around a timeout. A failed, slow or skipped call is
/// counted, reported to the <see cref="RedisOutage"/> (one log line when an outage starts, one when it ends) and
/// answered with the caller's fallback (or rethrown with <see cref="RedisStampedeOptions.ThrowOnRedisErrors"/>).
/// The caller's own cancellation always propagates. A call that did not complete at once resumes its caller on the
/// thread pool, never on the client's reader thread, so the caller's code cannot stall Redis replies. A reply already
/// arrives there: StackExchange.Redis hands every reply's continuations to the thread pool (its tasks run continuations
/// asynchronously, or it queues their activation), so a call answered by Redis resumes on that thread-pool thread as it
/// is, with no second hop (an L2 hit's one thread-pool wake-up, not two). Only what may complete elsewhere yields to the
/// thread pool first: a wait for the first connect, a failure or timeout (a timer's thread), and any completion that is
/// not on a thread-pool thread.
/// </summary>
internal sealed class RedisGuard
{
    private readonly ResiliencePipeline _pipeline;
    private readonly RedisConnection _connection;
    private readonly ILogger _logger;
    private readonly RedisMetrics _metrics;
    private readonly bool _throw;
    private long _hops;

    public RedisGuard(RedisConnection connection, RedisStampedeOptions options, ILogger logger, RedisMetrics metrics, TimeProvider timeProvider)
    {
        _connection = connection;
        _logger = logger;
        _metrics = metrics;
        _throw = options.ThrowOnRedisErrors;
        Outage = new RedisOutage(logger, timeProvider);
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.CircuitBreakerFailureRatio,
                MinimumThroughput = options.CircuitBreakerMinimumThroughput,
                SamplingDuration = options.CircuitBreakerSamplingDuration,
                BreakDuration = options.CircuitBreakerBreakDuration,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(static e => IsOutage(e)),
                OnOpened = args =>
                {
                    metrics.CircuitOpened.Add(1);
                    Log.CircuitOpened(logger, args.BreakDuration.TotalSeconds, null);
                    Outage.CircuitOpened(args.Outcome.Exception);
                    return default;
                },
                OnClosed = _ =>
                {
                    metrics.CircuitClosed.Add(1);
                    Log.CircuitClosed(logger);
                    return default;
                },
                OnHalfOpened = _ =>
                {
                    Log.CircuitHalfOpened(logger);
                    return default;
                },
            })
            .AddTimeout(new TimeoutStrategyOptions { Timeout = options.OperationTimeout })
            .Build();
    }

    /// <summary>
    /// Gets or sets a check of a server's error reply: true when it says the server cannot serve the tier at all (no
    /// Lua): then it is reported once by the tier, not logged per call.
    /// </summary>
    public Func<RedisServerException, bool>? IsConfigurationError { get; set; }

    /// <summary>Gets how many calls resumed their caller through a thread-pool hop of their own (for tests).</summary>
    public long Hops => Volatile.Read(ref _hops);

    /// <summary>Gets whether the circuit is open (for tests and health checks).</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Gets the outage tracker (connection events report to it too).</summary>
    public RedisOutage Outage { get; }

    /// <summary>
    /// Runs one call: <paramref name="call"/> gets the multiplexer at the moment the command can be sent (after the
    /// first connect, which one call waits for as a guarded step of its own), and its operation timeout starts there,
    /// so a deadline the call computes then (the scripts' <c>deadline</c> argument) is never eaten by that wait.
    /// </summary>
    public async ValueTask<TResult> RunAsync<TResult, TState>(string operation, TState state, Func<IConnectionMultiplexer, TState, Task<TResult>> call, TResult fallback, CancellationToken cancellationToken)
    {
        var suspended = false; // resumed by whoever completed the connect wait or the call: hop unless it is known safe
        var answered = false; // resumed by the call's reply: on the thread-pool thread the client dispatched it to
        var epoch = Outage.Epoch;
        try
        {
            if (_connection.Current is not { } multiplexer)
            {
                var connecting = _pipeline.ExecuteAsync(static (c, token) => c.GetAsync(token), _connection, cancellationToken);
                suspended = !connecting.IsCompleted;
                multiplexer = await connecting.ConfigureAwait(false);
            }

            var pending = _pipeline.ExecuteAsync(
                static (s, token) => new ValueTask<TResult>(s.call(s.multiplexer, s.state).WaitAsync(token)),
                (call, state, multiplexer),
                cancellationToken);
            var replied = !pending.IsCompleted;
            suspended |= replied;
            var result = await pending.ConfigureAwait(false);
            answered = replied;
            IsBroken = false;
            Outage.Succeeded(epoch);
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (Report(operation, ex))
        {
            return fallback;
        }
        finally
        {
            if (suspended && !(answered && Thread.CurrentThread.IsThreadPoolThread))
            {
                // Whoever completed the connect wait or a failed call (the client's reader, a timer) must not run the
                // caller's continuation.
                Interlocked.Increment(ref _hops);
                await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            }
        }
    }

    /// <summary>Connection failures and timeouts open the circuit; a server's error reply (a script error, a wrong type) does not.</summary>
    private static bool IsOutage(Exception exception) =>
        exception is not OperationCanceledException and not RedisServerException
        || exception is TimeoutRejectedException;

    /// <summary>Counts a failure and logs it (outages once per outage); returns true to swallow it (answer with the fallback).</summary>
    private bool Report(string operation, Exception exception)
    {
        _metrics.Errors.Add(1, new KeyValuePair<string, object?>("stampedeguard.operation", operation));
        if (exception is BrokenCircuitException)
        {
            IsBroken = true;
            Log.OperationSkipped(_logger, operation);
            Outage.Skipped(operation, exception);
        }
        else if (exception is TimeoutRejectedException && !Outage.IsActive)
        {
            // A slow call on a live connection is not an outage by itself: counted, logged at debug; if slow calls
            // keep coming the circuit opens, and that starts the outage.
            Log.OperationTimedOut(_logger, operation);
        }
        else if (IsOutage(exception))
        {
            Outage.Failed(operation, exception);
        }
        else if (exception is RedisServerException server && IsConfigurationError?.Invoke(server) == true)
        {
            // Reported once by the tier (an error naming the server and the fix), not as a warning per call.
        }
        else
        {
            Log.OperationFailed(_logger, operation, exception);
        }

        return !_throw;
    }
}

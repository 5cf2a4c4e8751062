using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace StampedeGuard.Redis.Internal;

/// <summary>
/// Runs every Redis call through one pipeline: a circuit breaker around a timeout. A failed, slow or skipped call is
/// logged, counted and answered with the caller's fallback (or rethrown with <see cref="RedisStampedeOptions.ThrowOnRedisErrors"/>).
/// The caller's own cancellation always propagates.
/// </summary>
internal sealed class RedisGuard
{
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;
    private readonly RedisMetrics _metrics;
    private readonly bool _throw;

    public RedisGuard(RedisStampedeOptions options, ILogger logger, RedisMetrics metrics, TimeProvider timeProvider)
    {
        _logger = logger;
        _metrics = metrics;
        _throw = options.ThrowOnRedisErrors;
        var breakDuration = options.CircuitBreakerBreakDuration;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.CircuitBreakerFailureRatio,
                MinimumThroughput = options.CircuitBreakerMinimumThroughput,
                SamplingDuration = options.CircuitBreakerSamplingDuration,
                BreakDuration = breakDuration,
                ShouldHandle = new PredicateBuilder().Handle<Exception>(static e => IsOutage(e)),
                OnOpened = args =>
                {
                    metrics.CircuitOpened.Add(1);
                    Log.CircuitOpened(logger, args.BreakDuration.TotalSeconds, args.Outcome.Exception);
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

    /// <summary>Gets whether the circuit is open (for tests and health checks).</summary>
    public bool IsBroken { get; private set; }

    [SuppressMessage("Reliability", "CA2016", Justification = "StackExchange.Redis 1.x calls take no token; WaitAsync bounds them.")]
    public async ValueTask<TResult> RunAsync<TResult, TState>(string operation, TState state, Func<TState, Task<TResult>> call, TResult fallback, CancellationToken cancellationToken)
    {
        try
        {
            var result = await _pipeline.ExecuteAsync(
                static async (s, token) => await s.call(s.state).WaitAsync(token).ConfigureAwait(false),
                (call, state),
                cancellationToken).ConfigureAwait(false);
            IsBroken = false;
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
    }

    /// <summary>Logs and counts a failure; returns true to swallow it (answer with the fallback).</summary>
    private bool Report(string operation, Exception exception)
    {
        _metrics.Errors.Add(1, new KeyValuePair<string, object?>("stampedeguard.operation", operation));
        if (exception is BrokenCircuitException)
        {
            IsBroken = true;
            Log.OperationSkipped(_logger, operation);
        }
        else
        {
            Log.OperationFailed(_logger, operation, exception);
        }

        return !_throw;
    }

    /// <summary>Connection failures and timeouts open the circuit; a server's error reply (a script error, a wrong type) does not.</summary>
    private static bool IsOutage(Exception exception) =>
        exception is not OperationCanceledException and not RedisServerException
        || exception is TimeoutRejectedException;
}

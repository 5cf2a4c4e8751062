namespace StampedeGuard.Stampede;

/// <summary>One call of one worker. Start is UTC ticks; latency and age are ticks.</summary>
/// <param name="Start">When the call began.</param>
/// <param name="Latency">How long the call took.</param>
/// <param name="Age">How old the served value was when the call returned (now - when its factory call completed).</param>
/// <param name="WarmUp">The one call made before the workers start.</param>
internal readonly record struct CallSample(long Start, long Latency, long Age, bool WarmUp);

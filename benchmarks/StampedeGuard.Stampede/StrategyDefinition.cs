using StampedeGuard.Stampede.Strategies;

namespace StampedeGuard.Stampede;

/// <summary>A named way to build a fresh <see cref="Strategy"/> for one run.</summary>
/// <param name="Name">Shown in the table.</param>
/// <param name="Slug">Used in file names and by <c>--strategies</c>.</param>
/// <param name="Create">Builds the strategy (and its cache) in front of an origin.</param>
internal sealed record StrategyDefinition(string Name, string Slug, Func<Origin, Scenario, ValueTask<Strategy>> Create);

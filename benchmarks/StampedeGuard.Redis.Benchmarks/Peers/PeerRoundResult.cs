namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>One library's figures in one round of the peers mode.</summary>
internal sealed record PeerRoundResult(
    int Round,
    PeerLibrary Library,
    int ColdRuns,
    double ColdMs,
    IReadOnlyList<double> ColdMsPerProcess,
    double L2HitP50Us,
    IReadOnlyDictionary<string, double> CommandsPerL2Hit,
    double? SeenP50Ms,
    int LandingCalls,
    int LandingSlowCalls,
    int LandingRuns,
    double SteadyOpsPerSecond,
    IReadOnlyDictionary<string, double> SteadyCommandsPer1kCalls,
    bool InRedisAfterShortSet);

namespace StampedeGuard.Redis.Benchmarks.Peers;

/// <summary>How long and how often the peers mode measures (command-line options of <c>--peers</c>).</summary>
internal sealed record PeersSettings(int Rounds, int ColdCallers, int L2Calls, int SeeSamples, TimeSpan SeeTimeout, double LandingSeconds, double SteadySeconds, TimeSpan ShortDuration)
{
    /// <summary>Three processes per library; the landing page runs on two of them (DiskCache's set-up).</summary>
    public const int Processes = 3;

    public const int LandingProcesses = 2;

    public const int LandingWorkers = 5;

    public const int SteadyLoops = 4;

    public const int SteadyKeys = 50;

    public static readonly TimeSpan Factory = TimeSpan.FromMilliseconds(200);
}

namespace StampedeGuard.Stampede;

/// <summary>What one run replays: the landing-page case study by default (10 workers, 10 s, 200 ms factory, 1 s TTL).</summary>
internal sealed record Scenario(
    TimeSpan Duration,
    int Workers,
    FactoryProfile Factory,
    TimeSpan Ttl,
    int Processes,
    string? Redis)
{
    /// <summary>The pause between two calls of one worker.</summary>
    public static readonly TimeSpan Think = TimeSpan.FromMilliseconds(10);

    /// <summary>A call slower than this is a stampede victim.</summary>
    public static readonly TimeSpan SlowCall = TimeSpan.FromMilliseconds(100);

    /// <summary>The key every worker asks for.</summary>
    public const string Key = "landing-page";

    public string Describe() =>
        $"{Workers} workers{(Processes > 1 ? $" in {Processes} processes" : "")}, {Duration.TotalSeconds:0.#} s, factory {Factory.Describe()}, TTL {Ttl.TotalMilliseconds:0} ms, think {Think.TotalMilliseconds:0} ms{(Redis is null ? "" : $", Redis {Redis}")}";
}

namespace StampedeGuard.Stampede;

/// <summary>Collects every call and every factory run of one strategy (thread-safe; about a thousand events a second).</summary>
internal sealed class Recorder
{
    private readonly List<CallSample> _calls = new(16_384);
    private readonly List<FactoryRun> _runs = new(256);

    public void AddCall(CallSample sample)
    {
        lock (_calls)
        {
            _calls.Add(sample);
        }
    }

    public void AddFactoryRun(FactoryRun run)
    {
        lock (_runs)
        {
            _runs.Add(run);
        }
    }

    public void AddRange(IEnumerable<CallSample> calls, IEnumerable<FactoryRun> runs)
    {
        lock (_calls)
        {
            _calls.AddRange(calls);
        }

        lock (_runs)
        {
            _runs.AddRange(runs);
        }
    }

    public CallSample[] Calls()
    {
        lock (_calls)
        {
            return [.. _calls];
        }
    }

    public FactoryRun[] Runs()
    {
        lock (_runs)
        {
            return [.. _runs];
        }
    }
}

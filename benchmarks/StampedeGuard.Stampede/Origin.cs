namespace StampedeGuard.Stampede;

/// <summary>The expensive work behind the landing page: waits for the profile's factory time and records the run.</summary>
internal sealed class Origin(FactoryProfile profile, long runStart, Recorder recorder)
{
    /// <summary>UTC ticks of the warm-up call, the same in every process of a run (also a unique run id).</summary>
    public long RunStart => runStart;

    public async ValueTask<LandingPage> RenderAsync(CancellationToken cancellationToken)
    {
        var start = Clock.Now;
        try
        {
            await Task.Delay(profile.At(TimeSpan.FromTicks(start - runStart)), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            recorder.AddFactoryRun(new FactoryRun(start, Clock.Now));
            throw;
        }

        var end = Clock.Now;
        recorder.AddFactoryRun(new FactoryRun(start, end));
        return new LandingPage(end);
    }
}

namespace StampedeGuard.Stampede;

/// <summary>The expensive work behind the landing page: waits for the profile's factory time and records the run.</summary>
internal sealed class Origin(FactoryProfile profile, long runStart, Recorder recorder)
{
    public async ValueTask<LandingPage> RenderAsync(CancellationToken cancellationToken)
    {
        var start = Clock.Now;
        try
        {
            await Task.Delay(profile.At(TimeSpan.FromTicks(start - runStart)), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            recorder.AddFactoryRun(new FactoryRun(start, Clock.Now));
        }

        return new LandingPage(Clock.Now);
    }
}

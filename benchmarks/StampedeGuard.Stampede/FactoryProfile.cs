namespace StampedeGuard.Stampede;

/// <summary>
/// How long the simulated factory takes at a given moment of the run: fixed, or drifting between two values as a
/// triangle wave (minimum at the start, maximum half a period later, back to the minimum after a period).
/// </summary>
internal sealed record FactoryProfile(TimeSpan Min, TimeSpan Max, TimeSpan Period)
{
    public static FactoryProfile Fixed(TimeSpan time) => new(time, time, TimeSpan.Zero);

    public bool IsFixed => Min == Max;

    /// <summary>The factory time at <paramref name="elapsed"/> since the start of the run.</summary>
    public TimeSpan At(TimeSpan elapsed)
    {
        if (IsFixed || Period <= TimeSpan.Zero)
        {
            return Min;
        }

        var phase = (elapsed.Ticks % Period.Ticks) / (double)Period.Ticks; // 0..1
        var rise = phase < 0.5 ? phase * 2 : (1 - phase) * 2;               // 0..1..0
        return Min + ((Max - Min) * rise);
    }

    public string Describe() => IsFixed
        ? $"{Min.TotalMilliseconds:0} ms"
        : $"{Min.TotalMilliseconds:0}-{Max.TotalMilliseconds:0} ms (triangle, period {Period.TotalSeconds:0.#} s)";

    public string Slug() => IsFixed ? $"{Min.TotalMilliseconds:0}ms" : $"{Min.TotalMilliseconds:0}-{Max.TotalMilliseconds:0}ms";
}

namespace StampedeGuard.AotSmoke;

/// <summary>A test clock that overrides only <see cref="GetUtcNow"/>: the engine must notice (by reflection on its type) and read it.</summary>
internal sealed class UtcNowOnlyClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

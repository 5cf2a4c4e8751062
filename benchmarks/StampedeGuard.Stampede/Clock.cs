namespace StampedeGuard.Stampede;

/// <summary>The common clock: wall-clock UTC ticks, comparable across processes on one machine.</summary>
internal static class Clock
{
    public static long Now => DateTime.UtcNow.Ticks;
}

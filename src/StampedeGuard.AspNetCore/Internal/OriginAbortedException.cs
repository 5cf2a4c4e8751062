namespace StampedeGuard.AspNetCore.Internal;

/// <summary>The origin code called <c>HttpContext.Abort()</c> on its execution: the flight failed; its clients are aborted too.</summary>
internal sealed class OriginAbortedException : IOException
{
    public OriginAbortedException()
        : base("The origin execution aborted its request (HttpContext.Abort()): its response is broken and is neither shared as complete nor stored.")
    {
    }
}

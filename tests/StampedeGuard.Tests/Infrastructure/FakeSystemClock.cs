#pragma warning disable CS0618 // ISystemClock is how MemoryDistributedCache takes a clock.
using Microsoft.Extensions.Internal;

namespace StampedeGuard.Tests.Infrastructure;

/// <summary>Lets a <c>MemoryDistributedCache</c> expire entries on the test's fake clock.</summary>
internal sealed class FakeSystemClock(TimeProvider time) : ISystemClock
{
    public DateTimeOffset UtcNow => time.GetUtcNow();
}

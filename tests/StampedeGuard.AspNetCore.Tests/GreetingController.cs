using Microsoft.AspNetCore.Mvc;

namespace StampedeGuard.AspNetCore.Tests;

/// <summary>An MVC controller cached by <see cref="StampedeResponseCacheAttribute"/>.</summary>
[ApiController]
[Route("mvc")]
public sealed class GreetingController(Origin origin, RealEndpointTests.Greeter greeter) : ControllerBase
{
    [HttpGet("{name}")]
    [StampedeResponseCache(DurationSeconds = 60)]
    public IActionResult Get(string name)
    {
        using var _ = origin.Enter();
        return Ok(greeter.Greet(name));
    }
}

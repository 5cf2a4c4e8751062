// StampedeGuard accelerator: a caching reverse proxy in front of one origin server.
//   dotnet run --project src/StampedeGuard.Accelerator -- --origin http://127.0.0.1:8080 --urls http://127.0.0.1:8000
// Options come from configuration (command line, environment, appsettings.json):
//   --origin URL                                   the origin server (required)
//   --StampedeGuard:Caching:DefaultFreshness 00:00:10   any StampedeResponseCachingOptions property
//   --StampedeGuard:Forwarder:PreserveHost false        any StampedeForwarderOptions property
using StampedeGuard.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
var origin = builder.Configuration["origin"];
if (string.IsNullOrEmpty(origin) || !Uri.TryCreate(origin, UriKind.Absolute, out var originUri))
{
    await Console.Error.WriteLineAsync("usage: StampedeGuard.Accelerator --origin http://127.0.0.1:8080 [--urls http://127.0.0.1:8000]");
    return 2;
}

builder.Services.AddStampedeGuardResponseCaching();
builder.Services.Configure<StampedeResponseCachingOptions>(builder.Configuration.GetSection("StampedeGuard:Caching"));
builder.Services.AddStampedeGuardForwarder(o => o.Origin = originUri);
builder.Services.Configure<StampedeForwarderOptions>(builder.Configuration.GetSection("StampedeGuard:Forwarder"));

var app = builder.Build();
app.UseStampedeGuardResponseCaching();
app.RunStampedeGuardForwarder();
await app.RunAsync();
return 0;

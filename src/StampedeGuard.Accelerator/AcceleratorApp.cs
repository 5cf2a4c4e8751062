using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Forwarder;
using StampedeGuard.AspNetCore;

namespace StampedeGuard.Accelerator;

/// <summary>
/// Builds the accelerator: StampedeGuard response caching in front of YARP's <c>MapReverseProxy</c>. The routes and
/// clusters come from the <c>ReverseProxy</c> configuration section; <c>--origin URL</c> generates that section for one
/// origin (a catch-all route to a one-destination cluster), so both forms run the same pipeline.
/// </summary>
internal static class AcceleratorApp
{
    /// <summary>The id of the route and cluster that <c>--origin</c> generates.</summary>
    public const string OriginId = "origin";

    public const string Usage = """
        usage: stampedeguard-accelerator --origin URL [--urls URL] [options]
               stampedeguard-accelerator --config FILE [--urls URL] [options]

          --origin URL     the origin server (scheme, host, port, optional path prefix); every method and path goes there
          --config FILE    a JSON file with YARP's ReverseProxy section (routes, clusters) and StampedeGuard options;
                           an appsettings.json in the current directory is read too
          --urls URL       where to listen (default http://localhost:5000)

        options (command line, environment StampedeGuard__Caching__X, or JSON):
          --StampedeGuard:Caching:<Property> VALUE        any StampedeResponseCachingOptions property
          --StampedeGuard:Accelerator:PreserveHost BOOL   send the client's Host to the origin (--origin form; default true)
          --StampedeGuard:Accelerator:Via NAME            the Via pseudonym (default stampedeguard; empty: none)
          --Logging:LogLevel:Yarp Information             per-request logs (off by default)
        """;

    /// <summary>Runs the accelerator until the host stops; without an origin or routes prints usage and returns 2.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Any(static a => a is "--help" or "-h" or "-?" or "/?"))
        {
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return 0;
        }

        var app = Create(args, error);
        if (app is null)
        {
            return 2;
        }

        await using (app.ConfigureAwait(false))
        {
            await app.RunAsync().ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>Builds the app, or writes usage to <paramref name="error"/> and returns null when the arguments name no origin and no routes.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="error">Where usage and argument errors go.</param>
    /// <param name="configure">Runs before the app is built (tests: a clock, logging).</param>
    public static WebApplication? Create(string[] args, TextWriter error, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder;
        try
        {
            builder = WebApplication.CreateBuilder(args);
        }
        catch (FormatException e)
        {
            error.WriteLine(e.Message);
            error.WriteLine(Usage);
            return null;
        }

        AddDefaults(builder.Configuration);
        if (builder.Configuration["config"] is { Length: > 0 } file)
        {
            if (!File.Exists(file))
            {
                error.WriteLine($"--config: file not found: {file}");
                return null;
            }

            builder.Configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false).AddCommandLine(args);
        }

        if (!TryAddOrigin(builder.Configuration, error))
        {
            return null;
        }

        var proxy = builder.Configuration.GetSection("ReverseProxy");
        if (!proxy.GetSection("Routes").GetChildren().Any())
        {
            error.WriteLine(Usage);
            return null;
        }

        builder.Services.Configure<AcceleratorOptions>(builder.Configuration.GetSection(AcceleratorOptions.Section));
        builder.Services.AddStampedeGuardResponseCaching();
        builder.Services.Configure<StampedeResponseCachingOptions>(builder.Configuration.GetSection("StampedeGuard:Caching"));
        builder.Services.AddReverseProxy().LoadFromConfig(proxy).AddTransforms<HopByHopTransformProvider>();
        builder.Services.Replace(ServiceDescriptor.Singleton<IForwarderHttpClientFactory, OneAttemptHttpClientFactory>());
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseStampedeGuardResponseCaching();
        app.MapReverseProxy();
        Log.Starting(app.Logger, proxy.GetSection("Routes").GetChildren().Count(), proxy.GetSection("Clusters").GetChildren().Count());
        return app;
    }

    /// <summary>
    /// Defaults below every other source: request logging is opt-in (ASP.NET Core's and YARP's per-request
    /// Information logs are raised to Warning; set <c>Logging:LogLevel:Yarp</c> to see them).
    /// </summary>
    private static void AddDefaults(ConfigurationManager configuration) =>
        ((IConfigurationBuilder)configuration).Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:Yarp"] = "Warning",
            },
        });

    /// <summary><c>--origin URL</c>: generates the ReverseProxy section for one origin (a catch-all route to one destination).</summary>
    private static bool TryAddOrigin(ConfigurationManager configuration, TextWriter error)
    {
        var origin = configuration[OriginId];
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            error.WriteLine($"--origin: not an absolute http(s) URL: {origin}");
            error.WriteLine(Usage);
            return false;
        }

        var preserveHost = (configuration.GetSection(AcceleratorOptions.Section).Get<AcceleratorOptions>() ?? new AcceleratorOptions()).PreserveHost;
        configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"ReverseProxy:Routes:{OriginId}:ClusterId"] = OriginId,
            [$"ReverseProxy:Routes:{OriginId}:Match:Path"] = "{**catch-all}",
            [$"ReverseProxy:Routes:{OriginId}:Transforms:0:RequestHeaderOriginalHost"] = preserveHost ? "true" : "false",
            [$"ReverseProxy:Clusters:{OriginId}:Destinations:{OriginId}:Address"] = uri.ToString(),
        });
        return true;
    }
}

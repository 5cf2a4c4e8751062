// StampedeGuard accelerator: StampedeGuard response caching in front of YARP (a caching reverse proxy).
//   stampedeguard-accelerator --origin http://127.0.0.1:8080 --urls http://127.0.0.1:8000
//   stampedeguard-accelerator --config appsettings.json          (YARP's ReverseProxy section: routes and clusters)
// See AcceleratorApp.Usage and docs/accelerator.md.
using StampedeGuard.Accelerator;

return await AcceleratorApp.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);

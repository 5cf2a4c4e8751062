using System.Diagnostics;

namespace StampedeGuard.TestSupport.Redis;

/// <summary>Runs <c>redis-cli</c>.</summary>
public static class RedisCli
{
    public static async Task<string> RunAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo(RedisServer.FindExecutable("redis-cli")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-cli did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        var text = await output.ConfigureAwait(false) + await error.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli {string.Join(' ', arguments)} exited with {process.ExitCode}: {text}");
        }

        return text;
    }
}

namespace StampedeGuard.Aot.Tests;

/// <summary>
/// What a Native AOT publish on Linux needs besides the SDK: a C compiler driver to link with (clang, or gcc, which the
/// AOT compiler falls back to) and objcopy to strip the binary. The default linux-x64 link uses neither lld nor the
/// system zlib (the runtime brings its own), though ./build.sh installs Microsoft's documented set (clang, lld, zlib1g-dev).
/// </summary>
internal static class NativeToolchain
{
    /// <summary>Gets what is missing, or null when the toolchain is complete.</summary>
    public static string? Missing { get; } = Find();

    /// <summary>Whether tests must fail, not skip, when something is missing.</summary>
    public static bool IsCi => Environment.GetEnvironmentVariable("CI") == "true";

    /// <summary>The message a missing toolchain fails (CI) or skips a test with.</summary>
    public static string Explanation =>
        $"Native AOT prerequisites missing: {Missing}. Install them with apt-get install clang lld zlib1g-dev (./build.sh test does).";

    private static string? Find()
    {
        var missing = new List<string>();
        if (!OnPath("clang") && !OnPath("gcc"))
        {
            missing.Add("a C compiler driver to link with (clang or gcc)");
        }

        if (!OnPath("objcopy") && !OnPath("llvm-objcopy"))
        {
            missing.Add("objcopy (binutils)");
        }

        return missing.Count == 0 ? null : string.Join(", ", missing);
    }

    private static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, name)));
}

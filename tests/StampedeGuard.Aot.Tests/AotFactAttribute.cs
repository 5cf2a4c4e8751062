namespace StampedeGuard.Aot.Tests;

/// <summary>A fact that needs the native toolchain: skipped without it, except under <c>CI=true</c>, where it runs and fails saying what is missing.</summary>
internal sealed class AotFactAttribute : FactAttribute
{
    public AotFactAttribute()
    {
        if (NativeToolchain.Missing is not null && !NativeToolchain.IsCi)
        {
            Skip = NativeToolchain.Explanation + " Under CI=true this test fails instead.";
        }
    }
}

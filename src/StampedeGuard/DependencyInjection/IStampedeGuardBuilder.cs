namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Returned by <c>AddStampedeGuard</c>: add tiers to it (<c>.UseDistributedCache()</c>, <c>.AddRedis(...)</c>).</summary>
public interface IStampedeGuardBuilder
{
    /// <summary>Gets the service collection.</summary>
    IServiceCollection Services { get; }
}

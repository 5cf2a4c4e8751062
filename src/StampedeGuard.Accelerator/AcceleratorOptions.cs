namespace StampedeGuard.Accelerator;

/// <summary>The accelerator's own options (configuration section <c>StampedeGuard:Accelerator</c>).</summary>
internal sealed class AcceleratorOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "StampedeGuard:Accelerator";

    /// <summary>Gets or sets whether the client's <c>Host</c> is sent to the origin in the <c>--origin</c> form (a YARP configuration sets its own transforms).</summary>
    /// <value>Default true.</value>
    public bool PreserveHost { get; set; } = true;

    /// <summary>Gets or sets the pseudonym in the <c>Via</c> field added to forwarded requests and responses (RFC 9110 7.6.3); empty adds none.</summary>
    /// <value>Default <c>stampedeguard</c>.</value>
    public string Via { get; set; } = "stampedeguard";
}

namespace Postern.Configuration;

/// <summary>One problem found in a configuration, located by its JSON path.</summary>
/// <param name="Path">
/// The JSON path in the contract's camelCase spelling, e.g. <c>$.gateway.listeners[1].endpoint</c>;
/// <c>$</c> for the document as a whole.
/// </param>
/// <param name="Message">What is wrong and, where it helps, what is expected.</param>
/// <param name="IsWarning">
/// <see langword="true"/> for a problem that does not stop the gateway from starting
/// (for example a self-signed certificate that will be generated).
/// </param>
public sealed record ConfigurationError(string Path, string Message, bool IsWarning = false)
{
    /// <summary>"$.path: message", prefixed with "warning: " for a warning.</summary>
    public override string ToString() => IsWarning ? $"warning: {Path}: {Message}" : $"{Path}: {Message}";
}

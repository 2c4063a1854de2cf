using System.Diagnostics.CodeAnalysis;

namespace Postern.Configuration;

/// <summary>The outcome of loading and validating a configuration.</summary>
public sealed class ConfigurationResult
{
    /// <summary>Creates a result from the bound configuration (if any) and every problem found.</summary>
    /// <param name="configuration">The bound configuration; kept only when no problem is an error.</param>
    /// <param name="problems">Errors and warnings, in document order.</param>
    public ConfigurationResult(PosternConfiguration? configuration, IEnumerable<ConfigurationError> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var all = problems.ToArray();
        Errors = Array.FindAll(all, static p => !p.IsWarning);
        Warnings = Array.FindAll(all, static p => p.IsWarning);
        Configuration = Errors.Count == 0 ? configuration : null;
    }

    /// <summary>
    /// The configuration, with relative file paths resolved to absolute ones; <see langword="null"/>
    /// whenever there is at least one error, so that nothing can run on a configuration that failed.
    /// </summary>
    public PosternConfiguration? Configuration { get; }

    /// <summary>Every error, each naming its JSON path.</summary>
    public IReadOnlyList<ConfigurationError> Errors { get; }

    /// <summary>Every warning, each naming its JSON path.</summary>
    public IReadOnlyList<ConfigurationError> Warnings { get; }

    /// <summary><see langword="true"/> when there are no errors (warnings allowed) and <see cref="Configuration"/> is set.</summary>
    [MemberNotNullWhen(true, nameof(Configuration))]
    public bool IsValid => Configuration is not null;
}

using System.CommandLine;
using Postern.Configuration;

namespace Postern.Cli;

internal static class CommonOptions
{
    public static Option<FileInfo?> Config() => new("--config", "-c")
    {
        Description = "Configuration file (JSON). Without it, the embedded default: a local relay on 127.0.0.1:2525.",
    };

    /// <summary>Loads the file (or the embedded default), printing every error and warning with its JSON path.</summary>
    public static PosternConfiguration? LoadOrReport(FileInfo? file, TextWriter error, out int errors)
    {
        errors = 0;
        if (file is null) return EmbeddedDefaults.Create();
        ConfigurationResult result = ConfigurationLoader.Load(file.FullName);
        foreach (ConfigurationError warning in result.Warnings)
            error.WriteLine($"warning: {warning.Path}: {warning.Message}");
        foreach (ConfigurationError problem in result.Errors)
            error.WriteLine($"error: {problem.Path}: {problem.Message}");
        errors = result.Errors.Count;
        return result.IsValid ? result.Configuration : null;
    }
}

using System.Text.Json;

namespace Postern.Configuration;

/// <summary>
/// Reads a configuration file, binds it to <see cref="PosternConfiguration"/> and validates it,
/// collecting every problem rather than stopping at the first.
/// </summary>
public static class ConfigurationLoader
{
    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>
    /// Loads the configuration file at <paramref name="path"/>. Relative file paths inside it are
    /// resolved against the file's directory.
    /// </summary>
    public static ConfigurationResult Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
        }
        catch (ArgumentException)
        {
            return Failure($"'{path}' is not a valid file path");
        }
        if (Directory.Exists(fullPath))
        {
            return Failure($"configuration file {fullPath} is a directory");
        }
        string json;
        try
        {
            json = File.ReadAllText(fullPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Failure($"configuration file not found: {fullPath}");
        }
        catch (UnauthorizedAccessException)
        {
            return Failure($"configuration file cannot be read (permission denied): {fullPath}");
        }
        catch (IOException e)
        {
            return Failure($"configuration file cannot be read: {fullPath}: {e.Message}");
        }
        return LoadFromJson(json, Path.GetDirectoryName(fullPath));
    }

    /// <summary>
    /// Binds and validates configuration JSON. Comments and trailing commas are allowed; keys are
    /// matched case-insensitively.
    /// </summary>
    /// <param name="json">The configuration document.</param>
    /// <param name="baseDirectory">
    /// Directory against which relative file paths (certificates, keys, roots, the data directory)
    /// are resolved; the current directory when <see langword="null"/>.
    /// </param>
    public static ConfigurationResult LoadFromJson(string json, string? baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(json);
        var baseDir = Path.GetFullPath(baseDirectory ?? Directory.GetCurrentDirectory());
        var problems = new List<ConfigurationError>();
        PosternConfiguration configuration;
        try
        {
            using var document = JsonDocument.Parse(json, DocumentOptions);
            configuration = ConfigurationBinder.Bind(document.RootElement, problems);
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line
                ? $" at line {line + 1}, position {(e.BytePositionInLine ?? 0) + 1}"
                : "";
            return Failure($"invalid JSON{where}: {FirstSentence(e.Message)}");
        }

        configuration = ResolvePaths(configuration, baseDir);

        // A value the binder rejected was left at its default; checking that default again would
        // only repeat the same problem under a less helpful message.
        var bindingPaths = problems.Select(static p => p.Path).ToArray();
        problems.AddRange(ConfigurationValidator.Validate(configuration, baseDir)
            .Where(p => !bindingPaths.Any(b => IsAtOrUnder(p.Path, b))));
        return new ConfigurationResult(configuration, problems);
    }

    /// <summary>Returns <paramref name="configuration"/> with every relative file path made absolute against <paramref name="baseDirectory"/>.</summary>
    internal static PosternConfiguration ResolvePaths(PosternConfiguration configuration, string baseDirectory)
    {
        string Resolve(string file)
        {
            if (string.IsNullOrWhiteSpace(file))
            {
                return file;
            }
            try
            {
                return Path.GetFullPath(file, baseDirectory);
            }
            catch (ArgumentException)
            {
                return file; // the validator names the bad path
            }
        }
        IReadOnlyList<string> ResolveAll(IReadOnlyList<string> files) => files.Select(Resolve).ToArray();
        CertificateSettings ResolveCertificate(CertificateSettings c) => c with
        {
            CertificateFile = Resolve(c.CertificateFile),
            KeyFile = c.KeyFile is null ? null : Resolve(c.KeyFile),
        };
        IReadOnlyList<CertificateSettings> ResolveCertificates(IReadOnlyList<CertificateSettings> list) =>
            list.Select(ResolveCertificate).ToArray();

        var gateway = configuration.Gateway;
        return configuration with
        {
            Gateway = gateway with
            {
                DataDirectory = Resolve(gateway.DataDirectory),
                Certificates = ResolveCertificates(gateway.Certificates),
                Trust = gateway.Trust with { AdditionalRoots = ResolveAll(gateway.Trust.AdditionalRoots) },
            },
            Organizations = configuration.Organizations.Select(o => o with
            {
                Certificates = ResolveCertificates(o.Certificates),
                OutboundConnectors = o.OutboundConnectors.Select(c => c with
                {
                    TrustedRoots = ResolveAll(c.TrustedRoots),
                    ClientCertificate = c.ClientCertificate is null ? null : ResolveCertificate(c.ClientCertificate),
                }).ToArray(),
            }).ToArray(),
        };
    }

    private static bool IsAtOrUnder(string path, string ancestor) =>
        path == ancestor
        || (path.Length > ancestor.Length && path.StartsWith(ancestor, StringComparison.Ordinal) && path[ancestor.Length] is '.' or '[');

    private static string FirstSentence(string message)
    {
        // System.Text.Json appends "Path: $ | LineNumber: 0 | BytePositionInLine: 5." (zero-based); the
        // one-based position is already in the text.
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    private static ConfigurationResult Failure(string message) =>
        new(null, [new ConfigurationError("$", message)]);
}

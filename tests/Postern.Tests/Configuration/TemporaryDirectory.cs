namespace Postern.Tests.Configuration;

/// <summary>A scratch directory for configuration files and the files they reference; deleted on dispose.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public TemporaryDirectory()
    {
        Path = Directory.CreateTempSubdirectory("postern-config-").FullName;
    }

    public string Path { get; }

    /// <summary>Creates a file (and its directories) at a path relative to this directory; returns the absolute path.</summary>
    public string CreateFile(string relativePath, string content = "placeholder\n")
    {
        var full = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory must not fail a test.
        }
    }
}

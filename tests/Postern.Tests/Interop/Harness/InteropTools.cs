namespace Postern.Tests.Interop;

/// <summary>
/// Finds the external programs interop tests run. A missing program is a test failure with a
/// message that says how to get it, never a silent skip: these tests run in CI.
/// </summary>
public static class InteropTools
{
    private static readonly string[] SearchPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Concat(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .Distinct()
        .ToArray();

    /// <summary>The Debian package that provides each program the harness uses.</summary>
    public static readonly IReadOnlyDictionary<string, string> PackageOf = new Dictionary<string, string>
    {
        ["postfix"] = "postfix",
        ["postconf"] = "postfix",
        ["postqueue"] = "postfix",
        ["posttls-finger"] = "postfix",
        ["smtp-source"] = "postfix",
        ["smtp-sink"] = "postfix",
        ["swaks"] = "swaks",
        ["openssl"] = "openssl",
        ["faketime"] = "faketime",
        ["ip"] = "iproute2",
        ["unbound"] = "unbound",
        ["dig"] = "dnsutils",
        ["ldns-signzone"] = "ldnsutils",
        ["ldns-keygen"] = "ldnsutils",
    };

    /// <summary>Full path of <paramref name="program"/>, or null when it is not installed.</summary>
    public static string? Find(string program)
    {
        if (program.Contains('/'))
        {
            return File.Exists(program) ? program : null;
        }

        return SearchPath.Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);
    }

    /// <summary>Full path of <paramref name="program"/>; throws a clear failure when it is missing.</summary>
    public static string Require(string program)
    {
        var path = Find(program);
        if (path is null)
        {
            var package = PackageOf.TryGetValue(program, out var p) ? p : program;
            throw new InteropPrerequisiteException(
                $"interop test needs '{program}' (Debian package '{package}'), which is not installed; " +
                "./test.sh installs every package the interop tests need");
        }

        return path;
    }

    /// <summary>Requires each of <paramref name="programs"/>, reporting all the missing ones at once.</summary>
    public static void Require(params string[] programs)
    {
        var missing = programs.Where(p => Find(p) is null).ToList();
        if (missing.Count > 0)
        {
            var packages = missing.Select(p => PackageOf.TryGetValue(p, out var pkg) ? pkg : p).Distinct();
            throw new InteropPrerequisiteException(
                $"interop tests need {string.Join(", ", missing.Select(p => $"'{p}'"))} " +
                $"(Debian packages: {string.Join(' ', packages)}), not installed; " +
                "./test.sh installs every package the interop tests need");
        }
    }

    /// <summary>Fails unless the tests run as root (Postfix instances and loopback addresses need it).</summary>
    public static void RequireRoot()
    {
        if (Environment.UserName != "root" && ExternalProcess.Run("id", "-u").StandardOutput.Trim() != "0")
        {
            throw new InteropPrerequisiteException(
                "interop tests must run as root: they start Postfix instances and assign loopback addresses");
        }
    }
}

/// <summary>The machine lacks something an interop test needs.</summary>
public sealed class InteropPrerequisiteException(string message) : Exception(message);

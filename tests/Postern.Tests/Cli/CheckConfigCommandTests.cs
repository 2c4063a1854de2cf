using System.Text.Json;
using Postern.Tests.Interop;
using Postern.Tests.Support;
using TestPki = Postern.Tests.Tls.TestPki;

namespace Postern.Tests.Cli;

/// <summary><c>postern check-config</c> and <c>postern --help</c>, run as the real CLI process.</summary>
public sealed class CheckConfigCommandTests
{
    [Fact(Timeout = 120_000)]
    public async Task Help_lists_serve_and_check_config()
    {
        using var directory = new TempDirectory("postern-cli");

        var help = await PosternProcess.RunCliAsync(directory.Path, "--help");

        Assert.True(help.ExitCode == 0, help.Describe());
        Assert.Matches(@"(?m)^\s+serve\s+\S", help.StandardOutput);
        Assert.Matches(@"(?m)^\s+check-config\s+\S", help.StandardOutput);
    }

    [Fact(Timeout = 120_000)]
    public async Task Several_errors_are_each_printed_with_their_JSON_path_and_exit_1()
    {
        using var directory = new TempDirectory("postern-cli");
        string config = directory.Combine("bad.json");
        await File.WriteAllTextAsync(config, """
            {
              "gateway": {
                "hostName": "mx.gateway.test",
                "listeners": [ { "endpoint": "127.0.0.1:2525", "securty": "StartTls" },
                               { "endpoint": "127.0.0.1", "security": "Sometimes" } ],
                "limits": { "maxConnections": 0 }
              },
              "organizations": [ { "name": "Fabrikam", "acceptedDomains": [ "bad..domain" ] } ]
            }
            """);

        var result = await PosternProcess.RunCliAsync(directory.Path, "check-config", "--config", config);

        Assert.True(result.ExitCode == 1, result.Describe());
        string errors = result.StandardError;
        Assert.Contains("$.gateway.listeners[0].securty: unknown key", errors, StringComparison.Ordinal);
        Assert.Contains("$.gateway.listeners[1].endpoint:", errors, StringComparison.Ordinal);
        Assert.Contains("$.gateway.listeners[1].security: expected one of StartTls, ImplicitTls, None", errors, StringComparison.Ordinal);
        Assert.Contains("$.gateway.limits.maxConnections:", errors, StringComparison.Ordinal);
        Assert.Contains("$.organizations[0].acceptedDomains[0]:", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", errors, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_valid_file_exits_0()
    {
        using var directory = new TempDirectory("postern-cli");
        using var pki = new TestPki();
        var source = pki.WritePem(pki.Issue("mx.gateway.test", ["mx.gateway.test"]), "gateway");
        string config = WriteConfig(directory, source.CertificateFile, source.KeyFile);

        var result = await PosternProcess.RunCliAsync(directory.Path, "check-config", "--config", config);

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("valid", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("error", result.CombinedOutput, StringComparison.OrdinalIgnoreCase);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_missing_file_is_a_clear_error()
    {
        using var directory = new TempDirectory("postern-cli");
        string missing = directory.Combine("nowhere.json");

        var result = await PosternProcess.RunCliAsync(directory.Path, "check-config", "--config", missing);

        Assert.True(result.ExitCode != 0, result.Describe());
        Assert.Contains($"$: configuration file not found: {missing}", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task An_expired_certificate_is_reported_with_its_JSON_path()
    {
        using var directory = new TempDirectory("postern-cli");
        using var pki = new TestPki();
        var expired = pki.Issue("mx.gateway.test", ["mx.gateway.test"], notBefore: DateTimeOffset.UtcNow.AddDays(-90), notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        var source = pki.WritePem(expired, "expired");
        string config = WriteConfig(directory, source.CertificateFile, source.KeyFile);

        var result = await PosternProcess.RunCliAsync(directory.Path, "check-config", "--config", config);

        Assert.True(result.ExitCode != 0, result.Describe());
        Assert.Matches(@"\$\.gateway\.certificates\[0\].*expired", result.StandardError);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_certificate_without_its_key_is_reported_with_its_JSON_path()
    {
        using var directory = new TempDirectory("postern-cli");
        using var pki = new TestPki();
        var source = pki.WritePem(pki.Issue("mx.gateway.test", ["mx.gateway.test"]), "keyless");
        string config = WriteConfig(directory, source.CertificateFile, keyFile: null);

        var result = await PosternProcess.RunCliAsync(directory.Path, "check-config", "--config", config);

        Assert.True(result.ExitCode != 0, result.Describe());
        Assert.Matches(@"\$\.gateway\.certificates\[0\].*key", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>A one-listener configuration with one gateway certificate.</summary>
    internal static string WriteConfig(TempDirectory directory, string certificateFile, string? keyFile)
    {
        string path = directory.Combine("postern.json");
        var configuration = new
        {
            gateway = new
            {
                hostName = "mx.gateway.test",
                listeners = new[] { new { endpoint = "127.0.0.1:2599", security = "StartTls" } },
                certificates = new[] { new { certificateFile, keyFile } },
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(configuration, PosternProcess.JsonOptions));
        return path;
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Postern.Cli;
using Postern.Tests.Interop;
using Postern.Tests.Support;

namespace Postern.Tests.Cli;

/// <summary><c>postern connector validate</c> with a configuration file, against the in-process gateway.</summary>
public sealed class ConnectorCommandTests
{
    private static async Task<string> WriteConfigAsync(TempDirectory directory, string? rootFile, string smartHost, string tlsSettings, string? tlsDomain)
    {
        string path = directory.Combine("postern.json");
        var configuration = new JsonObject
        {
            ["gateway"] = new JsonObject
            {
                ["hostName"] = "validator.test",
                ["dataDirectory"] = directory.Combine("var"),
                ["listeners"] = new JsonArray(new JsonObject { ["endpoint"] = "127.0.0.1:2525", ["security"] = "None" }),
                ["trust"] = new JsonObject { ["useSystemStore"] = false, ["additionalRoots"] = rootFile is null ? new JsonArray() : new JsonArray(rootFile) },
            },
            ["organizations"] = new JsonArray(new JsonObject
            {
                ["name"] = "Fabrikam",
                ["acceptedDomains"] = new JsonArray("fabrikam.test"),
                ["outboundConnectors"] = new JsonArray(
                    new JsonObject
                    {
                        ["name"] = "To Gateway",
                        ["recipientDomains"] = new JsonArray("fabrikam.test"),
                        ["useMxRecord"] = false,
                        ["smartHosts"] = new JsonArray(smartHost),
                        ["tlsSettings"] = tlsSettings,
                        ["tlsDomain"] = tlsDomain,
                    },
                    new JsonObject
                    {
                        ["name"] = "To Contoso",
                        ["recipientDomains"] = new JsonArray("contoso.test"),
                        ["useMxRecord"] = true,
                        ["tlsSettings"] = "Opportunistic",
                    }),
            }),
        };
        if (tlsDomain is null) configuration["organizations"]![0]!["outboundConnectors"]![0]!.AsObject().Remove("tlsDomain");
        await File.WriteAllTextAsync(path, configuration.ToJsonString());
        return path;
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string name, string config, string? recipient = null, bool json = false, double timeout = 10)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await ConnectorCommand.RunAsync(new ConnectorCommand.Settings(name, new FileInfo(config), recipient, json, timeout), output, error, colour: false, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task The_right_name_passes_with_exit_0_and_a_readable_report()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var directory = new TempDirectory("postern-validate");
        string config = await WriteConfigAsync(directory, gateway.Authority.RootFile, $"[127.0.0.1]:{gateway.StartTls.Port}", "DomainValidation", "mx.gateway.test");

        var (exit, output, error) = await RunAsync("to gateway", config);

        Assert.True(exit == 0, output + error);
        Assert.Contains("connector \"To Gateway\" (Fabrikam)", output, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^  pass certificate\s+trusted chain, in date, name mx.gateway.test matched by mx.gateway.test", output);
        Assert.Contains("names presented: mx.gateway.test, *.gateway.test; expected: mx.gateway.test (matched by mx.gateway.test)", output, StringComparison.Ordinal);
        Assert.Contains("PASSED: 1 of 1 host(s) passed every step", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_tlsDomain_exits_1_with_names_presented_and_expected()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var directory = new TempDirectory("postern-validate");
        string config = await WriteConfigAsync(directory, gateway.Authority.RootFile, $"[127.0.0.1]:{gateway.StartTls.Port}", "DomainValidation", "mail.contoso.test");

        var (exit, output, error) = await RunAsync("To Gateway", config);

        Assert.True(exit == 1, output + error);
        Assert.Contains("FAIL certificate", output, StringComparison.Ordinal);
        Assert.Contains("certificate names [mx.gateway.test, *.gateway.test] do not match mail.contoso.test", output, StringComparison.Ordinal);
        Assert.Contains("expected: mail.contoso.test (no match)", output, StringComparison.Ordinal);
        Assert.Contains("FAILED: 0 of 1 host(s) passed every step", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_has_the_stable_fields_and_the_test_message_is_stored()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var directory = new TempDirectory("postern-validate");
        string config = await WriteConfigAsync(directory, gateway.Authority.RootFile, $"[127.0.0.1]:{gateway.StartTls.Port}", "DomainValidation", "mx.gateway.test");

        var (exit, output, error) = await RunAsync("To Gateway", config, recipient: "postmaster@fabrikam.test", json: true);

        Assert.True(exit == 0, output + error);
        JsonNode report = JsonNode.Parse(output)!;
        Assert.Equal(1, (int)report["schemaVersion"]!);
        Assert.Equal("To Gateway", (string?)report["connector"]);
        Assert.True((bool)report["passed"]!);
        JsonNode policy = report["policy"]!;
        Assert.Equal("DomainValidation", (string?)policy["tlsSettings"]);
        Assert.Equal("mx.gateway.test", (string?)policy["tlsDomain"]);
        Assert.Equal(0, (int)policy["pins"]!);
        Assert.False((bool)policy["testMode"]!);
        JsonNode host = report["hosts"]!.AsArray().Single()!;
        Assert.Equal("127.0.0.1", (string?)host["host"]);
        Assert.Equal(gateway.StartTls.Port, (int)host["port"]!);
        Assert.Equal("127.0.0.1", (string?)host["addresses"]![0]);
        Assert.Equal(["resolve", "connect", "banner", "ehlo", "starttls", "certificate", "message"],
            host["steps"]!.AsArray().Select(s => (string)s!["name"]!));
        Assert.All(host["steps"]!.AsArray(), s => { Assert.True((bool)s!["passed"]!); Assert.False(string.IsNullOrEmpty((string?)s["detail"])); });
        Assert.StartsWith("TLSv1.", (string?)host["tls"]!["protocol"], StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty((string?)host["tls"]!["cipher"]));
        JsonNode certificate = host["certificate"]!;
        Assert.Equal("CN=mx.gateway.test", (string?)certificate["subject"]);
        Assert.Contains("*.gateway.test", certificate["names"]!.AsArray().Select(n => (string)n!));
        Assert.False(string.IsNullOrEmpty((string?)certificate["issuer"]));
        Assert.True(DateTimeOffset.Parse((string)certificate["notAfter"]!, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow);
        Assert.True((int)certificate["daysLeft"]! > 0);
        Assert.Equal(64, ((string)certificate["sha256"]!).Length);
        Assert.Equal("pass", (string?)host["verdict"]);
        Assert.Single(gateway.QueueIds());
    }

    [Fact]
    public async Task An_unreachable_host_exits_1_at_connect()
    {
        using var directory = new TempDirectory("postern-validate");
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        string config = await WriteConfigAsync(directory, null, $"[127.0.0.1]:{port}", "Opportunistic", null);

        var (exit, output, error) = await RunAsync("To Gateway", config, json: true, timeout: 2);

        Assert.True(exit == 1, output + error);
        JsonNode host = JsonNode.Parse(output)!["hosts"]![0]!;
        Assert.Equal("fail", (string?)host["verdict"]);
        Assert.Equal("connect", (string?)host["steps"]!.AsArray().Last()!["name"]);
    }

    [Fact]
    public async Task An_unknown_name_exits_2_listing_the_connectors()
    {
        using var directory = new TempDirectory("postern-validate");
        string config = await WriteConfigAsync(directory, null, "[127.0.0.1]:25", "Opportunistic", null);

        var (exit, output, error) = await RunAsync("To Nowhere", config);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("no outbound connector named \"To Nowhere\"; the outbound connectors are: \"To Gateway\", \"To Contoso\"", error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_CLI_registers_connector_validate()
    {
        using var directory = new TempDirectory("postern-validate");
        string config = await WriteConfigAsync(directory, null, "[127.0.0.1]:25", "Opportunistic", null);

        var help = await PosternProcess.RunCliAsync(directory.Path, "connector", "validate", "--help");
        var unknown = await PosternProcess.RunCliAsync(directory.Path, "connector", "validate", "Nope", "--config", config);

        Assert.True(help.ExitCode == 0, help.Describe());
        Assert.Contains("--recipient", help.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("\"To Gateway\"", unknown.StandardError, StringComparison.Ordinal);
    }
}

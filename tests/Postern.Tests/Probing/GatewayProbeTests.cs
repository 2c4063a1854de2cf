using System.Text.Json;
using System.Text.Json.Nodes;
using Postern.Cli;
using Postern.Probing;
using Postern.Tests.Support;

namespace Postern.Tests.Probing;

/// <summary>The probe against the real Postern server in-process: SNI picks the organization's certificate.</summary>
public sealed class GatewayProbeTests
{
    private static async Task<(int Exit, string Output, string Error)> RunCliAsync(ProbeCommand.Settings settings)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await ProbeCommand.RunAsync(settings, output, error, colour: false, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    private static ProbeCommand.Settings Settings(string target, string caFile, string? serverName = null, bool json = false, string[]? expect = null, bool implicitTls = false, FileInfo? pem = null) =>
        new(target, implicitTls, serverName, false, "probe.example.test", 10, [new FileInfo(caFile)], true, null, null, expect ?? [], null, null, json, pem, false, false);

    [Fact]
    public async Task SNI_picks_the_organization_certificate_and_every_check_passes()
    {
        await using var gateway = await TestGateway.StartAsync();

        var (exit, output, error) = await RunCliAsync(Settings($"[127.0.0.1]:{gateway.StartTls.Port}", gateway.Authority.RootFile, serverName: "mail.fabrikam.test", json: true));

        Assert.True(exit == 0, output + error);
        var report = JsonSerializer.Deserialize(output, ProbeJsonContext.Default.ProbeReport)!;
        var host = Assert.Single(report.Hosts);
        Assert.Equal("CN=mail.fabrikam.test", host.PresentedChain[0].Subject);
        Assert.Equal(2, host.PresentedChain.Count);
        Assert.Equal("mail.fabrikam.test", host.Tls!.ServerName);
        Assert.True(host.BuiltChain!.Trusted);
        Assert.Equal(3, host.BuiltChain.Subjects.Count);
        Assert.Equal("mail.fabrikam.test", host.Names.Single(n => n.Source == "serverName").MatchedBy);
        Assert.All(host.Verdicts.Where(v => v.IsCheck), v => Assert.True(v.Passed, v.Reason));
        Assert.True(host.Hello!.StartTls);
        Assert.Equal(gateway.Authority.Intermediate.Subject, host.PresentedChain[1].Subject);
    }

    [Fact]
    public async Task Without_the_organization_name_the_gateway_certificate_is_presented()
    {
        await using var gateway = await TestGateway.StartAsync();

        var (exit, output, _) = await RunCliAsync(Settings($"[127.0.0.1]:{gateway.StartTls.Port}", gateway.Authority.RootFile, expect: ["mail.fabrikam.test", "*.gateway.test"]));

        Assert.Equal(1, exit);
        Assert.Contains("[0] CN=mx.gateway.test", output, StringComparison.Ordinal);
        Assert.Contains("DomainValidation mail.fabrikam.test", output, StringComparison.Ordinal);
        Assert.Contains("certificate names [mx.gateway.test, *.gateway.test] do not match mail.fabrikam.test", output, StringComparison.Ordinal);
        Assert.Contains("*.gateway.test (expect) matches via mx.gateway.test", output, StringComparison.Ordinal);
        Assert.Contains("result: FAIL: a policy check failed (exit 1)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Implicit_TLS_listener_is_probed_before_the_banner()
    {
        await using var gateway = await TestGateway.StartAsync();

        var (exit, output, error) = await RunCliAsync(Settings($"[127.0.0.1]:{gateway.ImplicitTls.Port}", gateway.Authority.RootFile, serverName: "mx.gateway.test", json: true, implicitTls: true));

        Assert.True(exit == 0, output + error);
        var host = JsonSerializer.Deserialize(output, ProbeJsonContext.Default.ProbeReport)!.Hosts[0];
        Assert.Equal("implicit", host.StartTls!.Outcome);
        Assert.Equal(220, host.Banner!.Code);
        Assert.NotNull(host.HelloAfterTls);
        Assert.Null(host.Hello);
    }

    [Fact]
    public async Task Plain_listener_fails_the_policy_and_pem_is_empty()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var directory = new TempDirectory("postern-probe-pem");

        var (exit, output, _) = await RunCliAsync(Settings($"[127.0.0.1]:{gateway.Plain.Port}", gateway.Authority.RootFile, pem: new FileInfo(directory.Combine("chain.pem"))));

        Assert.Equal(1, exit);
        Assert.Contains("STARTTLS   not offered", output, StringComparison.Ordinal);
        Assert.Equal("", File.ReadAllText(directory.Combine("chain.pem")));
    }

    [Fact]
    public async Task Pem_file_holds_the_chain_as_presented()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var directory = new TempDirectory("postern-probe-pem");
        var file = directory.Combine("chain.pem");

        var (exit, _, _) = await RunCliAsync(Settings($"[127.0.0.1]:{gateway.StartTls.Port}", gateway.Authority.RootFile, serverName: "mail.fabrikam.test", pem: new FileInfo(file)));

        Assert.Equal(0, exit);
        var chain = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        chain.ImportFromPemFile(file);
        Assert.Equal(2, chain.Count);
        Assert.Equal("CN=mail.fabrikam.test", chain[0].Subject);
        Assert.Equal(gateway.Authority.Intermediate.Thumbprint, chain[1].Thumbprint);
    }

    [Fact]
    public async Task Client_certificate_with_its_chain_is_presented_when_asked()
    {
        await using var gateway = await TestGateway.StartAsync();
        var client = gateway.Authority.Issue("client", "relay.fabrikam.test", ["relay.fabrikam.test"], server: false, client: true);
        var settings = Settings($"[127.0.0.1]:{gateway.StartTls.Port}", gateway.Authority.RootFile, serverName: "mail.fabrikam.test", json: true)
            with
        { ClientCert = new FileInfo(client.CertificateFile), ClientKey = new FileInfo(client.KeyFile) };

        var (exit, output, error) = await RunCliAsync(settings);

        Assert.True(exit == 0, output + error);
        Assert.Equal("established", JsonSerializer.Deserialize(output, ProbeJsonContext.Default.ProbeReport)!.Hosts[0].StartTls!.Outcome);

        (exit, _, error) = await RunCliAsync(settings with { ClientKey = null });
        Assert.Equal(2, exit);
        Assert.Equal("postern probe: --client-cert and --client-key go together", error.Trim());
    }

    [Fact]
    public async Task Usage_errors_are_one_line_and_exit_2()
    {
        var (exit, output, error) = await RunCliAsync(Settings("mx.example.test:99999", "/nonexistent/ca.pem"));

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith("postern probe: invalid target:", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);

        (exit, _, error) = await RunCliAsync(Settings("[127.0.0.1]:25", "/nonexistent/ca.pem"));
        Assert.Equal(2, exit);
        Assert.StartsWith("postern probe: --ca:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_output_follows_the_documented_schema()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (_, output, _) = await RunCliAsync(Settings($"[127.0.0.1]:{gateway.StartTls.Port}", gateway.Authority.RootFile, serverName: "mail.fabrikam.test", json: true, expect: ["*.fabrikam.test"]));
        await using var peer = new FakeSmtpPeer(async (c, ct) => await c.SendAsync("garbage\r\n", ct));
        var (_, broken, _) = await RunCliAsync(Settings(peer.Target, gateway.Authority.RootFile, json: true));

        var schema = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "probe-schema.json")))!;
        foreach (var document in new[] { output, broken })
        {
            var problems = new List<string>();
            SchemaCheck.Validate(JsonNode.Parse(document), schema, schema, "$", problems);
            Assert.True(problems.Count == 0, string.Join("\n", problems) + "\n" + document);
        }

        var report = JsonNode.Parse(output)!;
        Assert.Equal(1, (int)report["schemaVersion"]!);
        Assert.Equal(0, (int)report["exitCode"]!);
        Assert.Matches("^[0-9A-F]{64}$", (string)report["hosts"]![0]!["presentedChain"]![0]!["publicKeySha256"]!);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Postern.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("repository root not found");
    }
}

/// <summary>The subset of JSON Schema 2020-12 that docs/probe-schema.json uses: type, const, enum, properties, required, items, $ref, oneOf, pattern.</summary>
internal static class SchemaCheck
{
    public static void Validate(JsonNode? value, JsonNode schema, JsonNode root, string path, List<string> problems)
    {
        if (schema["$ref"] is { } reference)
        {
            var name = ((string)reference!).Split('/')[^1];
            Validate(value, root["$defs"]![name]!, root, path, problems);
            return;
        }

        if (schema["oneOf"] is JsonArray oneOf)
        {
            var matching = oneOf.Count(option =>
            {
                var inner = new List<string>();
                Validate(value, option!, root, path, inner);
                return inner.Count == 0;
            });
            if (matching != 1)
            {
                problems.Add($"{path}: matches {matching} of the oneOf alternatives");
            }

            return;
        }

        var kind = Kind(value);
        if (schema["type"] is { } type)
        {
            var allowed = type is JsonArray array ? array.Select(t => (string)t!).ToArray() : [(string)type!];
            if (!allowed.Contains(kind) && !(kind == "integer" && allowed.Contains("number")))
            {
                problems.Add($"{path}: {kind}, expected {string.Join("|", allowed)}");
                return;
            }
        }

        if (schema["const"] is { } constant && !JsonNode.DeepEquals(constant, value))
        {
            problems.Add($"{path}: not {constant.ToJsonString()}");
        }

        if (schema["enum"] is JsonArray values && !values.Any(v => JsonNode.DeepEquals(v, value)))
        {
            problems.Add($"{path}: {value?.ToJsonString()} not in enum");
        }

        if (schema["pattern"] is { } pattern && kind == "string" && !System.Text.RegularExpressions.Regex.IsMatch((string)value!, (string)pattern!))
        {
            problems.Add($"{path}: does not match {pattern}");
        }

        if (value is JsonObject obj && schema["properties"] is JsonObject properties)
        {
            foreach (var required in schema["required"]?.AsArray() ?? [])
            {
                if (!obj.ContainsKey((string)required!))
                {
                    problems.Add($"{path}: missing {required}");
                }
            }

            foreach (var (name, child) in obj)
            {
                if (properties[name] is not { } property)
                {
                    problems.Add($"{path}.{name}: not in the schema");
                    continue;
                }

                Validate(child, property, root, $"{path}.{name}", problems);
            }
        }

        if (value is JsonArray items && schema["items"] is { } itemSchema)
        {
            for (var i = 0; i < items.Count; i++)
            {
                Validate(items[i], itemSchema, root, $"{path}[{i}]", problems);
            }
        }
    }

    private static string Kind(JsonNode? value) => value switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => "string",
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString().Contains('.', StringComparison.Ordinal) ? "number" : "integer",
        _ => "unknown",
    };
}

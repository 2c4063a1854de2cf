using Postern.Configuration;

namespace Postern.Tests.Configuration;

public sealed class ConfigurationLoaderTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    /// <summary>A minimal configuration that loads cleanly; <paramref name="listener"/> and <paramref name="rest"/> are spliced in.</summary>
    private static string Config(string listener = "\"endpoint\": \"127.0.0.1:2525\", \"security\": \"None\"", string gateway = "", string rest = "") => $$"""
        {
          "gateway": { "listeners": [ { {{listener}} } ] {{gateway}} }
          {{rest}}
        }
        """;

    private ConfigurationResult LoadJson(string json) => ConfigurationLoader.LoadFromJson(json, _directory.Path);

    private static ConfigurationError SingleError(ConfigurationResult result) => Assert.Single(result.Errors);

    [Fact]
    public void MinimalConfiguration_IsValid()
    {
        var result = LoadJson(Config());

        Assert.True(result.IsValid);
        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void UnknownKey_IsReportedAtItsPathWithTheExpectedKeys()
    {
        var json = """
            { "gateway": { "listeners": [
                { "endpoint": "127.0.0.1:25", "security": "None" },
                { "endpoint": "127.0.0.1:26", "securty": "None" } ] } }
            """;

        var error = SingleError(LoadJson(json));

        Assert.Equal("$.gateway.listeners[1].securty", error.Path);
        Assert.Equal("unknown key; expected one of endpoint, security, requestClientCertificate", error.Message);
        Assert.False(error.IsWarning);
    }

    [Fact]
    public void UnknownKey_WithAnOddName_IsQuotedInThePath()
    {
        var error = SingleError(LoadJson(Config(gateway: ", \"host name\": \"x\"")));

        Assert.Equal("$.gateway['host name']", error.Path);
    }

    [Fact]
    public void UnknownTopLevelKey_ListsTheTopLevelKeys()
    {
        var error = SingleError(LoadJson(Config(rest: ", \"organisations\": []")));

        Assert.Equal("$.organisations", error.Path);
        Assert.Equal("unknown key; expected one of gateway, organizations", error.Message);
    }

    [Theory]
    [InlineData("\"limits\": { \"maxRecipientsPerMessage\": \"100\" }", "$.gateway.limits.maxRecipientsPerMessage", "expected a number")]
    [InlineData("\"limits\": { \"maxRecipientsPerMessage\": 1.5 }", "$.gateway.limits.maxRecipientsPerMessage", "expected a whole number")]
    [InlineData("\"limits\": { \"maxRecipientsPerMessage\": 3000000000 }", "$.gateway.limits.maxRecipientsPerMessage", "number out of range (at most 2147483647)")]
    [InlineData("\"limits\": { \"maxMessageSize\": true }", "$.gateway.limits.maxMessageSize", "expected a number")]
    [InlineData("\"hostName\": 42", "$.gateway.hostName", "expected a string")]
    [InlineData("\"dataDirectory\": null", "$.gateway.dataDirectory", "expected a string")]
    [InlineData("\"trust\": { \"useSystemStore\": \"yes\" }", "$.gateway.trust.useSystemStore", "expected true or false")]
    [InlineData("\"trust\": { \"additionalRoots\": \"ca.pem\" }", "$.gateway.trust.additionalRoots", "expected an array")]
    [InlineData("\"trust\": { \"additionalRoots\": [ 1 ] }", "$.gateway.trust.additionalRoots[0]", "expected a string")]
    [InlineData("\"tls\": \"1.3\"", "$.gateway.tls", "expected an object")]
    [InlineData("\"admin\": []", "$.gateway.admin", "expected an object")]
    [InlineData("\"certificates\": [ \"gateway.pem\" ]", "$.gateway.certificates[0]", "expected an object")]
    public void WrongType_IsReportedAtItsPath(string gatewayMember, string path, string message)
    {
        var error = SingleError(LoadJson(Config(gateway: ", " + gatewayMember)));

        Assert.Equal(path, error.Path);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("starttls", ListenerSecurity.StartTls)]
    [InlineData("IMPLICITTLS", ListenerSecurity.ImplicitTls)]
    [InlineData("None", ListenerSecurity.None)]
    public void Enum_IsCaseInsensitive(string text, ListenerSecurity expected)
    {
        var result = LoadJson(Config(listener: $"\"endpoint\": \"127.0.0.1:2525\", \"security\": \"{text}\""));

        Assert.Empty(result.Errors);
        Assert.Equal(expected, result.Configuration!.Gateway.Listeners[0].Security);
    }

    [Theory]
    [InlineData("\"Start-TLS\"")]
    [InlineData("\"1\"")]
    [InlineData("1")]
    [InlineData("\"StartTls,None\"")]
    public void Enum_UnknownValue_ListsTheAllowedValues(string value)
    {
        var error = SingleError(LoadJson(Config(listener: $"\"endpoint\": \"127.0.0.1:2525\", \"security\": {value}")));

        Assert.Equal("$.gateway.listeners[0].security", error.Path);
        Assert.Equal("expected one of StartTls, ImplicitTls, None", error.Message);
    }

    [Fact]
    public void Enum_InAConnector_ListsTheAllowedValues()
    {
        var json = Config(rest: """
            , "organizations": [ { "name": "F", "acceptedDomains": [ "f.example" ],
                "outboundConnectors": [ { "name": "x", "recipientDomains": [ "c.example" ], "tlsSettings": "Mandatory" } ] } ]
            """);

        var error = SingleError(LoadJson(json));

        Assert.Equal("$.organizations[0].outboundConnectors[0].tlsSettings", error.Path);
        Assert.Equal("expected one of None, Opportunistic, EncryptionOnly, CertificateValidation, DomainValidation", error.Message);
    }

    [Fact]
    public void SeveralErrors_AreAllReported()
    {
        var json = """
            {
              "gateway": {
                "hostName": 1,
                "listeners": [ { "endpoint": "127.0.0.1:25", "security": "Plain", "port": 25 } ],
                "limits": { "maxConnections": "many", "maxBadCommands": -1 },
                "queue": { "minimumBackoffSeconds": 900, "maximumBackoffSeconds": 60 }
              },
              "organizations": [ {
                "name": "Fabrikam",
                "acceptedDomains": [ "fabrikam.example", 7 ],
                "inboundConnectors": [ { "name": "In", "connectorType": "OnPremises", "senderIPAddresses": [ "192.0.2.1/24" ], "tlsSenderCertificateName": "a.*.b" } ],
                "outboundConnectors": [ { "name": "Out", "recipientDomains": [ "c.example" ], "useMxRecord": "no" } ]
              } ]
            }
            """;

        var result = LoadJson(json);

        Assert.False(result.IsValid);
        Assert.Equal(
            [
                "$.gateway.hostName",
                "$.gateway.listeners[0].security",
                "$.gateway.listeners[0].port",
                "$.gateway.limits.maxConnections",
                "$.organizations[0].acceptedDomains[1]",
                "$.organizations[0].outboundConnectors[0].useMxRecord",
                "$.gateway.limits.maxBadCommands",
                "$.gateway.queue.minimumBackoffSeconds",
                "$.organizations[0].inboundConnectors[0].senderIPAddresses[0]",
                "$.organizations[0].inboundConnectors[0].tlsSenderCertificateName",
            ],
            result.Errors.Select(e => e.Path));
    }

    [Fact]
    public void RejectedValue_IsNotReportedAgainByTheValidator()
    {
        // The listener's endpoint has the wrong type; the validator would otherwise add "required".
        var error = SingleError(LoadJson(Config(listener: "\"endpoint\": 25, \"security\": \"None\"")));

        Assert.Equal("$.gateway.listeners[0].endpoint", error.Path);
        Assert.Equal("expected a string", error.Message);
    }

    [Fact]
    public void Keys_AreMatchedCaseInsensitively()
    {
        var json = """
            { "GATEWAY": { "HostName": "mx.example", "Listeners": [ { "EndPoint": "127.0.0.1:2525", "SECURITY": "none" } ],
                           "limits": { "MAXRECIPIENTSPERMESSAGE": 200 } },
              "Organizations": [ { "NAME": "F", "acceptedDOMAINS": [ "f.example" ] } ] }
            """;

        var result = LoadJson(json);

        Assert.Empty(result.Errors);
        Assert.Equal("mx.example", result.Configuration!.Gateway.HostName);
        Assert.Equal("127.0.0.1:2525", result.Configuration.Gateway.Listeners[0].Endpoint);
        Assert.Equal(200, result.Configuration.Gateway.Limits.MaxRecipientsPerMessage);
        Assert.Equal(["f.example"], result.Configuration.Organizations[0].AcceptedDomains);
    }

    [Fact]
    public void DuplicateKey_DifferingOnlyInCase_IsAnError()
    {
        var error = SingleError(LoadJson(Config(gateway: ", \"hostName\": \"a.example\", \"HOSTNAME\": \"b.example\"")));

        Assert.Equal("$.gateway.hostName", error.Path);
        Assert.Equal("duplicate key (\"hostName\" and \"HOSTNAME\")", error.Message);
    }

    [Fact]
    public void CommentsAndTrailingCommas_AreAllowed()
    {
        var json = """
            // Postern
            {
              /* the gateway */
              "gateway": {
                "listeners": [ { "endpoint": "127.0.0.1:2525", "security": "None", }, ], // one listener
              },
            }
            """;

        var result = LoadJson(json);

        Assert.Empty(result.Errors);
        Assert.True(result.IsValid);
    }

    [Fact]
    public void AbsentKeys_KeepTheRecordDefaults()
    {
        var result = LoadJson(Config());

        Assert.Equal(new LimitSettings(), result.Configuration!.Gateway.Limits);
        Assert.Equal(new QueueSettings(), result.Configuration.Gateway.Queue);
        Assert.Null(result.Configuration.Gateway.Admin);
        Assert.Null(result.Configuration.Gateway.HostName);
    }

    [Fact]
    public void NullableValues_AcceptNull()
    {
        var json = Config(gateway: ", \"hostName\": null, \"admin\": null", rest: """
            , "organizations": [ { "name": "F", "acceptedDomains": [ "f.example" ],
                "outboundConnectors": [ { "name": "x", "recipientDomains": [ "c.example" ], "useMxRecord": null, "tlsDomain": null } ] } ]
            """);

        var result = LoadJson(json);

        Assert.Empty(result.Errors);
        Assert.Null(result.Configuration!.Organizations[0].OutboundConnectors[0].UseMxRecord);
    }

    [Theory]
    [InlineData("", 1, 1)]
    [InlineData("{ \"gateway\": { ", 1, 16)]
    [InlineData("{\n  \"gateway\": {\n    \"hostName\": \"x\"\n    \"listeners\": []\n  }\n}", 4, 5)]
    [InlineData("[ 1, ]x", 1, 7)]
    public void InvalidJson_IsOneErrorWithLineAndPosition(string json, int line, int position)
    {
        var result = LoadJson(json);

        var error = SingleError(result);
        Assert.Equal("$", error.Path);
        Assert.StartsWith($"invalid JSON at line {line}, position {position}: ", error.Message, StringComparison.Ordinal);
        Assert.Null(result.Configuration);
    }

    [Fact]
    public void RootThatIsNotAnObject_IsAnError()
    {
        var error = SingleError(LoadJson("[]"));

        Assert.Equal("$", error.Path);
        Assert.Equal("expected an object", error.Message);
    }

    [Fact]
    public void MissingFile_IsAnErrorNamingTheFile()
    {
        var path = Path.Combine(_directory.Path, "absent.json");

        var result = ConfigurationLoader.Load(path);

        var error = SingleError(result);
        Assert.Equal("$", error.Path);
        Assert.Equal($"configuration file not found: {path}", error.Message);
        Assert.False(result.IsValid);
    }

    [Fact]
    public void DirectoryInsteadOfFile_IsAnError()
    {
        var error = SingleError(ConfigurationLoader.Load(_directory.Path));

        Assert.Contains("is a directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RelativePaths_AreResolvedAgainstTheConfigurationFilesDirectory()
    {
        var configDirectory = Path.Combine(_directory.Path, "etc");
        foreach (var file in new[] { "etc/gw.pem", "etc/keys/gw.key", "etc/roots/a.pem", "etc/org.pfx", "etc/partner-root.pem", "etc/client.pem", "etc/client.key" })
        {
            _directory.CreateFile(file);
        }
        var absoluteRoot = _directory.CreateFile("elsewhere/b.pem");
        var json = Config(
            listener: "\"endpoint\": \"127.0.0.1:2525\", \"security\": \"StartTls\"",
            gateway: $$"""
                , "dataDirectory": "../spool",
                "certificates": [ { "certificateFile": "gw.pem", "keyFile": "keys/gw.key" } ],
                "trust": { "additionalRoots": [ "roots/a.pem", "{{absoluteRoot}}" ] }
                """,
            rest: """
                , "organizations": [ { "name": "F", "acceptedDomains": [ "f.example" ],
                    "certificates": [ { "certificateFile": "./org.pfx", "password": "secret" } ],
                    "outboundConnectors": [ { "name": "x", "recipientDomains": [ "c.example" ], "trustedRoots": [ "partner-root.pem" ],
                        "clientCertificate": { "certificateFile": "client.pem", "keyFile": "client.key" } } ] } ]
                """);
        var configFile = _directory.CreateFile("etc/postern.json", json);

        var result = ConfigurationLoader.Load(configFile);

        Assert.Empty(result.Errors);
        var gateway = result.Configuration!.Gateway;
        Assert.Equal(Path.Combine(_directory.Path, "spool"), gateway.DataDirectory);
        Assert.Equal(Path.Combine(configDirectory, "gw.pem"), gateway.Certificates[0].CertificateFile);
        Assert.Equal(Path.Combine(configDirectory, "keys/gw.key"), gateway.Certificates[0].KeyFile);
        Assert.Equal([Path.Combine(configDirectory, "roots/a.pem"), absoluteRoot], gateway.Trust.AdditionalRoots);
        var organization = result.Configuration.Organizations[0];
        Assert.Equal(Path.Combine(configDirectory, "org.pfx"), organization.Certificates[0].CertificateFile);
        Assert.Null(organization.Certificates[0].KeyFile);
        Assert.Equal("secret", organization.Certificates[0].Password);
        var connector = organization.OutboundConnectors[0];
        Assert.Equal([Path.Combine(configDirectory, "partner-root.pem")], connector.TrustedRoots);
        Assert.Equal(Path.Combine(configDirectory, "client.pem"), connector.ClientCertificate!.CertificateFile);
        Assert.Equal(Path.Combine(configDirectory, "client.key"), connector.ClientCertificate.KeyFile);
    }

    [Fact]
    public void RelativePath_ThatDoesNotExist_IsReportedWithItsResolvedLocation()
    {
        var json = Config(gateway: ", \"trust\": { \"additionalRoots\": [ \"roots/missing.pem\" ] }");

        var error = SingleError(LoadJson(json));

        Assert.Equal("$.gateway.trust.additionalRoots[0]", error.Path);
        Assert.Equal($"file not found: {Path.Combine(_directory.Path, "roots/missing.pem")}", error.Message);
    }

    [Fact]
    public void Warnings_DoNotMakeTheConfigurationInvalid()
    {
        var result = LoadJson(Config(listener: "\"endpoint\": \"127.0.0.1:2525\", \"security\": \"StartTls\""));

        Assert.Empty(result.Errors);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal("$.gateway.certificates", warning.Path);
        Assert.True(warning.IsWarning);
        Assert.True(result.IsValid);
    }
}

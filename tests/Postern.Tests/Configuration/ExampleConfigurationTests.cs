using Postern.Configuration;

namespace Postern.Tests.Configuration;

public sealed class ExampleConfigurationTests : IDisposable
{
    // The configuration contract example of PRODUCT.md, verbatim.
    internal const string ProductExample = """
        {
          "gateway": {
            "hostName": "mx.gateway.example",
            "dataDirectory": "var",
            "listeners": [ { "endpoint": "0.0.0.0:25", "security": "StartTls", "requestClientCertificate": true },
                           { "endpoint": "0.0.0.0:465", "security": "ImplicitTls" } ],
            "certificates": [ { "certificateFile": "certs/gateway.pem", "keyFile": "certs/gateway.key" } ],
            "tls": { "minimumVersion": "1.2" },
            "trust": { "useSystemStore": true, "additionalRoots": [ "certs/partner-ca.pem" ] },
            "dns": { "servers": [ "127.0.0.1:53" ] },
            "defaultOutbound": { "tlsSettings": "Opportunistic" },
            "admin": { "endpoint": "127.0.0.1:8025" }
          },
          "organizations": [ {
            "name": "Fabrikam",
            "acceptedDomains": [ "fabrikam.example" ],
            "certificates": [ { "certificateFile": "certs/mail.fabrikam.pem", "keyFile": "certs/mail.fabrikam.key" } ],
            "inboundConnectors": [
              { "name": "From Contoso", "connectorType": "Partner", "senderDomains": [ "contoso.example" ],
                "requireTls": true, "tlsSenderCertificateName": "mail.contoso.example",
                "restrictDomainsToCertificate": true },
              { "name": "From Fabrikam servers", "connectorType": "OnPremises",
                "tlsSenderCertificateName": "mail.fabrikam.example", "senderIPAddresses": [ "192.0.2.0/24", "2001:db8::/48" ] } ],
            "outboundConnectors": [
              { "name": "To Fabrikam servers", "connectorType": "OnPremises", "allAcceptedDomains": true,
                "useMxRecord": false, "smartHosts": [ "mail.fabrikam.example" ],
                "tlsSettings": "DomainValidation", "tlsDomain": "mail.fabrikam.example" },
              { "name": "To Contoso", "connectorType": "Partner", "recipientDomains": [ "contoso.example" ],
                "useMxRecord": true, "tlsSettings": "DomainValidation", "tlsDomain": "*.contoso.example" } ]
          } ]
        }
        """;

    private readonly TemporaryDirectory _directory = new();

    public ExampleConfigurationTests()
    {
        foreach (var file in new[] { "certs/gateway.pem", "certs/gateway.key", "certs/partner-ca.pem", "certs/mail.fabrikam.pem", "certs/mail.fabrikam.key" })
        {
            _directory.CreateFile(file);
        }
        _directory.CreateFile("postern.json", ProductExample);
    }

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void ProductExample_LoadsWithoutErrorsOrWarnings()
    {
        var result = ConfigurationLoader.Load(Path.Combine(_directory.Path, "postern.json"));

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.True(result.IsValid);
    }

    [Fact]
    public void ProductExample_BindsEveryValue()
    {
        var result = ConfigurationLoader.Load(Path.Combine(_directory.Path, "postern.json"));
        Assert.True(result.IsValid);
        var gateway = result.Configuration.Gateway;

        Assert.Equal("mx.gateway.example", gateway.HostName);
        Assert.Equal(Path.Combine(_directory.Path, "var"), gateway.DataDirectory);
        Assert.Equal(2, gateway.Listeners.Count);
        Assert.Equal(new ListenerSettings { Endpoint = "0.0.0.0:25", Security = ListenerSecurity.StartTls, RequestClientCertificate = true }, gateway.Listeners[0]);
        Assert.Equal(ListenerSecurity.ImplicitTls, gateway.Listeners[1].Security);
        Assert.Equal(Path.Combine(_directory.Path, "certs/gateway.pem"), gateway.Certificates[0].CertificateFile);
        Assert.Equal(Path.Combine(_directory.Path, "certs/gateway.key"), gateway.Certificates[0].KeyFile);
        Assert.Equal([Path.Combine(_directory.Path, "certs/partner-ca.pem")], gateway.Trust.AdditionalRoots);
        Assert.Equal(["127.0.0.1:53"], gateway.Dns.Servers);
        Assert.Equal(TlsLevel.Opportunistic, gateway.DefaultOutbound.TlsSettings);
        Assert.Equal("127.0.0.1:8025", gateway.Admin?.Endpoint);

        var fabrikam = Assert.Single(result.Configuration.Organizations);
        Assert.Equal("Fabrikam", fabrikam.Name);
        Assert.Equal(Path.Combine(_directory.Path, "certs/mail.fabrikam.key"), fabrikam.Certificates[0].KeyFile);
        Assert.True(fabrikam.InboundConnectors[0].RestrictDomainsToCertificate);
        Assert.Equal(ConnectorType.OnPremises, fabrikam.InboundConnectors[1].ConnectorType);
        Assert.Equal(["192.0.2.0/24", "2001:db8::/48"], fabrikam.InboundConnectors[1].SenderIPAddresses);
        Assert.False(fabrikam.OutboundConnectors[0].UseMxRecord);
        Assert.True(fabrikam.OutboundConnectors[0].AllAcceptedDomains);
        Assert.Equal(TlsLevel.DomainValidation, fabrikam.OutboundConnectors[1].TlsSettings);
        Assert.Equal("*.contoso.example", fabrikam.OutboundConnectors[1].TlsDomain);
        Assert.True(fabrikam.OutboundConnectors[1].UseMxRecord);
    }

    [Fact]
    public void ProductExample_WithoutItsFiles_NamesEachMissingFile()
    {
        using var empty = new TemporaryDirectory();
        var result = ConfigurationLoader.LoadFromJson(ProductExample, empty.Path);

        Assert.False(result.IsValid);
        Assert.Null(result.Configuration);
        Assert.Equal(
            [
                "$.gateway.certificates[0].certificateFile",
                "$.gateway.certificates[0].keyFile",
                "$.gateway.trust.additionalRoots[0]",
                "$.organizations[0].certificates[0].certificateFile",
                "$.organizations[0].certificates[0].keyFile",
            ],
            result.Errors.Select(e => e.Path));
        Assert.All(result.Errors, e => Assert.StartsWith("file not found: " + empty.Path, e.Message, StringComparison.Ordinal));
    }
}

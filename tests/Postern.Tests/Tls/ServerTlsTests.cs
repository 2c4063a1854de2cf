using System.Net.Security;
using System.Security.Authentication;
using Postern.Tls;

namespace Postern.Tests.Tls;

public class ServerTlsTests : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly TestLeaf _gateway;
    private readonly TestLeaf _fabrikam;
    private readonly TestLeaf _wildcard;
    private readonly ServerCertificateStore _store;

    public ServerTlsTests()
    {
        _gateway = _pki.Issue("mx.gateway.example", ["mx.gateway.example"]);
        _fabrikam = _pki.Issue("mail.fabrikam.example", ["mail.fabrikam.example"], rsa: true);
        _wildcard = _pki.Issue("*.contoso.example", ["*.contoso.example"]);
        _store = ServerCertificateStore.Load([
            _pki.WritePem(_gateway, "gateway"),
            _pki.WritePem(_fabrikam, "fabrikam", jsonPath: "$.organizations[0].certificates[0]") with { Owner = "Fabrikam" },
            _pki.WritePem(_wildcard, "contoso", TestPki.KeyFormat.Traditional, keyInCertificateFile: true, jsonPath: "$.organizations[1].certificates[0]"),
        ]);
    }

    public void Dispose()
    {
        _store.Dispose();
        _pki.Dispose();
    }

    [Theory]
    [InlineData("mail.fabrikam.example", "fabrikam")]
    [InlineData("MAIL.Fabrikam.example.", "fabrikam")]
    [InlineData("mx.contoso.example", "wildcard")]
    [InlineData("a.b.contoso.example", "gateway")]
    [InlineData("contoso.example", "gateway")]
    [InlineData("unknown.example", "gateway")]
    [InlineData("mx.gateway.example", "gateway")]
    [InlineData(null, "gateway")]
    [InlineData("", "gateway")]
    public void Select_by_server_name(string? serverName, string expected) =>
        Assert.Equal(Leaf(expected).Certificate.Thumbprint, _store.Select(serverName).Leaf.Thumbprint);

    [Fact]
    public void Exact_name_beats_an_earlier_wildcard_certificate()
    {
        var wildcard = _pki.Issue("*.fabrikam.example", ["*.fabrikam.example"]);
        using var store = ServerCertificateStore.Load([
            _pki.WritePem(wildcard, "wild"),
            _pki.WritePem(_fabrikam, "fabrikam2"),
        ]);
        Assert.Equal(_fabrikam.Certificate.Thumbprint, store.Select("mail.fabrikam.example").Leaf.Thumbprint);
        Assert.Equal(wildcard.Certificate.Thumbprint, store.Select("other.fabrikam.example").Leaf.Thumbprint);
    }

    [Theory]
    [InlineData("mail.fabrikam.example", "fabrikam")]
    [InlineData("mx.contoso.example", "wildcard")]
    [InlineData("unknown.example", "gateway")]
    [InlineData(null, "gateway")]
    public async Task Handshake_presents_the_certificate_for_the_SNI_name_with_its_chain(string? serverName, string expected)
    {
        var factory = new ServerTlsOptionsFactory(_store);
        await using var connection = await TlsLoopback.OpenAsync(factory, serverName, _pki.Root);

        Assert.Equal(Leaf(expected).Certificate.Thumbprint, connection.Presented.Thumbprint);
        // The client trusts only the root and downloads nothing: the chain builds only if the intermediate was sent.
        Assert.Equal(0, (int)(connection.ClientErrors & SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Equal([Leaf(expected).Certificate.Thumbprint, _pki.Intermediate.Thumbprint, _pki.Root.Thumbprint], connection.Chain);
        Assert.True(await connection.PingAsync());
        Assert.Equal(serverName, connection.ServerFacts.ServerName);
        Assert.Null(connection.ServerFacts.PeerCertificateSubject);
    }

    [Fact]
    public async Task Minimum_version_1_3_refuses_a_TLS_1_2_client()
    {
        var factory = new ServerTlsOptionsFactory(_store, minimumVersion: "1.3");
        await Assert.ThrowsAnyAsync<Exception>(() =>
            TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root, SslProtocols.Tls12));

        await using var connection = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root);
        Assert.Equal("TLSv1.3", connection.ServerFacts.Protocol);
    }

    [Fact]
    public async Task Minimum_version_1_2_accepts_a_TLS_1_2_client()
    {
        var factory = new ServerTlsOptionsFactory(_store, minimumVersion: "1.2");
        await using var connection = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root, SslProtocols.Tls12);
        Assert.Equal("TLSv1.2", connection.ServerFacts.Protocol);
        Assert.StartsWith("TLS_ECDHE_ECDSA_WITH_", connection.ServerFacts.CipherSuite);
    }

    [Fact]
    public async Task Configured_cipher_suite_is_negotiated()
    {
        var factory = new ServerTlsOptionsFactory(_store, "1.3", ["TLS_AES_128_GCM_SHA256"]);
        await using var connection = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root);
        Assert.Equal("TLS_AES_128_GCM_SHA256", connection.ServerFacts.CipherSuite);
        Assert.Equal(128, connection.ServerFacts.CipherStrength);
    }

    [Fact]
    public void Unknown_cipher_suite_and_version_are_clear_errors()
    {
        var e = Assert.Throws<TlsSettingsException>(() => new ServerTlsOptionsFactory(_store, "1.2", ["TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"]));
        Assert.Equal("$.gateway.tls.cipherSuites[1]", e.JsonPath);
        Assert.Contains("ECDHE-RSA-AES128-GCM-SHA256", e.Message);

        Assert.Equal(
            ["$.gateway.tls.minimumVersion: unsupported minimum TLS version '1.1'; use \"1.2\" or \"1.3\"",
             "$.gateway.tls.cipherSuites[0]: unknown cipher suite '42'; use an IANA name such as TLS_AES_256_GCM_SHA384 or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
            ServerTlsOptionsFactory.Validate("1.1", ["42", "TLS_CHACHA20_POLY1305_SHA256"]));
    }

    [Fact]
    public async Task Client_certificate_is_requested_and_recorded_but_not_required()
    {
        var factory = new ServerTlsOptionsFactory(_store, requestClientCertificate: true);
        var partner = _pki.Issue("mail.contoso.example", ["mail.contoso.example"], client: true);

        await using (var withCertificate = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root, clientCertificate: partner.Certificate))
        {
            Assert.Equal("CN=mail.contoso.example", withCertificate.ServerFacts.PeerCertificateSubject);
            Assert.Equal(_pki.Intermediate.Subject, withCertificate.ServerFacts.PeerCertificateIssuer);
            Assert.Equal(["mail.contoso.example"], withCertificate.ServerFacts.PeerCertificateNames);
            Assert.Equal(CertificateDescription.Fingerprint(partner.Certificate), withCertificate.ServerFacts.PeerCertificateSha256);
            Assert.True(await withCertificate.PingAsync());
        }

        await using var without = await TlsLoopback.OpenAsync(factory, "mx.gateway.example", _pki.Root);
        Assert.Null(without.ServerFacts.PeerCertificateSubject);
        Assert.True(await without.PingAsync());
    }

    [Fact]
    public void Options_are_built_once_per_certificate()
    {
        var factory = new ServerTlsOptionsFactory(_store);
        Assert.Same(factory.GetOptions("mail.fabrikam.example"), factory.GetOptions("MAIL.fabrikam.example"));
        Assert.Same(factory.GetOptions(null), factory.GetOptions("unknown.example"));
        Assert.NotSame(factory.GetOptions(null), factory.GetOptions("mail.fabrikam.example"));
    }

    private TestLeaf Leaf(string name) => name switch
    {
        "gateway" => _gateway,
        "fabrikam" => _fabrikam,
        "wildcard" => _wildcard,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };
}

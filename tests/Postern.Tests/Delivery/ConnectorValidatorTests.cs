using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Tests.Support;

namespace Postern.Tests.Delivery;

/// <summary>The connector validator against the real Postern server in-process (certificate mx.gateway.test from the test CA).</summary>
public sealed class ConnectorValidatorTests
{
    private const string Name = "To Gateway";

    /// <summary>The test gateway's configuration with one outbound connector to <paramref name="smartHost"/>.</summary>
    internal static PosternConfiguration WithConnector(PosternConfiguration configuration, string smartHost, TlsLevel level, string? tlsDomain,
        IReadOnlyList<string>? pins = null, bool testMode = false)
    {
        var connector = new OutboundConnectorSettings
        {
            Name = Name,
            RecipientDomains = ["fabrikam.test"],
            UseMxRecord = false,
            SmartHosts = [smartHost],
            TlsSettings = level,
            TlsDomain = tlsDomain,
            CertificateFingerprints = pins ?? [],
            TestMode = testMode,
        };
        OrganizationSettings organization = configuration.Organizations[0];
        return configuration with { Organizations = [organization with { OutboundConnectors = [connector] }] };
    }

    private static Task<ConnectorValidationReport> ValidateAsync(PosternConfiguration configuration, string? recipient = null, double timeoutSeconds = 10, string name = "to gateway") =>
        new ConnectorValidator(configuration).ValidateAsync(new ConnectorValidationOptions { Connector = name, Recipient = recipient, Timeout = TimeSpan.FromSeconds(timeoutSeconds) }, CancellationToken.None);

    private static ValidationStep Step(HostValidation host, string name) => Assert.Single(host.Steps, s => s.Name == name);

    [Fact]
    public async Task The_right_name_passes_every_step_with_the_certificate_described()
    {
        await using var gateway = await TestGateway.StartAsync();
        var configuration = WithConnector(gateway.Configuration, $"[127.0.0.1]:{gateway.StartTls.Port}", TlsLevel.DomainValidation, "mx.gateway.test");

        ConnectorValidationReport report = await ValidateAsync(configuration);

        Assert.True(report.Passed, string.Join("\n", report.Hosts.SelectMany(h => h.Steps).Select(s => $"{s.Name} {s.Passed} {s.Detail}")));
        Assert.Equal(Name, report.Connector);
        Assert.Equal("DomainValidation", report.Policy.TlsSettings);
        HostValidation host = Assert.Single(report.Hosts);
        Assert.Equal("127.0.0.1", host.Host);
        Assert.Equal(gateway.StartTls.Port, host.Port);
        Assert.Equal(["127.0.0.1"], host.Addresses);
        Assert.Equal(["resolve", "connect", "banner", "ehlo", "starttls", "certificate"], host.Steps.Select(s => s.Name));
        Assert.Equal("pass", host.Verdict);
        Assert.StartsWith("TLSv1.", host.Tls!.Protocol, StringComparison.Ordinal);
        Assert.Equal("CN=mx.gateway.test", host.Certificate!.Subject);
        Assert.Contains("mx.gateway.test", host.Certificate.Names);
        Assert.Equal("mx.gateway.test", host.Certificate.MatchedBy);
        Assert.True(host.Certificate.ChainTrusted);
        Assert.Equal(3, host.Certificate.Chain.Count);
        Assert.InRange(host.Certificate.DaysLeft, 1, 10_000);
        Assert.Contains("name mx.gateway.test matched by mx.gateway.test", Step(host, "certificate").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_tlsDomain_fails_at_the_certificate_with_names_presented_and_expected()
    {
        await using var gateway = await TestGateway.StartAsync();
        var configuration = WithConnector(gateway.Configuration, $"[127.0.0.1]:{gateway.StartTls.Port}", TlsLevel.DomainValidation, "mail.contoso.test");

        ConnectorValidationReport report = await ValidateAsync(configuration);

        Assert.False(report.Passed);
        HostValidation host = Assert.Single(report.Hosts);
        Assert.Equal("fail", host.Verdict);
        ValidationStep certificate = Step(host, "certificate");
        Assert.False(certificate.Passed);
        Assert.Contains("certificate names [mx.gateway.test, *.gateway.test] do not match mail.contoso.test", certificate.Detail, StringComparison.Ordinal);
        Assert.Contains("connector \"To Gateway\" (DomainValidation)", certificate.Detail, StringComparison.Ordinal);
        Assert.Equal(["mail.contoso.test"], host.Certificate!.ExpectedNames);
        Assert.Null(host.Certificate.MatchedBy);
        Assert.StartsWith("certificate: ", host.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pins_are_checked_as_delivery_checks_them()
    {
        await using var gateway = await TestGateway.StartAsync();
        string smartHost = $"[127.0.0.1]:{gateway.StartTls.Port}";
        ConnectorValidationReport first = await ValidateAsync(WithConnector(gateway.Configuration, smartHost, TlsLevel.EncryptionOnly, null));
        string sha256 = first.Hosts[0].Certificate!.Sha256;

        ConnectorValidationReport pinned = await ValidateAsync(WithConnector(gateway.Configuration, smartHost, TlsLevel.EncryptionOnly, null, pins: [sha256]));
        ConnectorValidationReport wrong = await ValidateAsync(WithConnector(gateway.Configuration, smartHost, TlsLevel.EncryptionOnly, null, pins: [new string('A', 64)]));

        Assert.True(pinned.Passed);
        Assert.Equal(1, pinned.Policy.Pins);
        Assert.False(wrong.Passed);
        Assert.Contains("is not one of the pinned fingerprints", Step(wrong.Hosts[0], "certificate").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_STARTTLS_under_EncryptionOnly_fails_at_the_STARTTLS_step_and_Opportunistic_passes()
    {
        await using var gateway = await TestGateway.StartAsync();
        string plain = $"[127.0.0.1]:{gateway.Plain.Port}";

        ConnectorValidationReport required = await ValidateAsync(WithConnector(gateway.Configuration, plain, TlsLevel.EncryptionOnly, null));
        ConnectorValidationReport opportunistic = await ValidateAsync(WithConnector(gateway.Configuration, plain, TlsLevel.Opportunistic, null));

        HostValidation host = Assert.Single(required.Hosts);
        Assert.False(required.Passed);
        Assert.Equal("starttls", host.Steps[^1].Name);
        Assert.False(host.Steps[^1].Passed);
        Assert.Contains("did not offer STARTTLS", host.Steps[^1].Detail, StringComparison.Ordinal);
        Assert.Null(host.Tls);
        Assert.True(opportunistic.Passed);
        Assert.Contains("plain text allowed", Step(opportunistic.Hosts[0], "starttls").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TestMode_still_reports_the_failure_and_says_delivery_would_proceed()
    {
        await using var gateway = await TestGateway.StartAsync();
        var configuration = WithConnector(gateway.Configuration, $"[127.0.0.1]:{gateway.Plain.Port}", TlsLevel.DomainValidation, "mx.gateway.test", testMode: true);

        ConnectorValidationReport report = await ValidateAsync(configuration);

        Assert.False(report.Passed);
        Assert.True(report.Policy.TestMode);
        Assert.Contains("testMode: delivery would still proceed", report.Hosts[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_closed_port_fails_at_connect()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var configuration = WithConnector(Minimal(), $"[127.0.0.1]:{port}", TlsLevel.Opportunistic, null);

        ConnectorValidationReport report = await ValidateAsync(configuration, timeoutSeconds: 2);

        Assert.False(report.Passed);
        HostValidation host = Assert.Single(report.Hosts);
        Assert.Equal(["resolve", "connect"], host.Steps.Select(s => s.Name));
        Assert.False(host.Steps[1].Passed);
        Assert.Contains($"127.0.0.1:{port}", host.Steps[1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_server_fails_at_the_banner_within_the_timeout()
    {
        // Accepted by the kernel, never answered.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var configuration = WithConnector(Minimal(), $"[127.0.0.1]:{port}", TlsLevel.Opportunistic, null);

        var clock = Stopwatch.StartNew();
        ConnectorValidationReport report = await ValidateAsync(configuration, timeoutSeconds: 1);

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        Assert.False(report.Passed);
        ValidationStep last = report.Hosts[0].Steps[^1];
        Assert.Equal("banner", last.Name);
        Assert.False(last.Passed);
    }

    [Fact]
    public async Task A_test_message_to_the_recipient_reaches_the_server()
    {
        await using var gateway = await TestGateway.StartAsync();
        var configuration = WithConnector(gateway.Configuration, $"[127.0.0.1]:{gateway.StartTls.Port}", TlsLevel.DomainValidation, "mx.gateway.test");

        ConnectorValidationReport report = await ValidateAsync(configuration, recipient: "postmaster@fabrikam.test");

        Assert.True(report.Passed, report.Hosts[0].Reason);
        ValidationStep message = Step(report.Hosts[0], "message");
        Assert.StartsWith("to <postmaster@fabrikam.test>: 250", message.Detail, StringComparison.Ordinal);
        string queueId = Assert.Single(gateway.QueueIds());
        string stored = Encoding.ASCII.GetString(gateway.ReadMessage(queueId));
        Assert.Contains("Subject: Postern connector validation test: connector \"To Gateway\"", stored, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\nPostern connector validation test\r\n", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_MX_connector_resolves_the_recipient_domain_and_an_address_literal_needs_no_DNS()
    {
        await using var gateway = await TestGateway.StartAsync();
        OrganizationSettings organization = gateway.Configuration.Organizations[0];
        var connector = new OutboundConnectorSettings { Name = "By MX", RecipientDomains = ["*.contoso.test"], UseMxRecord = true, TlsSettings = TlsLevel.EncryptionOnly };
        var configuration = gateway.Configuration with { Organizations = [organization with { OutboundConnectors = [connector] }] };

        // "[127.0.0.1]" as the recipient's domain is an address literal: port 25, where nothing listens on loopback in tests.
        ConnectorValidationReport report = await new ConnectorValidator(configuration).ValidateAsync(
            new ConnectorValidationOptions { Connector = "by mx", Recipient = "user@[127.0.0.1]", Timeout = TimeSpan.FromSeconds(2) }, CancellationToken.None);

        HostValidation host = Assert.Single(report.Hosts);
        Assert.Equal(25, host.Port);
        Assert.True(Step(host, "resolve").Passed, Step(host, "resolve").Detail);
    }

    [Fact]
    public async Task An_unknown_connector_names_the_connectors_there_are()
    {
        var configuration = WithConnector(Minimal(), "[127.0.0.1]:25", TlsLevel.Opportunistic, null);

        var error = await Assert.ThrowsAsync<ConnectorValidationException>(() => ValidateAsync(configuration, name: "To Nowhere"));

        Assert.Contains("no outbound connector named \"To Nowhere\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("\"To Gateway\"", error.Message, StringComparison.Ordinal);
    }

    private static PosternConfiguration Minimal() => new()
    {
        Gateway = new GatewaySettings { HostName = "validator.test", Trust = new TrustSettings { UseSystemStore = false } },
        Organizations = [new OrganizationSettings { Name = "Fabrikam", AcceptedDomains = ["fabrikam.test"] }],
    };
}

using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Tests.Delivery;
using Postern.Tests.Receiving;
using Postern.Tests.Support;

namespace Postern.Tests.Logging;

/// <summary>
/// The "TLS connection established" lines as an administrator greps them, from real sessions: a
/// STARTTLS client against an in-process gateway (event 1003), and delivery to a scripted server (event 4100).
/// </summary>
public sealed class TlsEstablishedLogTests
{
    private const int Inbound = 1003;
    private const int Outbound = 4100;
    private const int PolicyRefused = 4101;

    /// <summary>The protocol as Postfix and OpenSSL spell it.</summary>
    private static string ProtocolName(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => throw new InvalidOperationException($"unexpected protocol {protocol}"),
    };

    /// <summary>The clause Postfix adds for the suites .NET negotiates on Linux.</summary>
    private static string Bits(string cipher) =>
        cipher.Contains("AES_128", StringComparison.Ordinal) ? " (128/128 bits)"
        : cipher.Contains("AES_256", StringComparison.Ordinal) || cipher.Contains("CHACHA20", StringComparison.Ordinal) ? " (256/256 bits)"
        : throw new InvalidOperationException($"no bits known for {cipher}");

    /// <summary>What the client's own TLS stream negotiated: "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)".</summary>
    private static string Negotiated(SslStream client)
    {
        string cipher = client.NegotiatedCipherSuite.ToString();
        return $"{ProtocolName(client.SslProtocol)} with cipher {cipher}{Bits(cipher)}";
    }

    private static async Task<RawSmtpClient> StartTlsAsync(TestGateway gateway, string? serverName, X509Certificate2? certificate = null, SslProtocols protocols = SslProtocols.None)
    {
        RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.StartsWith("220", await client.CommandAsync("STARTTLS"));
        await client.StartTlsAsync(serverName, certificate, protocols, certificate is null ? null : [gateway.Authority.Intermediate]);
        // The line is written before the session reads again, so the reply to EHLO comes after it.
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.test"));
        return client;
    }

    [Fact]
    public async Task Inbound_without_a_client_certificate_is_Anonymous_in_Postfix_smtpd_form_with_the_SNI_last()
    {
        var log = new RecordingLoggerProvider();
        using ILoggerFactory loggers = log.CreateFactory();
        await using TestGateway gateway = await TestGateway.StartAsync(loggers: loggers);
        await using RawSmtpClient client = await StartTlsAsync(gateway, "mx.gateway.test");

        RecordedEvent line = await log.WaitForAsync(Inbound);

        Assert.Equal($"Anonymous TLS connection established from unknown[127.0.0.1]: {Negotiated(client.Tls!)} sni=mx.gateway.test", line.Message);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Equal("TlsEstablished", line.EventId.Name);
        Assert.Equal("Anonymous", line.Properties["Trust"]);
        Assert.Equal("unknown", line.Properties["ClientName"]);
        Assert.Equal("127.0.0.1", line.Properties["ClientAddress"]);
        Assert.Equal(ProtocolName(client.Tls!.SslProtocol), line.Properties["Protocol"]);
        Assert.Equal(client.Tls.NegotiatedCipherSuite.ToString(), line.Properties["Cipher"]);
        Assert.Equal("mx.gateway.test", line.Properties["ServerName"]);
        Assert.False(line.Properties.ContainsKey("ClientCertificate"));
    }

    [Fact]
    public async Task Inbound_TLS_1_2_without_SNI_leaves_the_sni_clause_out()
    {
        var log = new RecordingLoggerProvider();
        using ILoggerFactory loggers = log.CreateFactory();
        await using TestGateway gateway = await TestGateway.StartAsync(loggers: loggers);
        await using RawSmtpClient client = await StartTlsAsync(gateway, serverName: null, protocols: SslProtocols.Tls12);

        RecordedEvent line = await log.WaitForAsync(Inbound);

        Assert.StartsWith("Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.2 with cipher TLS_", line.Message, StringComparison.Ordinal);
        Assert.Equal($"Anonymous TLS connection established from unknown[127.0.0.1]: {Negotiated(client.Tls!)}", line.Message);
        Assert.False(line.Properties.ContainsKey("ServerName"));
    }

    [Fact]
    public async Task Inbound_with_a_client_certificate_from_a_trusted_CA_is_Trusted_with_its_subject_quoted_last()
    {
        var log = new RecordingLoggerProvider();
        using ILoggerFactory loggers = log.CreateFactory();
        await using TestGateway gateway = await TestGateway.StartAsync(loggers: loggers);
        X509Certificate2 certificate = gateway.Authority.Issue("client", "mail.contoso.test", ["mail.contoso.test"], server: false, client: true).Certificate;
        await using RawSmtpClient client = await StartTlsAsync(gateway, "mx.gateway.test", certificate);

        RecordedEvent line = await log.WaitForAsync(Inbound);

        Assert.Equal(
            $"Trusted TLS connection established from unknown[127.0.0.1]: {Negotiated(client.Tls!)} sni=mx.gateway.test client_cert=\"{certificate.Subject}\"",
            line.Message);
        Assert.Equal(certificate.Subject, line.Properties["ClientCertificate"]);
    }

    [Fact]
    public async Task Inbound_with_a_client_certificate_from_an_unknown_CA_is_Untrusted()
    {
        var log = new RecordingLoggerProvider();
        using ILoggerFactory loggers = log.CreateFactory();
        await using TestGateway gateway = await TestGateway.StartAsync(loggers: loggers);
        var stranger = new TestCertificateAuthority(gateway.Directory.Combine("stranger"), "Stranger Root");
        X509Certificate2 certificate = stranger.Issue("client", "mail.stranger.test", ["mail.stranger.test"], server: false, client: true).Certificate;
        await using RawSmtpClient client = await StartTlsAsync(gateway, "mx.gateway.test", certificate);

        RecordedEvent line = await log.WaitForAsync(Inbound);

        Assert.StartsWith("Untrusted TLS connection established from unknown[127.0.0.1]: ", line.Message, StringComparison.Ordinal);
        Assert.EndsWith($" client_cert=\"{certificate.Subject}\"", line.Message, StringComparison.Ordinal);
    }

    public static TheoryData<TlsLevel, string?, bool, string> OutboundTrust => new()
    {
        // level, tlsDomain, certificate from the trusted CA, trust word
        { TlsLevel.DomainValidation, "mail.partner.test", true, "Verified" },
        { TlsLevel.CertificateValidation, null, true, "Trusted" },
        // No name is checked below DomainValidation, so a matching name is not "Verified".
        { TlsLevel.Opportunistic, "mail.partner.test", true, "Trusted" },
        { TlsLevel.EncryptionOnly, null, false, "Untrusted" },
        { TlsLevel.Opportunistic, null, false, "Untrusted" },
    };

    [Theory]
    [MemberData(nameof(OutboundTrust))]
    public async Task Outbound_says_Verified_only_when_the_name_was_checked_and_matched(TlsLevel level, string? tlsDomain, bool trustedCa, string trust)
    {
        var log = new RecordingLoggerProvider();
        using ILoggerFactory loggers = log.CreateFactory();
        await using var harness = new DeliveryAgentHarness(logger: loggers.CreateLogger("Postern.Smtp"));
        TestCertificateAuthority ca = trustedCa ? harness.Authority : new TestCertificateAuthority(harness.Combine("stranger"), "Stranger Root");
        await using var server = new FakeSmtpServer(new FakeSmtpOptions
        {
            Certificate = ca.Issue("partner", "mail.partner.test", ["mail.partner.test"]).Certificate,
            Intermediates = [ca.Intermediate],
        });

        DeliveryAttemptResult result = await harness.DeliverAsync(DeliveryAgentHarness.Route(server, level, tlsDomain));

        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        string queueId = Assert.Single(harness.Spool.ListQueueIds());
        string cipher = result.Tls!.CipherSuite;
        RecordedEvent line = await log.WaitForAsync(Outbound);
        Assert.Equal($"{queueId}: {trust} TLS connection established to 127.0.0.1[127.0.0.1]:{server.Port}: {result.Tls.Protocol} with cipher {cipher}{Bits(cipher)}", line.Message);
        Assert.Equal(queueId, line.Properties["QueueId"]);
        Assert.Equal(trust, line.Properties["Trust"]);
        Assert.Equal($"127.0.0.1[127.0.0.1]:{server.Port}", line.Properties["Relay"]);
    }

    [Fact]
    public async Task Outbound_refused_by_policy_logs_how_the_session_was_established_then_the_refusal()
    {
        var log = new RecordingLoggerProvider();
        using ILoggerFactory loggers = log.CreateFactory();
        await using var harness = new DeliveryAgentHarness(logger: loggers.CreateLogger("Postern.Smtp"));
        await using var server = new FakeSmtpServer(new FakeSmtpOptions
        {
            Certificate = harness.Authority.Issue("rogue", "rogue.example", ["rogue.example"]).Certificate,
            Intermediates = [harness.Authority.Intermediate],
        });

        DeliveryAttemptResult result = await harness.DeliverAsync(DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test"));

        Assert.Equal(RecipientOutcomeKind.Deferred, Assert.Single(result.Outcomes).Kind);
        Assert.False(server.ReceivedMail);
        string queueId = Assert.Single(harness.Spool.ListQueueIds());
        string where = $"127.0.0.1[127.0.0.1]:{server.Port}";
        RecordedEvent[] lines = log.Events.Where(e => e.EventId.Id is Outbound or PolicyRefused).ToArray();
        Assert.Equal([Outbound, PolicyRefused], lines.Select(e => e.EventId.Id));
        Assert.StartsWith($"{queueId}: Trusted TLS connection established to {where}: TLSv1.", lines[0].Message, StringComparison.Ordinal);
        Assert.StartsWith($"{queueId}: TLS policy refused {where} (connector \"{DeliveryAgentHarness.Connector}\"): certificate names [rogue.example] do not match mail.partner.test", lines[1].Message, StringComparison.Ordinal);
    }
}

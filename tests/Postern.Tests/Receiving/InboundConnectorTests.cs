using Postern.Configuration;
using Postern.Tests.Support;

namespace Postern.Tests.Receiving;

/// <summary>Partner and OnPremises inbound connectors, against the real server.</summary>
public sealed class InboundConnectorTests
{
    private static Task<TestGateway> StartWithPartnerAsync(InboundConnectorSettings partner) =>
        TestGateway.StartAsync(loopbackRelay: false, customize: c => c with
        {
            Organizations = [c.Organizations[0] with { InboundConnectors = [partner] }],
        });

    private static async Task<RawSmtpClient> GreetAsync(TestGateway gateway, bool tls, IssuedCertificate? certificate = null)
    {
        RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO mail.contoso.test");
        if (tls)
        {
            await client.CommandAsync("STARTTLS");
            await client.StartTlsAsync("mx.gateway.test", certificate?.Certificate, clientChain: certificate is null ? null : [gateway.Authority.Intermediate]);
            await client.CommandAsync("EHLO mail.contoso.test");
        }
        return client;
    }

    [Fact]
    public async Task A_partner_connector_requiring_tls_refuses_plaintext_mail_from_its_domain()
    {
        await using TestGateway gateway = await StartWithPartnerAsync(new InboundConnectorSettings
        {
            Name = "From Contoso",
            ConnectorType = ConnectorType.Partner,
            SenderDomains = ["contoso.test"],
            RequireTls = true,
        });
        await using (RawSmtpClient plain = await GreetAsync(gateway, tls: false))
        {
            Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await plain.CommandAsync("MAIL FROM:<alice@contoso.test>"));
            Assert.StartsWith("250 2.1.0", await plain.CommandAsync("MAIL FROM:<alice@other.test>"));
        }
        await using RawSmtpClient secure = await GreetAsync(gateway, tls: true);
        Assert.StartsWith("250 2.1.0", await secure.CommandAsync("MAIL FROM:<alice@contoso.test>"));
        Assert.StartsWith("250 2.1.5", await secure.CommandAsync("RCPT TO:<bob@fabrikam.test>"));
        await secure.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await secure.CommandAsync("Subject: x\r\n\r\nx\r\n."));
        using var message = gateway.Gateway.Spool.Open(Assert.Single(gateway.QueueIds()));
        Assert.Equal("From Contoso", message.Envelope.Connector);
        Assert.Equal("Fabrikam", message.Envelope.Organization);
    }

    [Fact]
    public async Task Restrict_domains_to_certificate_refuses_the_domain_without_the_named_trusted_certificate()
    {
        await using TestGateway gateway = await StartWithPartnerAsync(new InboundConnectorSettings
        {
            Name = "From Contoso",
            ConnectorType = ConnectorType.Partner,
            SenderDomains = ["contoso.test"],
            RequireTls = true,
            TlsSenderCertificateName = "mail.contoso.test",
            RestrictDomainsToCertificate = true,
        });
        await using (RawSmtpClient anonymous = await GreetAsync(gateway, tls: true))
        {
            string reply = await anonymous.CommandAsync("MAIL FROM:<alice@contoso.test>");
            Assert.StartsWith("550 5.7.1 Connector \"From Contoso\" requires a TLS certificate named mail.contoso.test", reply);
        }
        IssuedCertificate wrong = gateway.Authority.Issue("wrong", "mail.other.test", ["mail.other.test"], server: false, client: true);
        await using (RawSmtpClient impostor = await GreetAsync(gateway, tls: true, wrong))
        {
            string reply = await impostor.CommandAsync("MAIL FROM:<alice@contoso.test>");
            Assert.StartsWith("550 5.7.1", reply);
            Assert.Contains("[mail.other.test]", reply);
        }
        IssuedCertificate right = gateway.Authority.Issue("right", "mail.contoso.test", ["mail.contoso.test"], server: false, client: true);
        await using RawSmtpClient partner = await GreetAsync(gateway, tls: true, right);
        Assert.StartsWith("250 2.1.0", await partner.CommandAsync("MAIL FROM:<alice@contoso.test>"));
    }

    [Fact]
    public async Task An_onpremises_connector_matched_by_trusted_certificate_may_relay_and_an_untrusted_one_may_not()
    {
        await using TestGateway gateway = await TestGateway.StartAsync(loopbackRelay: false, customize: c => c with
        {
            Organizations = [c.Organizations[0] with
            {
                InboundConnectors = [new InboundConnectorSettings { Name = "From Fabrikam servers", ConnectorType = ConnectorType.OnPremises, TlsSenderCertificateName = "*.fabrikam.test" }],
            }],
        });
        IssuedCertificate server = gateway.Authority.Issue("onprem", "exch1.fabrikam.test", ["exch1.fabrikam.test"], server: false, client: true);
        await using (RawSmtpClient onPremises = await GreetAsync(gateway, tls: true, server))
        {
            await onPremises.CommandAsync("MAIL FROM:<amy@fabrikam.test>");
            Assert.StartsWith("250 2.1.5", await onPremises.CommandAsync("RCPT TO:<partner@contoso.test>"));
        }
        var rogue = new TestCertificateAuthority(gateway.Directory.Combine("rogue"), "Rogue CA");
        IssuedCertificate untrusted = rogue.Issue("untrusted", "exch1.fabrikam.test", ["exch1.fabrikam.test"], server: false, client: true);
        await using RawSmtpClient stranger = await GreetAsync(gateway, tls: true, untrusted);
        await stranger.CommandAsync("MAIL FROM:<amy@fabrikam.test>");
        Assert.Equal("550 5.7.1 Relay access denied", await stranger.CommandAsync("RCPT TO:<partner@contoso.test>"));
    }
}

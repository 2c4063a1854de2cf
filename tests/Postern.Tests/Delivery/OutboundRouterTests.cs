using Postern.Configuration;
using Postern.Delivery;

namespace Postern.Tests.Delivery;

public sealed class OutboundRouterTests
{
    private static readonly PosternConfiguration Configuration = new()
    {
        Gateway = new GatewaySettings { DefaultOutbound = new DefaultOutboundSettings { TlsSettings = TlsLevel.Opportunistic } },
        Organizations =
        [
            new OrganizationSettings
            {
                Name = "Fabrikam",
                AcceptedDomains = ["fabrikam.example", "fabrikam.test"],
                OutboundConnectors =
                [
                    new OutboundConnectorSettings
                    {
                        Name = "To Fabrikam servers", ConnectorType = ConnectorType.OnPremises, AllAcceptedDomains = true,
                        UseMxRecord = false, SmartHosts = ["mail.fabrikam.example:2525"], TlsSettings = TlsLevel.DomainValidation, TlsDomain = "mail.fabrikam.example",
                    },
                    new OutboundConnectorSettings
                    {
                        Name = "To Contoso", RecipientDomains = ["contoso.example"], UseMxRecord = true,
                        TlsSettings = TlsLevel.DomainValidation, TlsDomain = "*.contoso.example",
                    },
                    new OutboundConnectorSettings { Name = "Partners", RecipientDomains = ["*.partners.example"], TlsSettings = TlsLevel.EncryptionOnly },
                    new OutboundConnectorSettings { Name = "Deep partner", RecipientDomains = ["*.eu.partners.example"], TlsSettings = TlsLevel.CertificateValidation },
                    new OutboundConnectorSettings { Name = "Disabled", RecipientDomains = ["disabled.example"], Enabled = false, TlsSettings = TlsLevel.DomainValidation },
                    new OutboundConnectorSettings { Name = "Exact beats accepted", RecipientDomains = ["fabrikam.test"], TlsSettings = TlsLevel.EncryptionOnly },
                ],
            },
        ],
    };

    [Theory]
    [InlineData("bob@contoso.example", "To Contoso", TlsLevel.DomainValidation)]
    [InlineData("bob@CONTOSO.example.", "To Contoso", TlsLevel.DomainValidation)]
    [InlineData("bob@sub.contoso.example", null, TlsLevel.Opportunistic)]
    [InlineData("amy@fabrikam.example", "To Fabrikam servers", TlsLevel.DomainValidation)]
    [InlineData("amy@fabrikam.test", "Exact beats accepted", TlsLevel.EncryptionOnly)]
    [InlineData("x@partners.example", "Partners", TlsLevel.EncryptionOnly)]
    [InlineData("x@a.partners.example", "Partners", TlsLevel.EncryptionOnly)]
    [InlineData("x@eu.partners.example", "Deep partner", TlsLevel.CertificateValidation)]
    [InlineData("x@b.eu.partners.example", "Deep partner", TlsLevel.CertificateValidation)]
    [InlineData("x@disabled.example", null, TlsLevel.Opportunistic)]
    [InlineData("x@elsewhere.example", null, TlsLevel.Opportunistic)]
    public void Picks_exact_then_accepted_domains_then_the_most_specific_wildcard_else_the_default(string recipient, string? connector, TlsLevel level)
    {
        DeliveryRoute route = new OutboundRouter(Configuration).Route(recipient);
        Assert.Equal(connector, route.Connector);
        Assert.Equal(level, route.TlsLevel);
    }

    [Fact]
    public void Smart_hosts_and_mx_make_different_destinations()
    {
        var router = new OutboundRouter(Configuration);
        DeliveryRoute smart = router.Route("a@fabrikam.example");
        Assert.Equal(["mail.fabrikam.example:2525"], smart.SmartHosts);
        Assert.Equal("mail.fabrikam.example", smart.TlsDomain);
        DeliveryRoute mx = router.Route("b@contoso.example");
        Assert.Empty(mx.SmartHosts);
        Assert.Equal("contoso.example", mx.Domain);
        Assert.NotEqual(smart.DestinationKey, mx.DestinationKey);
        Assert.Equal(router.Route("c@contoso.example").DestinationKey, mx.DestinationKey);
    }
}

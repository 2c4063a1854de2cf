using Postern.Tls;

namespace Postern.Tests.Tls;

public class CertificateNamesTests
{
    [Theory]
    [InlineData("mail.example.com", "mail.example.com", true)]
    [InlineData("Mail.Example.COM", "mail.example.com", true)]
    [InlineData("mail.example.com", "MAIL.EXAMPLE.COM.", true)]
    [InlineData("mail.example.com.", "mail.example.com", true)]
    [InlineData("mail.example.com", "mail.example.co", false)]
    [InlineData("mail.example.com", "x.mail.example.com", false)]
    [InlineData("*.example.com", "a.example.com", true)]
    [InlineData("*.example.com", "A.Example.Com.", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "a.b.example.com", false)]
    [InlineData("*.example.com", ".example.com", false)]
    [InlineData("f*.example.com", "foo.example.com", false)]
    [InlineData("*oo.example.com", "foo.example.com", false)]
    [InlineData("a.*.example.com", "a.b.example.com", false)]
    [InlineData("*.*.example.com", "a.b.example.com", false)]
    [InlineData("*.com", "example.com", false)]
    [InlineData("*", "example", false)]
    [InlineData("*.example.com", "*.example.com", false)]
    [InlineData("bücher.example", "xn--bcher-kva.example", true)]
    [InlineData("xn--bcher-kva.example", "BÜCHER.example", true)]
    [InlineData("*.bücher.example", "mx.xn--bcher-kva.example", true)]
    [InlineData("*.xn--bcher-kva.example", "mx.bücher.example.", true)]
    [InlineData("", "example.com", false)]
    [InlineData("example.com", "", false)]
    [InlineData("example..com", "example..com", false)]
    public void MatchesHost_follows_RFC_6125(string presented, string host, bool expected) =>
        Assert.Equal(expected, CertificateNames.MatchesHost(presented, host));

    [Theory]
    [InlineData("*.contoso.example", "contoso.example", true)]
    [InlineData("*.contoso.example", "mail.contoso.example", true)]
    [InlineData("*.contoso.example", "a.b.contoso.example", true)]
    [InlineData("*.contoso.example", "MAIL.Contoso.Example.", true)]
    [InlineData("*.contoso.example", "badcontoso.example", false)]
    [InlineData("*.contoso.example", "contoso.example.org", false)]
    [InlineData("mail.contoso.example", "mail.contoso.example", true)]
    [InlineData("mail.contoso.example", "Mail.Contoso.Example.", true)]
    [InlineData("mail.contoso.example", "x.mail.contoso.example", false)]
    [InlineData("mail.contoso.example", "contoso.example", false)]
    [InlineData("*.bücher.example", "mx.xn--bcher-kva.example", true)]
    [InlineData("xn--bcher-kva.example", "bücher.example", true)]
    [InlineData("", "contoso.example", false)]
    public void MatchesPattern_has_EOP_semantics(string pattern, string name, bool expected) =>
        Assert.Equal(expected, CertificateNames.MatchesPattern(pattern, name));

    [Fact]
    public void GetDnsNames_returns_SAN_names_lower_case_and_ignores_the_CN()
    {
        using var pki = new TestPki();
        var leaf = pki.Issue("cn.example", ["Mail.Example.COM", "*.Gateway.Example"]);
        Assert.Equal(["mail.example.com", "*.gateway.example"], CertificateNames.GetDnsNames(leaf.Certificate));
    }

    [Fact]
    public void GetDnsNames_falls_back_to_the_CN_without_SAN_dNSNames()
    {
        using var pki = new TestPki();
        var leaf = pki.Issue("Legacy.Example", []);
        Assert.Equal(["legacy.example"], CertificateNames.GetDnsNames(leaf.Certificate));
    }

    [Fact]
    public void Description_has_upper_hex_SHA256_and_names()
    {
        using var pki = new TestPki();
        var leaf = pki.Issue("mx.example", ["mx.example"]);
        var description = CertificateDescription.Describe(leaf.Certificate);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(leaf.Certificate.RawData)), description.Sha256);
        Assert.Equal("CN=mx.example", description.Subject);
        Assert.Equal(pki.Intermediate.Subject, description.Issuer);
        Assert.Contains("names=[mx.example]", description.ToString());
    }
}

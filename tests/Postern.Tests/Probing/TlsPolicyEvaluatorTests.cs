using System.Security.Cryptography.X509Certificates;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Tests.Support;
using Postern.Tls;

namespace Postern.Tests.Probing;

/// <summary>Each TLS level's decision on chains made for the purpose.</summary>
public sealed class TlsPolicyEvaluatorTests : IDisposable
{
    private readonly TempDirectory _directory = new("postern-tlspolicy");
    private readonly TestCertificateAuthority _ca;
    private readonly TestCertificateAuthority _rogue;
    private readonly TlsPolicyEvaluator _evaluator;

    public TlsPolicyEvaluatorTests()
    {
        _ca = new TestCertificateAuthority(_directory.Combine("ca"));
        _rogue = new TestCertificateAuthority(_directory.Combine("rogue"), "Rogue CA");
        _evaluator = new TlsPolicyEvaluator(new TrustPolicy(false, [_ca.Root]));
    }

    public void Dispose() => _directory.Dispose();

    private TlsHandshakeResult Presented(TestCertificateAuthority ca, IReadOnlyList<string> names, bool withIntermediate = true, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        var leaf = ca.Issue(Guid.NewGuid().ToString("N"), names[0], names, notBefore: notBefore, notAfter: notAfter).Certificate;
        var facts = new TlsSessionFacts { Protocol = "TLSv1.3", CipherSuite = "TLS_AES_256_GCM_SHA384" };
        X509Certificate2[] chain = withIntermediate ? [leaf, ca.Intermediate] : [leaf];
        return new TlsHandshakeResult(facts, chain, 0);
    }

    [Fact]
    public void Right_name_passes_every_level_and_says_through_which_name()
    {
        var tls = Presented(_ca, ["mail.fabrikam.example", "mx.fabrikam.example"]);

        foreach (var level in Enum.GetValues<TlsLevel>())
        {
            Assert.True(_evaluator.Evaluate(level, tls, null, ["mx.fabrikam.example"]).Passed, level.ToString());
        }

        var verdict = _evaluator.Evaluate(TlsLevel.DomainValidation, tls, null, ["mx.fabrikam.example"]);
        Assert.Equal("mx.fabrikam.example", Assert.Single(verdict.Names).MatchedBy);
    }

    [Fact]
    public void Wrong_name_fails_DomainValidation_with_the_names_presented()
    {
        var tls = Presented(_ca, ["mx.other.example", "*.other.example"]);

        var verdict = _evaluator.Evaluate(TlsLevel.DomainValidation, tls, null, ["mail.fabrikam.example"]);

        Assert.False(verdict.Passed);
        Assert.Equal("certificate names [mx.other.example, *.other.example] do not match mail.fabrikam.example", verdict.Reason);
        Assert.Equal("4.7.5", verdict.DeferralStatus);
        Assert.True(_evaluator.Evaluate(TlsLevel.CertificateValidation, tls, null, []).Passed);
    }

    [Theory]
    [InlineData("*.fabrikam.example", "mail.fabrikam.example", true)]
    [InlineData("*.fabrikam.example", "fabrikam.example", false)]
    [InlineData("*.fabrikam.example", "a.b.fabrikam.example", false)]
    [InlineData("MAIL.Fabrikam.Example", "mail.fabrikam.example.", true)]
    [InlineData("f*.fabrikam.example", "fx.fabrikam.example", false)]
    [InlineData("mx1.fabrikam.example", "*.fabrikam.example", true)]
    [InlineData("fabrikam.example", "*.fabrikam.example", true)]
    [InlineData("*.fabrikam.example", "*.fabrikam.example", true)]
    [InlineData("*.mx.fabrikam.example", "*.fabrikam.example", true)]
    [InlineData("*.example", "*.fabrikam.example", false)]
    [InlineData("mx.contoso.example", "*.fabrikam.example", false)]
    public void Certificate_names_match_host_names_and_contract_patterns(string presented, string expected, bool matches) =>
        Assert.Equal(matches, TlsPolicyEvaluator.Matches(presented, expected));

    [Fact]
    public void Wildcard_certificate_passes_for_one_label_below_it()
    {
        var tls = Presented(_ca, ["*.fabrikam.example"]);

        Assert.True(_evaluator.Evaluate(TlsLevel.DomainValidation, tls, null, ["mail.fabrikam.example"]).Passed);
        Assert.False(_evaluator.Evaluate(TlsLevel.DomainValidation, tls, null, ["a.mail.fabrikam.example"]).Passed);
    }

    [Fact]
    public void Expired_certificate_fails_CertificateValidation_with_its_date()
    {
        // The test CA's validity starts a day ago, so the leaf lived for the hours since.
        var notAfter = DateTimeOffset.UtcNow.AddHours(-1);
        var tls = Presented(_ca, ["mail.fabrikam.example"], notBefore: DateTimeOffset.UtcNow.AddHours(-20), notAfter: notAfter);

        var verdict = _evaluator.Evaluate(TlsLevel.CertificateValidation, tls, null, []);

        Assert.False(verdict.Passed);
        Assert.StartsWith($"certificate expired {notAfter.UtcDateTime:yyyy-MM-dd}", verdict.Reason, StringComparison.Ordinal);
        Assert.True(_evaluator.Evaluate(TlsLevel.EncryptionOnly, tls, null, []).Passed);
        Assert.False(_evaluator.Evaluate(TlsLevel.DomainValidation, tls, null, ["mail.fabrikam.example"]).Passed);
    }

    [Fact]
    public void Untrusted_root_names_the_issuer()
    {
        var tls = Presented(_rogue, ["mail.fabrikam.example"]);

        var verdict = _evaluator.Evaluate(TlsLevel.CertificateValidation, tls, null, []);

        Assert.False(verdict.Passed);
        Assert.Contains("chain does not reach a trusted root (issuer \"Rogue CA\")", verdict.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_intermediate_says_the_server_sent_none()
    {
        var tls = Presented(_ca, ["mail.fabrikam.example"], withIntermediate: false);

        var verdict = _evaluator.Evaluate(TlsLevel.CertificateValidation, tls, null, []);

        Assert.False(verdict.Passed);
        Assert.Contains("chain does not reach a trusted root", verdict.Reason, StringComparison.Ordinal);
        Assert.Contains("the server sent no intermediate certificate", verdict.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_TLS_only_None_and_Opportunistic_pass()
    {
        Assert.True(_evaluator.Evaluate(TlsLevel.None, null, "STARTTLS not offered", []).Passed);
        Assert.True(_evaluator.Evaluate(TlsLevel.Opportunistic, null, "STARTTLS not offered", []).Passed);
        foreach (var level in new[] { TlsLevel.EncryptionOnly, TlsLevel.CertificateValidation, TlsLevel.DomainValidation })
        {
            var verdict = _evaluator.Evaluate(level, null, "STARTTLS not offered", ["mx.example"]);
            Assert.False(verdict.Passed);
            Assert.Equal("STARTTLS not offered", verdict.Reason);
            Assert.Equal("4.7.4", verdict.DeferralStatus);
        }
    }
}

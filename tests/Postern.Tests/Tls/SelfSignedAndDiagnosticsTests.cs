using Postern.Tls;

namespace Postern.Tests.Tls;

public class SelfSignedAndDiagnosticsTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void Creates_a_self_signed_certificate_with_a_private_key_file()
    {
        var directory = _pki.PathOf("var");
        var source = SelfSignedCertificate.EnsureExists(directory, "mx.gateway.example");

        Assert.Equal(Path.Combine(directory, "selfsigned.pem"), source.CertificateFile);
        Assert.Equal(Path.Combine(directory, "selfsigned.key"), source.KeyFile);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(source.KeyFile!));
        }

        var loaded = CertificateLoader.Load(source);
        Assert.Equal(["mx.gateway.example"], loaded.DnsNames);
        Assert.Equal("CN=mx.gateway.example", loaded.Leaf.Subject);
        Assert.Equal("1.2.840.10045.2.1", loaded.Leaf.GetKeyAlgorithm());
        Assert.Contains(loaded.Leaf.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>(),
            oid => oid.Value == "1.3.6.1.5.5.7.3.1");
        Assert.InRange(loaded.Leaf.NotAfter.ToUniversalTime(), DateTime.UtcNow.AddDays(360), DateTime.UtcNow.AddDays(366));
    }

    [Fact]
    public void Reuses_a_fitting_certificate_and_replaces_one_for_another_host_or_near_expiry()
    {
        var directory = _pki.PathOf("var");
        var source = SelfSignedCertificate.EnsureExists(directory, "mx.gateway.example");
        var first = CertificateLoader.Load(source).Leaf.Thumbprint;

        Assert.Equal(first, CertificateLoader.Load(SelfSignedCertificate.EnsureExists(directory, "MX.gateway.example.")).Leaf.Thumbprint);

        var other = CertificateLoader.Load(SelfSignedCertificate.EnsureExists(directory, "smtp.gateway.example"));
        Assert.NotEqual(first, other.Leaf.Thumbprint);
        Assert.Equal(["smtp.gateway.example"], other.DnsNames);

        // Put a certificate expiring in 10 days in its place.
        var expiring = _pki.Issue("smtp.gateway.example", ["smtp.gateway.example"], notAfter: DateTimeOffset.UtcNow.AddDays(10));
        File.WriteAllText(source.CertificateFile, expiring.Certificate.ExportCertificatePem());
        File.WriteAllText(source.KeyFile!, TestPki.KeyPem(expiring.Key, TestPki.KeyFormat.Pkcs8));
        var renewed = CertificateLoader.Load(SelfSignedCertificate.EnsureExists(directory, "smtp.gateway.example"));
        Assert.NotEqual(expiring.Certificate.Thumbprint, renewed.Leaf.Thumbprint);
        Assert.True(renewed.Leaf.NotAfter.ToUniversalTime() > DateTime.UtcNow.AddDays(300));
    }

    [Fact]
    public void Diagnostics_warn_about_host_name_and_expiry()
    {
        var gateway = _pki.Issue("mx.gateway.example", ["mx.gateway.example", "*.gateway.example"]);
        var expiring = _pki.Issue("mail.fabrikam.example", ["mail.fabrikam.example"], notAfter: DateTimeOffset.UtcNow.AddDays(20));
        var fabrikam = _pki.WritePem(expiring, "fabrikam", jsonPath: "$.organizations[0].certificates[0]") with { Owner = "Fabrikam" };
        using var store = ServerCertificateStore.Load([_pki.WritePem(gateway, "gateway"), fabrikam]);
        var logger = new ListLogger();

        Assert.Empty(CertificateDiagnostics.Check(store, "smtp.gateway.example", DateTimeOffset.UtcNow.AddDays(-30)));

        var warnings = CertificateDiagnostics.Check(store, "mail.elsewhere.example", DateTimeOffset.UtcNow, logger);
        Assert.Equal(2, warnings.Count);
        Assert.Contains("mail.elsewhere.example is not a name of the default certificate", warnings[0]);
        Assert.Contains("Fabrikam", warnings[1]);
        Assert.Contains(fabrikam.CertificateFile, warnings[1]);
        Assert.Contains(expiring.Certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd"), warnings[1]);
        Assert.Equal(2, logger.Entries.Count(e => e.EventId == 2010));
    }
}

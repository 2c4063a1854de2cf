using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Tests.Support;

/// <summary>An in-process test CA (root → intermediate → leaves) writing PEM files to a directory.</summary>
internal sealed class TestCertificateAuthority
{
    private readonly string _directory;

    public TestCertificateAuthority(string directory, string name = "Postern Test Root")
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest($"CN={name}", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        Root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest($"CN={name} Intermediate", intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using X509Certificate2 signed = intermediateRequest.Create(Root, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(4), Serial());
        Intermediate = signed.CopyWithPrivateKey(intermediateKey);

        RootFile = Path.Combine(directory, "root.pem");
        File.WriteAllText(RootFile, Root.ExportCertificatePem() + "\n");
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public string RootFile { get; }

    /// <summary>Issues a leaf; writes NAME.pem (leaf + intermediate) and NAME.key; returns the leaf with its key.</summary>
    public IssuedCertificate Issue(string fileName, string commonName, IEnumerable<string> dnsNames, bool server = true, bool client = false,
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool rsa = false)
    {
        AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = rsa
            ? new CertificateRequest($"CN={commonName}", (RSA)key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={commonName}", (ECDsa)key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (string name in dnsNames) san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var usages = new OidCollection();
        if (server) usages.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        if (client) usages.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Intermediate, true, false));
        using X509Certificate2 issued = request.Create(Intermediate, notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(200), Serial());
        X509Certificate2 withKey = rsa ? issued.CopyWithPrivateKey((RSA)key) : issued.CopyWithPrivateKey((ECDsa)key);

        string certificateFile = Path.Combine(_directory, fileName + ".pem");
        string keyFile = Path.Combine(_directory, fileName + ".key");
        File.WriteAllText(certificateFile, issued.ExportCertificatePem() + "\n" + Intermediate.ExportCertificatePem() + "\n");
        File.WriteAllText(keyFile, (rsa ? ((RSA)key).ExportPkcs8PrivateKeyPem() : ((ECDsa)key).ExportPkcs8PrivateKeyPem()) + "\n");
        key.Dispose();
        // Ephemeral keys cannot be used for TLS client authentication on every platform; a PKCS#12 round trip makes it usable.
        X509Certificate2 usable = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        withKey.Dispose();
        return new IssuedCertificate(usable, certificateFile, keyFile);
    }

    private static byte[] Serial() => RandomNumberGenerator.GetBytes(16);
}

internal sealed record IssuedCertificate(X509Certificate2 Certificate, string CertificateFile, string KeyFile);

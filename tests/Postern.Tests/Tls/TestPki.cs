using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Postern.Tls;

namespace Postern.Tests.Tls;

/// <summary>A leaf certificate with its private key.</summary>
public sealed record TestLeaf(X509Certificate2 Certificate, AsymmetricAlgorithm Key);

/// <summary>
/// A small PKI made at test time: root CA → intermediate (pathlen 0) → leaves, written as PEM or
/// PKCS#12 into a temporary directory that is removed afterwards.
/// </summary>
public sealed class TestPki : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    // RSA key generation is slow on a small machine; leaves share one RSA key.
    private static readonly Lazy<RSA> SharedRsaKey = new(() => RSA.Create(2048));
    private readonly ECDsa _intermediateKey;

    public TestPki()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("postern-tls-").FullName;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Postern Test Root, O=Postern Tests", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        Root = rootRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-400), DateTimeOffset.UtcNow.AddYears(5));

        _intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest("CN=Postern Test Intermediate, O=Postern Tests", _intermediateKey, HashAlgorithmName.SHA256);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using var intermediatePublic = intermediateRequest.Create(Root, DateTimeOffset.UtcNow.AddDays(-300), DateTimeOffset.UtcNow.AddYears(4), Serial());
        Intermediate = intermediatePublic.CopyWithPrivateKey(_intermediateKey);
    }

    public string Directory { get; }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>Issues a leaf from the intermediate.</summary>
    public TestLeaf Issue(string commonName, string[] dnsNames, bool rsa = false, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool client = false)
    {
        AsymmetricAlgorithm key = rsa ? SharedRsaKey.Value : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA r
            ? new CertificateRequest($"CN={commonName}", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={commonName}", (ECDsa)key, HashAlgorithmName.SHA256);
        if (dnsNames.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in dnsNames)
            {
                san.AddDnsName(name);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([client ? ClientAuth : ServerAuth], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Intermediate, true, false));
        using var issued = request.Create(Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(_intermediateKey), notBefore ?? DateTimeOffset.UtcNow.AddHours(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(90), Serial());
        var withKey = key is RSA rsaKey ? issued.CopyWithPrivateKey(rsaKey) : issued.CopyWithPrivateKey((ECDsa)key);
        return new TestLeaf(withKey, key);
    }

    public enum KeyFormat { Pkcs8, Traditional, EncryptedPkcs8 }

    /// <summary>Writes name.pem (leaf, then the intermediate unless told otherwise) and name.key, or the key into name.pem.</summary>
    public CertificateSource WritePem(TestLeaf leaf, string name, KeyFormat format = KeyFormat.Pkcs8, bool keyInCertificateFile = false, bool includeChain = true, string? password = null, string jsonPath = "$.gateway.certificates[0]")
    {
        var certificateFile = PathOf(name + ".pem");
        var keyPem = KeyPem(leaf.Key, format, password);
        var certificatePem = leaf.Certificate.ExportCertificatePem() + "\n" + (includeChain ? Intermediate.ExportCertificatePem() + "\n" : "");
        if (keyInCertificateFile)
        {
            File.WriteAllText(certificateFile, certificatePem + keyPem);
            return new CertificateSource(certificateFile, null, password, "gateway", jsonPath);
        }

        var keyFile = PathOf(name + ".key");
        File.WriteAllText(certificateFile, certificatePem);
        File.WriteAllText(keyFile, keyPem);
        return new CertificateSource(certificateFile, keyFile, password, "gateway", jsonPath);
    }

    /// <summary>Writes name.pfx holding the leaf with its key and the intermediate.</summary>
    public CertificateSource WritePfx(TestLeaf leaf, string name, string password, string extension = ".pfx")
    {
        var file = PathOf(name + extension);
        var collection = new X509Certificate2Collection { leaf.Certificate, Intermediate };
        File.WriteAllBytes(file, collection.Export(X509ContentType.Pkcs12, password)!);
        return new CertificateSource(file, null, password, "Fabrikam", "$.organizations[0].certificates[0]");
    }

    public static string KeyPem(AsymmetricAlgorithm key, KeyFormat format, string? password = null) => (format, key) switch
    {
        (KeyFormat.Pkcs8, _) => key.ExportPkcs8PrivateKeyPem() + "\n",
        (KeyFormat.Traditional, RSA rsa) => rsa.ExportRSAPrivateKeyPem() + "\n",
        (KeyFormat.Traditional, ECDsa ec) => ec.ExportECPrivateKeyPem() + "\n",
        (KeyFormat.EncryptedPkcs8, _) => key.ExportEncryptedPkcs8PrivateKeyPem(password,
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)) + "\n",
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static byte[] Serial() => RandomNumberGenerator.GetBytes(12);
}

/// <summary>Collects log entries for assertions.</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<(int EventId, LogLevel Level, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((eventId.Id, logLevel, formatter(state, exception) + (exception is null ? "" : " | " + exception.Message)));

    public bool Has(int eventId) => Entries.Any(e => e.EventId == eventId);
}

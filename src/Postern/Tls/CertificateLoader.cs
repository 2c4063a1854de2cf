using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Postern.Tls;

/// <summary>
/// Reads a <see cref="CertificateSource"/> into a <see cref="ServerCertificate"/>: PEM (leaf then
/// intermediates; the key in the same file or in <c>keyFile</c>) or PKCS#12, RSA or ECDSA. Every
/// failure is a <see cref="CertificateLoadException"/> naming the JSON path.
/// </summary>
public static class CertificateLoader
{
    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string EcOid = "1.2.840.10045.2.1";

    /// <summary>Loads and checks the source against the current time.</summary>
    public static ServerCertificate Load(CertificateSource source) => Load(source, DateTimeOffset.UtcNow);

    /// <summary>Loads and checks the source; the certificate must be valid at <paramref name="now"/>.</summary>
    public static ServerCertificate Load(CertificateSource source, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(source);
        var certificatePath = source.JsonPath + ".certificateFile";
        if (string.IsNullOrWhiteSpace(source.CertificateFile))
        {
            throw new CertificateLoadException(certificatePath, "no certificate file is configured");
        }

        var certificateBytes = ReadFile(source.CertificateFile, certificatePath, "certificate");
        var (leaf, intermediates) = LooksLikePem(certificateBytes)
            ? LoadPem(source, certificateBytes)
            : LoadPkcs12(source, certificateBytes);

        var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var notBefore = new DateTimeOffset(leaf.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        if (notAfter < now)
        {
            throw new CertificateLoadException(certificatePath,
                $"the certificate '{leaf.Subject}' in '{source.CertificateFile}' expired on {notAfter:u}");
        }

        if (notBefore > now)
        {
            throw new CertificateLoadException(certificatePath,
                $"the certificate '{leaf.Subject}' in '{source.CertificateFile}' is not valid before {notBefore:u}");
        }

        SslStreamCertificateContext context;
        try
        {
            // Offline: the chain comes from the file, never from AIA downloads or revocation lookups.
            context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
        }
        catch (Exception e) when (e is CryptographicException or NotSupportedException or ArgumentException)
        {
            throw new CertificateLoadException(certificatePath, $"cannot use the certificate in '{source.CertificateFile}': {e.Message}", e);
        }

        return new ServerCertificate(source, leaf, intermediates, context, CertificateNames.GetDnsNames(leaf));
    }

    private static byte[] ReadFile(string file, string jsonPath, string what)
    {
        if (Directory.Exists(file))
        {
            throw new CertificateLoadException(jsonPath, $"the {what} file '{file}' is a directory");
        }

        try
        {
            return File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CertificateLoadException(jsonPath, $"the {what} file '{file}' does not exist", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new CertificateLoadException(jsonPath, $"cannot read the {what} file '{file}': {e.Message}", e);
        }
    }

    private static bool LooksLikePem(byte[] bytes) =>
        bytes.AsSpan().IndexOf("-----BEGIN "u8) >= 0;

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadPem(CertificateSource source, byte[] certificateBytes)
    {
        var certificatePath = source.JsonPath + ".certificateFile";
        var certificateText = Encoding.UTF8.GetString(certificateBytes);
        var certificates = new X509Certificate2Collection();
        var keysInCertificateFile = new List<string>();
        foreach (var (label, pem, base64) in EnumeratePem(certificateText))
        {
            if (label == "CERTIFICATE")
            {
                try
                {
                    certificates.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(base64)));
                }
                catch (Exception e) when (e is CryptographicException or FormatException)
                {
                    throw new CertificateLoadException(certificatePath,
                        $"certificate #{certificates.Count + 1} in '{source.CertificateFile}' is malformed: {e.Message}", e);
                }
            }
            else if (IsKeyLabel(label))
            {
                keysInCertificateFile.Add(pem);
            }
        }

        if (certificates.Count == 0)
        {
            throw new CertificateLoadException(certificatePath, $"the file '{source.CertificateFile}' holds no PEM certificate");
        }

        var leaf = certificates[0];
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < certificates.Count; i++)
        {
            intermediates.Add(certificates[i]);
        }

        string keyFile;
        string keyPath;
        string keyPem;
        if (!string.IsNullOrWhiteSpace(source.KeyFile))
        {
            keyFile = source.KeyFile;
            keyPath = source.JsonPath + ".keyFile";
            var keyText = Encoding.UTF8.GetString(ReadFile(keyFile, keyPath, "key"));
            RejectLegacyEncryption(keyText, keyFile, keyPath);
            keyPem = EnumeratePem(keyText).Where(p => IsKeyLabel(p.Label)).Select(p => p.Pem).FirstOrDefault()
                ?? throw new CertificateLoadException(keyPath, $"the key file '{keyFile}' holds no PEM private key");
        }
        else
        {
            keyFile = source.CertificateFile;
            keyPath = certificatePath;
            RejectLegacyEncryption(certificateText, keyFile, keyPath);
            keyPem = keysInCertificateFile.FirstOrDefault()
                ?? throw new CertificateLoadException(source.JsonPath,
                    $"no private key: '{source.CertificateFile}' holds none and no keyFile is configured");
        }

        return (AttachKey(leaf, keyPem, source.Password, keyFile, keyPath), intermediates);
    }

    private static X509Certificate2 AttachKey(X509Certificate2 leaf, string keyPem, string? password, string keyFile, string keyPath)
    {
        var encrypted = keyPem.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);
        if (encrypted && string.IsNullOrEmpty(password))
        {
            throw new CertificateLoadException(keyPath, $"the private key in '{keyFile}' is encrypted and no password is configured");
        }

        var algorithm = leaf.GetKeyAlgorithm();
        AsymmetricAlgorithm key = algorithm switch
        {
            RsaOid => RSA.Create(),
            EcOid => ECDsa.Create(),
            _ => throw new CertificateLoadException(keyPath,
                $"the certificate '{leaf.Subject}' has a key of type {algorithm}; only RSA and ECDSA are supported"),
        };

        using (key)
        {
            try
            {
                if (encrypted)
                {
                    key.ImportFromEncryptedPem(keyPem, password);
                }
                else
                {
                    key.ImportFromPem(keyPem);
                }
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                var kind = algorithm == RsaOid ? "RSA" : "ECDSA";
                var reason = encrypted
                    ? "cannot be decrypted with the configured password, or is not " + kind
                    : "is malformed or is not an " + kind + " key like the certificate's";
                throw new CertificateLoadException(keyPath, $"the private key in '{keyFile}' {reason}: {e.Message}", e);
            }

            if (!key.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(leaf.PublicKey.ExportSubjectPublicKeyInfo()))
            {
                throw new CertificateLoadException(keyPath,
                    $"the private key in '{keyFile}' does not match the certificate '{leaf.Subject}'");
            }

            try
            {
                return key switch
                {
                    RSA rsa => leaf.CopyWithPrivateKey(rsa),
                    ECDsa ecdsa => leaf.CopyWithPrivateKey(ecdsa),
                    _ => throw new UnreachableException(),
                };
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                throw new CertificateLoadException(keyPath,
                    $"the private key in '{keyFile}' does not match the certificate '{leaf.Subject}': {e.Message}", e);
            }
        }
    }

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadPkcs12(CertificateSource source, byte[] bytes)
    {
        var certificatePath = source.JsonPath + ".certificateFile";
        if (!string.IsNullOrWhiteSpace(source.KeyFile))
        {
            throw new CertificateLoadException(source.JsonPath + ".keyFile",
                $"'{source.CertificateFile}' is not PEM, so it is read as PKCS#12, which carries its own key; remove keyFile");
        }

        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12Collection(bytes, source.Password, X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (CryptographicException e)
        {
            throw new CertificateLoadException(certificatePath,
                $"'{source.CertificateFile}' is neither PEM nor a PKCS#12 file that opens with the configured password: {e.Message}", e);
        }

        if (all.Count == 0)
        {
            throw new CertificateLoadException(certificatePath, $"the PKCS#12 file '{source.CertificateFile}' holds no certificate");
        }

        var leaf = all.FirstOrDefault(c => c.HasPrivateKey)
            ?? throw new CertificateLoadException(source.JsonPath, $"no private key: the PKCS#12 file '{source.CertificateFile}' holds none");
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (!ReferenceEquals(certificate, leaf))
            {
                intermediates.Add(certificate);
            }
        }

        return (leaf, intermediates);
    }

    private static void RejectLegacyEncryption(string text, string file, string jsonPath)
    {
        if (text.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal))
        {
            throw new CertificateLoadException(jsonPath,
                $"the private key in '{file}' uses the legacy OpenSSL encryption; convert it to encrypted PKCS#8 (openssl pkcs8 -topk8)");
        }
    }

    private static bool IsKeyLabel(string label) =>
        label is "PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY" or "ENCRYPTED PRIVATE KEY";

    private static IEnumerable<(string Label, string Pem, string Base64)> EnumeratePem(string text)
    {
        var offset = 0;
        while (offset < text.Length && PemEncoding.TryFind(text.AsSpan(offset), out var fields))
        {
            var length = text.Length - offset;
            var entry = (
                text.Substring(offset + fields.Label.Start.GetOffset(length), fields.Label.GetOffsetAndLength(length).Length),
                text.Substring(offset + fields.Location.Start.GetOffset(length), fields.Location.GetOffsetAndLength(length).Length),
                text.Substring(offset + fields.Base64Data.Start.GetOffset(length), fields.Base64Data.GetOffsetAndLength(length).Length));
            offset += fields.Location.End.GetOffset(length);
            yield return entry;
        }
    }
}

using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Probing;

/// <summary>Describes a certificate for the probe report: names, validity, key, signature, fingerprints.</summary>
public static class CertificateInspector
{
    /// <summary>Describes the certificate at <paramref name="position"/> of a presented chain.</summary>
    public static CertificateReport Describe(X509Certificate2 certificate, int position, DateTimeOffset now, TimeSpan expiryWarning)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var (keyType, keySize, curve) = Key(certificate);
        var dnsNames = new List<string>();
        var ipAddresses = new List<string>();
        foreach (var san in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
        {
            dnsNames.AddRange(san.EnumerateDnsNames());
            ipAddresses.AddRange(san.EnumerateIPAddresses().Select(a => a.ToString()));
        }

        var basic = certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        return new CertificateReport
        {
            Position = position,
            Subject = certificate.Subject,
            Issuer = certificate.Issuer,
            DnsNames = dnsNames,
            IpAddresses = ipAddresses,
            SerialNumber = SerialNumber(certificate),
            NotBefore = notBefore,
            NotAfter = notAfter,
            DaysLeft = (int)Math.Floor((notAfter - now).TotalDays),
            Expired = notAfter < now || notBefore > now,
            ExpiresSoon = notAfter >= now && notAfter - now < expiryWarning,
            KeyType = keyType,
            KeySize = keySize,
            Curve = curve,
            SignatureAlgorithm = SignatureAlgorithmName(certificate.SignatureAlgorithm.Value),
            SelfIssued = certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData),
            IsCertificateAuthority = basic?.CertificateAuthority ?? false,
            Sha256 = Convert.ToHexString(SHA256.HashData(certificate.RawDataMemory.Span)),
            PublicKeySha256 = Convert.ToHexString(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo())),
            Pem = certificate.ExportCertificatePem(),
        };
    }

    /// <summary>
    /// The serial number as the integer it is, in upper-case hex as openssl prints it: without the
    /// leading zero byte DER adds to keep a positive number positive.
    /// </summary>
    public static string SerialNumber(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var hex = certificate.SerialNumber;
        while (hex.Length > 2 && hex.StartsWith("00", StringComparison.Ordinal))
        {
            hex = hex[2..];
        }

        return hex;
    }

    /// <summary>Upper-case hex with a colon between bytes, as openssl and posttls-finger print fingerprints.</summary>
    public static string WithColons(string hex) =>
        string.Join(':', Enumerable.Range(0, hex.Length / 2).Select(i => hex.Substring(i * 2, 2)));

    private static (string Type, int? Size, string? Curve) Key(X509Certificate2 certificate)
    {
        switch (certificate.PublicKey.Oid.Value)
        {
            case "1.2.840.113549.1.1.1":
                using (var rsa = certificate.GetRSAPublicKey())
                {
                    return ("RSA", rsa?.KeySize, null);
                }

            case "1.2.840.10045.2.1":
                using (var ec = certificate.GetECDsaPublicKey())
                {
                    string? curve = null;
                    if (ec is not null)
                    {
                        var parameters = ec.ExportParameters(false);
                        curve = CurveName(parameters.Curve.Oid);
                    }

                    return ("EC", ec?.KeySize, curve);
                }

            case "1.3.101.112":
                return ("Ed25519", 256, null);
            case "1.3.101.113":
                return ("Ed448", 456, null);
            case "1.2.840.10040.4.1":
                return ("DSA", null, null);
            default:
                return (certificate.PublicKey.Oid.FriendlyName ?? certificate.PublicKey.Oid.Value ?? "unknown", null, null);
        }
    }

    private static string? CurveName(Oid? oid) => oid?.Value switch
    {
        "1.2.840.10045.3.1.7" => "P-256",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        _ => oid?.FriendlyName ?? oid?.Value,
    };

    /// <summary>The OpenSSL name of a signature algorithm OID.</summary>
    public static string SignatureAlgorithmName(string? oid) => oid switch
    {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        null => "unknown",
        _ => oid,
    };

    /// <summary>Whether the bytes are a DER certificate .NET can read (a server may send one that is not).</summary>
    public static bool TryLoad(ReadOnlySpan<byte> der, out X509Certificate2? certificate, out string? error)
    {
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(der);
            error = null;
            return true;
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException)
        {
            certificate = null;
            error = e.Message;
            return false;
        }
    }
}

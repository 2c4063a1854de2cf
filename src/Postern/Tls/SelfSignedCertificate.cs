using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Postern.Tls;

/// <summary>
/// The certificate <c>postern serve</c> presents when none is configured: self-signed for the host
/// name, kept in the data directory and renewed when it no longer fits.
/// </summary>
public static class SelfSignedCertificate
{
    /// <summary>File name of the certificate within the directory.</summary>
    public const string CertificateFileName = "selfsigned.pem";

    /// <summary>File name of the private key within the directory.</summary>
    public const string KeyFileName = "selfsigned.key";

    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);

    /// <summary>
    /// Reuses <c>selfsigned.pem</c> and <c>selfsigned.key</c> in <paramref name="directory"/> when they
    /// load, name <paramref name="hostName"/> and are not expiring within 30 days; otherwise writes a
    /// new ECDSA P-256 certificate for it (valid one year; key file mode 0600). Returns the source.
    /// </summary>
    public static CertificateSource EnsureExists(string directory, string hostName, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentException.ThrowIfNullOrWhiteSpace(hostName);
        logger ??= NullLogger.Instance;
        var now = DateTimeOffset.UtcNow;
        var certificateFile = Path.GetFullPath(Path.Combine(directory, CertificateFileName));
        var keyFile = Path.GetFullPath(Path.Combine(directory, KeyFileName));
        var source = new CertificateSource(certificateFile, keyFile, null, "gateway", "$.gateway.certificates");

        if (File.Exists(certificateFile) && File.Exists(keyFile))
        {
            var reason = WhyNotReusable(source, hostName, now);
            if (reason is null)
            {
                var existing = CertificateLoader.Load(source, now).Leaf;
                logger.SelfSignedReused(certificateFile, hostName, existing.NotAfter.ToUniversalTime());
                return source;
            }

            logger.SelfSignedReplaced(certificateFile, reason);
        }

        Directory.CreateDirectory(directory);
        var (certificatePem, keyPem, notAfter) = Create(hostName, now);
        // Key first: a watcher reloading in between sees a mismatch and keeps the old pair.
        WriteAtomically(keyFile, keyPem, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteAtomically(certificateFile, certificatePem,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        logger.SelfSignedCreated(certificateFile, hostName, notAfter.UtcDateTime);
        return source;
    }

    private static string? WhyNotReusable(CertificateSource source, string hostName, DateTimeOffset now)
    {
        X509Certificate2 leaf;
        try
        {
            leaf = CertificateLoader.Load(source, now).Leaf;
        }
        catch (CertificateLoadException e)
        {
            return e.Message;
        }

        var names = IPAddress.TryParse(hostName.TrimEnd('.'), out var address)
            ? leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Any(san => san.EnumerateIPAddresses().Contains(address))
            : CertificateNames.GetDnsNames(leaf).Any(name => CertificateNames.MatchesHost(name, hostName));
        if (!names)
        {
            return $"it does not name {hostName}";
        }

        return leaf.NotAfter.ToUniversalTime() < (now + RenewBefore).UtcDateTime
            ? $"it expires on {leaf.NotAfter.ToUniversalTime():u}"
            : null;
    }

    private static (string CertificatePem, string KeyPem, DateTimeOffset NotAfter) Create(string hostName, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var name = hostName.TrimEnd('.');
        var isAddress = IPAddress.TryParse(name, out var address);
        var dnsName = isAddress ? name : CertificateNames.Normalize(name) ?? name;
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(dnsName);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (isAddress)
        {
            san.AddIpAddress(address!);
        }
        else
        {
            san.AddDnsName(dnsName);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // Back-date a little for peers whose clocks run behind.
        var notBefore = now.AddHours(-1);
        var notAfter = now + Lifetime;
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        return (certificate.ExportCertificatePem() + "\n", key.ExportPkcs8PrivateKeyPem() + "\n", notAfter);
    }

    private static void WriteAtomically(string path, string contents, UnixFileMode mode)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(contents);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}

using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Tls;

/// <summary>What identifies a certificate in logs, traces and Received headers.</summary>
/// <param name="Subject">Subject distinguished name.</param>
/// <param name="Issuer">Issuer distinguished name.</param>
/// <param name="Sha256">SHA-256 of the DER encoding, upper-case hex without separators.</param>
/// <param name="DnsNames">SAN dNSNames (or the CN when there are none), lower-case.</param>
/// <param name="NotBefore">Start of validity (UTC).</param>
/// <param name="NotAfter">End of validity (UTC).</param>
public sealed record CertificateDescription(string Subject, string Issuer, string Sha256, IReadOnlyList<string> DnsNames, DateTimeOffset NotBefore, DateTimeOffset NotAfter)
{
    /// <summary>Describes a certificate.</summary>
    public static CertificateDescription Describe(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificateDescription(
            certificate.Subject,
            certificate.Issuer,
            Fingerprint(certificate),
            CertificateNames.GetDnsNames(certificate),
            new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero),
            new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero));
    }

    /// <summary>SHA-256 fingerprint of the certificate, upper-case hex without separators.</summary>
    public static string Fingerprint(X509Certificate2 certificate) =>
        certificate.GetCertHashString(HashAlgorithmName.SHA256);

    /// <summary>One line: subject, issuer, names, expiry and fingerprint.</summary>
    public override string ToString() =>
        $"subject=\"{Subject}\" issuer=\"{Issuer}\" names=[{string.Join(", ", DnsNames)}] notAfter={NotAfter:u} sha256={Sha256}";
}

/// <summary>Builds <see cref="TlsSessionFacts"/> from a connection.</summary>
public static class TlsFacts
{
    /// <summary>
    /// The facts of an authenticated <paramref name="stream"/>: protocol, cipher suite, the peer's
    /// certificate (the client's on the server side, the server's on the client side).
    /// </summary>
    /// <param name="serverName">The SNI name; when null, the name the stream knows (on the server side, the one the client sent).</param>
    public static TlsSessionFacts From(SslStream stream, string? serverName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.IsAuthenticated)
        {
            throw new InvalidOperationException("The TLS handshake has not completed.");
        }

        var suite = TlsSessionFacts.CipherSuiteName(stream.NegotiatedCipherSuite);
        var peer = stream.RemoteCertificate switch
        {
            null => null,
            X509Certificate2 certificate => certificate,
            var other => X509CertificateLoader.LoadCertificate(other.GetRawCertData()),
        };
        var description = peer is null ? null : CertificateDescription.Describe(peer);
        var name = serverName ?? (string.IsNullOrEmpty(stream.TargetHostName) ? null : stream.TargetHostName);
        return new TlsSessionFacts
        {
            Protocol = TlsSessionFacts.ProtocolName(stream.SslProtocol),
            CipherSuite = suite,
            CipherStrength = CipherStrength(suite),
            ServerName = name,
            PeerCertificateSubject = description?.Subject,
            PeerCertificateIssuer = description?.Issuer,
            PeerCertificateSha256 = description?.Sha256,
            PeerCertificateNames = description?.DnsNames ?? [],
        };
    }

    /// <summary>Symmetric key bits read from an IANA suite name, when recognizable.</summary>
    internal static int? CipherStrength(string suite) => suite switch
    {
        _ when suite.Contains("AES_256", StringComparison.Ordinal) => 256,
        _ when suite.Contains("CHACHA20", StringComparison.Ordinal) => 256,
        _ when suite.Contains("CAMELLIA_256", StringComparison.Ordinal) => 256,
        _ when suite.Contains("ARIA_256", StringComparison.Ordinal) => 256,
        _ when suite.Contains("AES_128", StringComparison.Ordinal) => 128,
        _ when suite.Contains("CAMELLIA_128", StringComparison.Ordinal) => 128,
        _ when suite.Contains("ARIA_128", StringComparison.Ordinal) => 128,
        _ when suite.Contains("3DES", StringComparison.Ordinal) => 112,
        _ => null,
    };
}

using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Postern.Tls;

namespace Postern.Delivery;

/// <summary>How the client negotiates TLS with a server. Build once and reuse for every connection.</summary>
public sealed record SmtpTlsClientOptions
{
    /// <summary>The name sent as SNI; null or empty sends none (an IP address is never sent).</summary>
    public string? ServerName { get; init; }

    /// <summary>Protocols offered; <see cref="SslProtocols.None"/> lets the system choose (TLS 1.2 and 1.3).</summary>
    public SslProtocols Protocols { get; init; } = SslProtocols.None;

    /// <summary>Cipher suites offered, or null for the system's list (Linux: OpenSSL).</summary>
    public CipherSuitesPolicy? CipherSuites { get; init; }

    /// <summary>Presented when the server asks: the certificate with its key and the intermediates to send.</summary>
    public SslStreamCertificateContext? ClientCertificate { get; init; }

    /// <summary>Builds the certificate context from a certificate with its key and the intermediates to send with it.</summary>
    public static SslStreamCertificateContext ClientCertificateContext(X509Certificate2 certificateWithKey, X509Certificate2Collection? intermediates) =>
        SslStreamCertificateContext.Create(certificateWithKey, intermediates, offline: true);

    internal SslClientAuthenticationOptions ToSslOptions(RemoteCertificateValidationCallback validation)
    {
        var chainPolicy = new X509ChainPolicy
        {
            // The policy (TlsPolicyEvaluator) builds the chain after the handshake; never fetch anything here.
            DisableCertificateDownloads = true,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        return new SslClientAuthenticationOptions
        {
            TargetHost = string.IsNullOrEmpty(ServerName) ? "" : ServerName,
            EnabledSslProtocols = Protocols,
            CipherSuitesPolicy = CipherSuites,
            ClientCertificateContext = ClientCertificate,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            CertificateChainPolicy = chainPolicy,
            RemoteCertificateValidationCallback = validation,
            AllowRenegotiation = false,
        };
    }
}

/// <summary>The result of a completed TLS handshake as the client saw it.</summary>
/// <param name="Facts">Protocol, cipher suite, SNI and the leaf's identity.</param>
/// <param name="Presented">The certificates the server sent, leaf first, in the order sent (empty when none).</param>
/// <param name="DiscardedBytesAfterStartTls">Bytes the server sent after its 220 to STARTTLS, before the handshake, which were thrown away.</param>
public sealed record TlsHandshakeResult(TlsSessionFacts Facts, IReadOnlyList<X509Certificate2> Presented, int DiscardedBytesAfterStartTls)
{
    /// <summary>The server's certificate, or null when it sent none.</summary>
    public X509Certificate2? Leaf => Presented.Count > 0 ? Presented[0] : null;

    /// <summary>What the server sent after its leaf.</summary>
    public X509Certificate2Collection Intermediates => [.. Presented.Skip(1)];
}

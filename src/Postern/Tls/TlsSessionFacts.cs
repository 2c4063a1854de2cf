using System.Net.Security;
using System.Security.Authentication;

namespace Postern.Tls;

/// <summary>What was negotiated on one TLS connection, kept with the session and the envelope.</summary>
public sealed record TlsSessionFacts
{
    /// <summary>"TLSv1.2", "TLSv1.3" (the spelling of Postfix and OpenSSL).</summary>
    public required string Protocol { get; init; }
    /// <summary>IANA name, e.g. TLS_AES_256_GCM_SHA384.</summary>
    public required string CipherSuite { get; init; }
    /// <summary>Symmetric key bits of the cipher, when known.</summary>
    public int? CipherStrength { get; init; }
    /// <summary>SNI sent by the client (server side) or sent to the server (client side).</summary>
    public string? ServerName { get; init; }
    /// <summary>Subject of the peer's certificate, when it presented one.</summary>
    public string? PeerCertificateSubject { get; init; }
    /// <summary>Issuer of the peer's certificate.</summary>
    public string? PeerCertificateIssuer { get; init; }
    /// <summary>SHA-256 of the peer certificate (DER), upper-case hex without separators.</summary>
    public string? PeerCertificateSha256 { get; init; }
    /// <summary>DNS names of the peer certificate (SAN dNSNames, else the CN).</summary>
    public IReadOnlyList<string> PeerCertificateNames { get; init; } = [];

    public static string ProtocolName(SslProtocols protocol) => protocol switch
    {
#pragma warning disable SYSLIB0039 // naming old protocols is not using them
        SslProtocols.Tls => "TLSv1",
        SslProtocols.Tls11 => "TLSv1.1",
#pragma warning restore SYSLIB0039
        SslProtocols.Tls12 => "TLSv1.2",
        SslProtocols.Tls13 => "TLSv1.3",
        _ => protocol.ToString(),
    };

    public static string CipherSuiteName(TlsCipherSuite suite) => suite.ToString();
}

using System.Net;
using System.Net.Security;
using Postern.Tls;

namespace Postern.Probing;

/// <summary>How to probe: the target, the names to expect, TLS settings, and which scans to run.</summary>
public sealed record ProbeOptions
{
    /// <summary>What to probe.</summary>
    public required ProbeTarget Target { get; init; }

    /// <summary>TLS at once after connecting (port 465) instead of STARTTLS.</summary>
    public bool ImplicitTls { get; init; }

    /// <summary>SNI to send; null sends the host name (the MX host, or the host given).</summary>
    public string? ServerName { get; init; }

    /// <summary>Send no SNI at all.</summary>
    public bool NoServerName { get; init; }

    /// <summary>The name in EHLO.</summary>
    public string ClientName { get; init; } = "postern-probe.invalid";

    /// <summary>Bound on each step (connect, banner, EHLO, STARTTLS, handshake) and on each DNS query.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Roots to trust, with or without the system store.</summary>
    public required TrustPolicy Trust { get; init; }

    /// <summary>Presented when a server asks for a client certificate.</summary>
    public SslStreamCertificateContext? ClientCertificate { get; init; }

    /// <summary>Names DomainValidation must accept (host names or contract patterns <c>*.x</c>).</summary>
    public IReadOnlyList<string> ExpectedNames { get; init; } = [];

    /// <summary>DNS server for MX, A and AAAA; null uses the system's.</summary>
    public IPEndPoint? DnsServer { get; init; }

    /// <summary>Try TLS 1.0, 1.1, 1.2 and 1.3 one at a time.</summary>
    public bool ScanVersions { get; init; }

    /// <summary>Try cipher suites one at a time.</summary>
    public bool ScanCipherSuites { get; init; }

    /// <summary>Certificates ending sooner than this are flagged.</summary>
    public TimeSpan ExpiryWarning { get; init; } = CertificateDiagnostics.ExpiryWarningPeriod;
}

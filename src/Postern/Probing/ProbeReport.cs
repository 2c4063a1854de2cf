using System.Text.Json.Serialization;

namespace Postern.Probing;

// The JSON contract of `postern probe --json` (docs/probe-schema.json). Add fields freely; renaming,
// removing or changing the type of one is a new SchemaVersion.

/// <summary>Everything one probe found; serialized as the stable JSON of <c>postern probe --json</c>.</summary>
public sealed record ProbeReport
{
    /// <summary>The version of this JSON contract.</summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary>Always <see cref="CurrentSchemaVersion"/>.</summary>
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>The target as given.</summary>
    public required string Target { get; init; }

    /// <summary>"domain" (MX lookup) or "host".</summary>
    public required string TargetKind { get; init; }

    /// <summary>When the probe started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>STARTTLS or implicit TLS.</summary>
    public required bool ImplicitTls { get; init; }

    /// <summary>The names given with --expect.</summary>
    public required IReadOnlyList<string> ExpectedNames { get; init; }

    /// <summary>MX lookup, for a domain target.</summary>
    public DnsReport? Dns { get; init; }

    /// <summary>Each host probed, in MX preference order.</summary>
    public required IReadOnlyList<HostReport> Hosts { get; init; }

    /// <summary>"pass", "policyFailed" or "error".</summary>
    public required string Outcome { get; init; }

    /// <summary>0 every check passed, 1 a policy check failed, 2 unreachable or a protocol error.</summary>
    public required int ExitCode { get; init; }
}

/// <summary>The MX lookup of a domain target.</summary>
public sealed record DnsReport
{
    /// <summary>The DNS server asked, or null for the system's.</summary>
    public string? Server { get; init; }

    /// <summary>MX records by preference.</summary>
    public required IReadOnlyList<MxRecordReport> Mx { get; init; }

    /// <summary>No MX records: the domain itself is the mail host (RFC 5321 5.1).</summary>
    public bool ImplicitMx { get; init; }

    /// <summary>Why the lookup failed, when it did.</summary>
    public string? Error { get; init; }
}

/// <summary>One MX record.</summary>
public sealed record MxRecordReport(int Preference, string Host);

/// <summary>One mail host: how it was reached, what it said, its TLS and what each TLS level would decide.</summary>
public sealed record HostReport
{
    /// <summary>The host name (or address) probed.</summary>
    public required string Host { get; init; }

    /// <summary>The TCP port.</summary>
    public required int Port { get; init; }

    /// <summary>The MX preference, for a domain target.</summary>
    public int? MxPreference { get; init; }

    /// <summary>Addresses in the order tried.</summary>
    public IReadOnlyList<AddressReport> Addresses { get; init; } = [];

    /// <summary>The greeting.</summary>
    public ReplyReport? Banner { get; init; }

    /// <summary>EHLO (or HELO) before TLS; absent with implicit TLS.</summary>
    public HelloReport? Hello { get; init; }

    /// <summary>What happened with STARTTLS (or implicit TLS).</summary>
    public StartTlsReport? StartTls { get; init; }

    /// <summary>The TLS session, when one was established.</summary>
    public TlsReport? Tls { get; init; }

    /// <summary>EHLO under TLS.</summary>
    public HelloReport? HelloAfterTls { get; init; }

    /// <summary>The certificates as the server sent them, leaf first.</summary>
    public IReadOnlyList<CertificateReport> PresentedChain { get; init; } = [];

    /// <summary>The chain built to a trusted root, or why it could not be.</summary>
    public ChainReport? BuiltChain { get; init; }

    /// <summary>Each name checked against the leaf (host name, domain, --expect).</summary>
    public IReadOnlyList<NameReport> Names { get; init; } = [];

    /// <summary>Every TLS level's decision (DomainValidation once per name).</summary>
    public IReadOnlyList<VerdictReport> Verdicts { get; init; } = [];

    /// <summary>TLS versions tried one at a time (with --versions).</summary>
    public IReadOnlyList<VersionReport>? Versions { get; init; }

    /// <summary>Cipher suites tried one at a time (with --ciphers).</summary>
    public CipherScanReport? CipherSuites { get; init; }

    /// <summary>Things to look at that fail no check (a certificate expiring soon, bytes injected after STARTTLS).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Why the probe of this host stopped: unreachable, timed out, protocol violation, handshake failure.</summary>
    public ErrorReport? Error { get; init; }

    /// <summary>"pass", "policyFailed" or "error".</summary>
    public required string Status { get; init; }

    /// <summary>How long this host took, in milliseconds.</summary>
    public long ElapsedMilliseconds { get; init; }
}

/// <summary>One address of a host and what connecting to it gave.</summary>
/// <param name="Address">The IP address.</param>
/// <param name="Outcome">"connected", "failed" or "notTried".</param>
/// <param name="Error">Why it failed.</param>
public sealed record AddressReport(string Address, string Outcome, string? Error = null);

/// <summary>An SMTP reply.</summary>
/// <param name="Code">Three-digit code.</param>
/// <param name="EnhancedStatus">RFC 3463 code, when given.</param>
/// <param name="Lines">Text of each line.</param>
public sealed record ReplyReport(int Code, string? EnhancedStatus, IReadOnlyList<string> Lines);

/// <summary>EHLO or HELO and what the server offered.</summary>
public sealed record HelloReport
{
    /// <summary>"EHLO" or "HELO" (after EHLO was refused).</summary>
    public required string Command { get; init; }

    /// <summary>The reply.</summary>
    public required ReplyReport Reply { get; init; }

    /// <summary>Keyword lines as offered ("SIZE 10240000", "STARTTLS", ...).</summary>
    public IReadOnlyList<string> Extensions { get; init; } = [];

    /// <summary>RFC 2920.</summary>
    public bool Pipelining { get; init; }

    /// <summary>RFC 3207.</summary>
    public bool StartTls { get; init; }

    /// <summary>RFC 6152.</summary>
    public bool EightBitMime { get; init; }

    /// <summary>RFC 6531.</summary>
    public bool SmtpUtf8 { get; init; }

    /// <summary>RFC 3030.</summary>
    public bool Chunking { get; init; }

    /// <summary>RFC 3461.</summary>
    public bool Dsn { get; init; }

    /// <summary>RFC 2034.</summary>
    public bool EnhancedStatusCodes { get; init; }

    /// <summary>RFC 1870: SIZE offered.</summary>
    public bool Size { get; init; }

    /// <summary>RFC 1870: the declared limit in bytes, when declared.</summary>
    public long? SizeLimit { get; init; }

    /// <summary>RFC 4954 mechanisms.</summary>
    public IReadOnlyList<string> Auth { get; init; } = [];
}

/// <summary>The STARTTLS step.</summary>
public sealed record StartTlsReport
{
    /// <summary>"established", "notOffered", "refused" (a non-220 reply), "failed" (handshake) or "implicit".</summary>
    public required string Outcome { get; init; }

    /// <summary>Whether EHLO offered STARTTLS.</summary>
    public bool Offered { get; init; }

    /// <summary>The reply to STARTTLS.</summary>
    public ReplyReport? Reply { get; init; }

    /// <summary>Bytes the server sent after its 220 and before the handshake; discarded (never read as replies).</summary>
    public int DiscardedBytes { get; init; }

    /// <summary>Why TLS was not established.</summary>
    public string? Error { get; init; }
}

/// <summary>The negotiated TLS session.</summary>
public sealed record TlsReport
{
    /// <summary>"TLSv1.2", "TLSv1.3" (OpenSSL and Postfix spelling).</summary>
    public required string Protocol { get; init; }

    /// <summary>IANA name, e.g. TLS_AES_256_GCM_SHA384.</summary>
    public required string CipherSuite { get; init; }

    /// <summary>OpenSSL name of the suite (as Postfix and openssl print it), when known.</summary>
    public string? CipherSuiteOpenSsl { get; init; }

    /// <summary>Symmetric key bits.</summary>
    public int? CipherBits { get; init; }

    /// <summary>The SNI sent, or null when none.</summary>
    public string? ServerName { get; init; }
}

/// <summary>One certificate as presented.</summary>
public sealed record CertificateReport
{
    /// <summary>0 for the leaf, then in the order sent.</summary>
    public required int Position { get; init; }

    /// <summary>Subject DN.</summary>
    public required string Subject { get; init; }

    /// <summary>Issuer DN.</summary>
    public required string Issuer { get; init; }

    /// <summary>SAN dNSNames.</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>SAN iPAddresses.</summary>
    public IReadOnlyList<string> IpAddresses { get; init; } = [];

    /// <summary>Serial number, upper-case hex of the integer (as openssl prints it).</summary>
    public required string SerialNumber { get; init; }

    /// <summary>Start of validity.</summary>
    public required DateTimeOffset NotBefore { get; init; }

    /// <summary>End of validity.</summary>
    public required DateTimeOffset NotAfter { get; init; }

    /// <summary>Whole days until NotAfter (negative once expired).</summary>
    public required int DaysLeft { get; init; }

    /// <summary>Expired or not yet valid.</summary>
    public bool Expired { get; init; }

    /// <summary>Ends within the warning period (30 days).</summary>
    public bool ExpiresSoon { get; init; }

    /// <summary>"RSA", "EC", "Ed25519", ...</summary>
    public required string KeyType { get; init; }

    /// <summary>Key size in bits.</summary>
    public int? KeySize { get; init; }

    /// <summary>Named curve for EC keys (e.g. "P-256").</summary>
    public string? Curve { get; init; }

    /// <summary>e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256".</summary>
    public required string SignatureAlgorithm { get; init; }

    /// <summary>Whether subject and issuer are the same.</summary>
    public bool SelfIssued { get; init; }

    /// <summary>Basic constraints cA.</summary>
    public bool IsCertificateAuthority { get; init; }

    /// <summary>SHA-256 of the DER certificate, upper-case hex.</summary>
    public required string Sha256 { get; init; }

    /// <summary>SHA-256 of the DER SubjectPublicKeyInfo, upper-case hex (what DANE 3 1 1 and pinning use).</summary>
    public required string PublicKeySha256 { get; init; }

    /// <summary>The certificate in PEM.</summary>
    public required string Pem { get; init; }
}

/// <summary>The chain built from the leaf to a trusted root under the trust policy.</summary>
/// <param name="Trusted">Whether it reaches a trusted root, in date, for serverAuth.</param>
/// <param name="Problem">Why not.</param>
/// <param name="Subjects">Subjects from the leaf up, as far as it was built.</param>
public sealed record ChainReport(bool Trusted, string? Problem, IReadOnlyList<string> Subjects);

/// <summary>A name checked against the leaf.</summary>
/// <param name="Name">The name or <c>*.x</c> pattern.</param>
/// <param name="Source">"host" (the MX host or the host given), "domain", "serverName" or "expect".</param>
/// <param name="MatchedBy">The certificate name that matched, or null.</param>
public sealed record NameReport(string Name, string Source, string? MatchedBy);

/// <summary>What one TLS level would decide.</summary>
/// <param name="Level">"EncryptionOnly", "CertificateValidation" or "DomainValidation".</param>
/// <param name="Name">For DomainValidation: the name required.</param>
/// <param name="Passed">Whether the level accepts this host.</param>
/// <param name="Reason">Why not.</param>
/// <param name="IsCheck">Whether this verdict counts toward the exit code.</param>
public sealed record VerdictReport(string Level, string? Name, bool Passed, string? Reason, bool IsCheck);

/// <summary>One TLS version tried alone.</summary>
/// <param name="Protocol">"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3".</param>
/// <param name="Result">"accepted", "rejected", "notTestableHere" (this machine's TLS library refuses it) or "error".</param>
/// <param name="CipherSuite">The suite negotiated when accepted.</param>
/// <param name="Detail">Why rejected or not testable.</param>
public sealed record VersionReport(string Protocol, string Result, string? CipherSuite, string? Detail);

/// <summary>The cipher suite scan.</summary>
/// <param name="Tried">How many suites were tried.</param>
/// <param name="Accepted">The suites the server accepted, with their protocol.</param>
/// <param name="NotTestableHere">Suites this machine's TLS library would not offer.</param>
/// <param name="Error">Why the scan stopped, when it did.</param>
public sealed record CipherScanReport(int Tried, IReadOnlyList<AcceptedSuiteReport> Accepted, IReadOnlyList<string> NotTestableHere, string? Error);

/// <summary>An accepted suite.</summary>
/// <param name="Protocol">The version it was tried with.</param>
/// <param name="CipherSuite">IANA name.</param>
public sealed record AcceptedSuiteReport(string Protocol, string CipherSuite);

/// <summary>Why a host's probe stopped.</summary>
/// <param name="Stage">"dns", "connect", "banner", "hello", "startTls", "tlsHandshake", "command", "quit", or "internal" (an unexpected failure of the probe itself).</param>
/// <param name="Message">What happened, for a person.</param>
/// <param name="Timeout">Whether a step ran out of time.</param>
public sealed record ErrorReport(string Stage, string Message, bool Timeout = false);

/// <summary>Source-generated JSON for <see cref="ProbeReport"/>.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ProbeReport))]
public sealed partial class ProbeJsonContext : JsonSerializerContext;

namespace Postern.Configuration;

// The JSON contract of PRODUCT.md as plain immutable data. Keys are matched case-insensitively;
// an unknown key is an error (see ConfigurationLoader). Defaults here are the defaults a user gets
// when a key is absent.

/// <summary>The whole configuration file.</summary>
public sealed record PosternConfiguration
{
    public GatewaySettings Gateway { get; init; } = new();
    public IReadOnlyList<OrganizationSettings> Organizations { get; init; } = [];
}

public sealed record GatewaySettings
{
    /// <summary>Banner and EHLO name; also the name the default certificate should carry. Default: the machine's name.</summary>
    public string? HostName { get; init; }
    public string DataDirectory { get; init; } = "var";
    public IReadOnlyList<ListenerSettings> Listeners { get; init; } = [];
    public IReadOnlyList<CertificateSettings> Certificates { get; init; } = [];
    public TlsSettings Tls { get; init; } = new();
    public TrustSettings Trust { get; init; } = new();
    public DnsSettings Dns { get; init; } = new();
    public DefaultOutboundSettings DefaultOutbound { get; init; } = new();
    public AdminSettings? Admin { get; init; }
    public LimitSettings Limits { get; init; } = new();
    public QueueSettings Queue { get; init; } = new();
    public TraceSettings Trace { get; init; } = new();
}

public enum ListenerSecurity { StartTls, ImplicitTls, None }

public sealed record ListenerSettings
{
    /// <summary>"address:port", e.g. "0.0.0.0:25" or "[::]:25".</summary>
    public string Endpoint { get; init; } = "";
    public ListenerSecurity Security { get; init; } = ListenerSecurity.StartTls;
    public bool RequestClientCertificate { get; init; }
}

public sealed record CertificateSettings
{
    /// <summary>PEM (certificate then its chain) or PFX/PKCS#12 (".pfx", ".p12").</summary>
    public string CertificateFile { get; init; } = "";
    /// <summary>PEM private key; absent when the key is in <see cref="CertificateFile"/> (PEM or PFX).</summary>
    public string? KeyFile { get; init; }
    /// <summary>Password of a PFX file or an encrypted PEM key.</summary>
    public string? Password { get; init; }
}

public sealed record TlsSettings
{
    /// <summary>"1.2" or "1.3".</summary>
    public string MinimumVersion { get; init; } = "1.2";
    /// <summary>IANA names (TLS_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); empty: the platform's defaults.</summary>
    public IReadOnlyList<string> CipherSuites { get; init; } = [];
}

public sealed record TrustSettings
{
    public bool UseSystemStore { get; init; } = true;
    public IReadOnlyList<string> AdditionalRoots { get; init; } = [];
}

public sealed record DnsSettings
{
    /// <summary>"host" or "host:port"; empty: the system's resolvers.</summary>
    public IReadOnlyList<string> Servers { get; init; } = [];
    public int TimeoutSeconds { get; init; } = 5;
}

public enum TlsLevel { None, Opportunistic, EncryptionOnly, CertificateValidation, DomainValidation }

public sealed record DefaultOutboundSettings
{
    public TlsLevel TlsSettings { get; init; } = TlsLevel.Opportunistic;
    /// <summary>Opportunistic only: after a failed TLS handshake, deliver in plain text on a new connection (logged).</summary>
    public bool PlaintextFallback { get; init; }
    /// <summary>Local address outbound connections are made from (as Postfix smtp_bind_address); null: the system chooses.</summary>
    public string? SourceAddress { get; init; }
}

public sealed record AdminSettings
{
    /// <summary>"127.0.0.1:8025", "[::1]:8025" or "unix:/path/to/socket"; loopback or a Unix socket only.</summary>
    public string Endpoint { get; init; } = "127.0.0.1:8025";
}

/// <summary>Limits on everything a peer controls. Defaults follow Postfix where Postfix has one.</summary>
public sealed record LimitSettings
{
    /// <summary>RFC 5321 4.5.3.1.4 allows 512 octets; extensions (SIZE, DSN, SMTPUTF8) need more. Postfix line_length_limit is 2048.</summary>
    public int MaxCommandLineLength { get; init; } = 2048;
    /// <summary>As Postfix smtpd_recipient_limit.</summary>
    public int MaxRecipientsPerMessage { get; init; } = 1000;
    /// <summary>As Postfix message_size_limit (10 240 000).</summary>
    public long MaxMessageSize { get; init; } = 10_240_000;
    /// <summary>As Postfix smtpd_timeout (300 s): how long to wait for the next command or data chunk.</summary>
    public int CommandTimeoutSeconds { get; init; } = 300;
    /// <summary>Whole-session bound, so a trickling peer cannot hold a slot forever.</summary>
    public int SessionTimeoutSeconds { get; init; } = 3600;
    /// <summary>TLS handshake bound.</summary>
    public int TlsHandshakeTimeoutSeconds { get; init; } = 60;
    /// <summary>As Postfix default_process_limit (100).</summary>
    public int MaxConnections { get; init; } = 100;
    /// <summary>As Postfix smtpd_client_connection_count_limit (50).</summary>
    public int MaxConnectionsPerClient { get; init; } = 50;
    /// <summary>As Postfix smtpd_hard_error_limit (20).</summary>
    public int MaxBadCommands { get; init; } = 20;
    /// <summary>Messages accepted in one session; 0 means unlimited.</summary>
    public int MaxMessagesPerSession { get; init; } = 0;
    /// <summary>How long a graceful shutdown lets sessions finish.</summary>
    public int ShutdownGraceSeconds { get; init; } = 30;
    /// <summary>How long to listen for a client that talks before the greeting (Postfix postscreen's pregreet test).</summary>
    public int GreetingDelayMilliseconds { get; init; } = 0;
}

public sealed record QueueSettings
{
    /// <summary>True: accept into the spool and deliver nothing until set back to false (like Postfix's defer_transports for everything).</summary>
    public bool Hold { get; init; }
    /// <summary>Delivery attempts at once, all destinations (as Postfix default_process_limit).</summary>
    public int MaxConcurrentDeliveries { get; init; } = 100;
    /// <summary>Delivery attempts at once to one destination (as Postfix default_destination_concurrency_limit).</summary>
    public int MaxConcurrentDeliveriesPerDestination { get; init; } = 20;
    public int LifetimeHours { get; init; } = 48;
    public int DelayWarningHours { get; init; } = 4;
    public int MinimumBackoffSeconds { get; init; } = 300;
    public int MaximumBackoffSeconds { get; init; } = 3600;
}

/// <summary>The message trace store, <c>{dataDirectory}/trace/trace.db</c> (what <c>postern trace</c> reads).</summary>
public sealed record TraceSettings
{
    public bool Enabled { get; init; } = true;
    /// <summary>Days a message's trace is kept after its last event.</summary>
    public int RetentionDays { get; init; } = 30;
    /// <summary>Bound on the database size; the oldest messages go first when it is reached.</summary>
    public int MaxSizeMegabytes { get; init; } = 1024;
}

public sealed record OrganizationSettings
{
    public string Name { get; init; } = "";
    public IReadOnlyList<string> AcceptedDomains { get; init; } = [];
    public IReadOnlyList<CertificateSettings> Certificates { get; init; } = [];
    public IReadOnlyList<InboundConnectorSettings> InboundConnectors { get; init; } = [];
    public IReadOnlyList<OutboundConnectorSettings> OutboundConnectors { get; init; } = [];
}

public enum ConnectorType { Partner, OnPremises }

public sealed record InboundConnectorSettings
{
    public string Name { get; init; } = "";
    public ConnectorType ConnectorType { get; init; } = ConnectorType.Partner;
    public bool Enabled { get; init; } = true;
    public IReadOnlyList<string> SenderDomains { get; init; } = [];
    public IReadOnlyList<string> SenderIPAddresses { get; init; } = [];
    public bool RequireTls { get; init; }
    public string? TlsSenderCertificateName { get; init; }
    public bool RestrictDomainsToCertificate { get; init; }
    public bool RestrictDomainsToIPAddresses { get; init; }
}

public sealed record OutboundConnectorSettings
{
    public string Name { get; init; } = "";
    public ConnectorType ConnectorType { get; init; } = ConnectorType.Partner;
    public bool Enabled { get; init; } = true;
    public IReadOnlyList<string> RecipientDomains { get; init; } = [];
    public bool AllAcceptedDomains { get; init; }
    /// <summary>Null: MX delivery unless smart hosts are given.</summary>
    public bool? UseMxRecord { get; init; }
    public IReadOnlyList<string> SmartHosts { get; init; } = [];
    public TlsLevel TlsSettings { get; init; } = TlsLevel.Opportunistic;
    public string? TlsDomain { get; init; }
    public IReadOnlyList<string> CertificateFingerprints { get; init; } = [];
    public IReadOnlyList<string> TrustedRoots { get; init; } = [];
    public CertificateSettings? ClientCertificate { get; init; }
    public bool TestMode { get; init; }
    /// <summary>Opportunistic only: after a failed TLS handshake, deliver in plain text on a new connection (logged).</summary>
    public bool PlaintextFallback { get; init; }
}

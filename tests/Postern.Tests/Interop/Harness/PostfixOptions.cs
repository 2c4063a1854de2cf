namespace Postern.Tests.Interop;

/// <summary>How a throwaway Postfix instance receives, stores and relays mail.</summary>
/// <param name="Name">Short name; used in paths, <c>syslog_name</c> and the default host name.</param>
/// <param name="ListenAddress">IPv4 loopback address the instance listens on and sends from.</param>
public sealed record PostfixOptions(string Name, string ListenAddress)
{
    /// <summary>SMTP port the instance listens on.</summary>
    public int Port { get; init; } = 25;

    /// <summary><c>myhostname</c>; defaults to <c>{Name}.postfix.test</c>.</summary>
    public string? Hostname { get; init; }

    /// <summary>Domains delivered into the instance's Maildir (every recipient lands in one box).</summary>
    public IReadOnlyList<string> MaildirDomains { get; init; } = [];

    /// <summary><c>relayhost</c> for every other domain, e.g. <c>[127.0.0.5]:25</c>.</summary>
    public string? RelayHost { get; init; }

    /// <summary>TLS of the receiving side (smtpd); null for none.</summary>
    public PostfixServerTls? ServerTls { get; init; }

    /// <summary>TLS of the sending side (smtp); null leaves Postfix's default (no TLS).</summary>
    public PostfixClientTls? ClientTls { get; init; }

    /// <summary>Further main.cf parameters; they override what the options above write.</summary>
    public IReadOnlyDictionary<string, string> MainCf { get; init; } = new Dictionary<string, string>();
}

/// <summary>smtpd TLS settings of a Postfix instance.</summary>
/// <param name="KeyPath">Private key of the server certificate.</param>
/// <param name="FullChainPath">Leaf followed by intermediates.</param>
public sealed record PostfixServerTls(string KeyPath, string FullChainPath)
{
    /// <summary><c>smtpd_tls_security_level</c>: may or encrypt.</summary>
    public string SecurityLevel { get; init; } = "may";

    /// <summary><c>smtpd_tls_ask_ccert</c>: ask the client for a certificate.</summary>
    public bool AskClientCertificate { get; init; } = true;

    /// <summary><c>smtpd_tls_received_header</c>: record protocol and cipher in Received.</summary>
    public bool ReceivedHeader { get; init; } = true;

    /// <summary><c>smtpd_tls_CAfile</c>: roots used to verify client certificates.</summary>
    public string? CAfile { get; init; }

    /// <summary>Serves <paramref name="certificate"/> and verifies clients against its root.</summary>
    public static PostfixServerTls For(IssuedCertificate certificate) =>
        new(certificate.KeyPath, certificate.FullChainPath) { CAfile = certificate.RootPath };
}

/// <summary>smtp (client) TLS settings of a Postfix instance.</summary>
public sealed record PostfixClientTls
{
    /// <summary><c>smtp_tls_security_level</c>: none, may, encrypt, verify, secure, dane.</summary>
    public string SecurityLevel { get; init; } = "may";

    /// <summary><c>smtp_tls_CAfile</c>: roots the client trusts.</summary>
    public string? CAfile { get; init; }

    /// <summary><c>smtp_tls_cert_file</c>: client certificate (a full chain file is fine).</summary>
    public string? CertFile { get; init; }

    /// <summary><c>smtp_tls_key_file</c>.</summary>
    public string? KeyFile { get; init; }

    /// <summary>
    /// Lines of <c>smtp_tls_policy_maps</c>, e.g.
    /// <c>[127.0.0.5]:25 secure match=mx.example.test</c>; written as a texthash table.
    /// </summary>
    public IReadOnlyList<string> PolicyMapEntries { get; init; } = [];
}

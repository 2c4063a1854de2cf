using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Tls;

/// <summary>
/// The <see cref="SslServerAuthenticationOptions"/> of one listener: the certificate chosen by SNI
/// from the store (with its chain), the minimum protocol version, an optional cipher-suite list and
/// an optional request for a client certificate. Options are built once per certificate of a
/// store snapshot and shared by every handshake that picks that certificate.
/// </summary>
public sealed class ServerTlsOptionsFactory
{
    private readonly ServerCertificateStore _store;
    private readonly SslProtocols _protocols;
    private readonly CipherSuitesPolicy? _cipherSuites;
    private readonly bool _requestClientCertificate;
    // Keyed by certificate instance: a reload brings new instances, so stale options fall away with them.
    private readonly ConditionalWeakTable<ServerCertificate, SslServerAuthenticationOptions> _options = [];
    // What each client sent with its certificate, kept per stream until the session takes it.
    private static readonly ConditionalWeakTable<object, X509Certificate2Collection> ClientIntermediates = [];

    /// <summary>Creates the factory; throws <see cref="TlsSettingsException"/> naming the JSON path of a bad setting.</summary>
    /// <param name="store">The certificates to present.</param>
    /// <param name="minimumVersion">"1.2" (TLS 1.2 and 1.3) or "1.3" (TLS 1.3 only).</param>
    /// <param name="cipherSuites">IANA cipher-suite names (e.g. TLS_AES_256_GCM_SHA384); null or empty: the system default.</param>
    /// <param name="requestClientCertificate">Ask clients for a certificate; it is recorded, never required here (connectors decide).</param>
    /// <param name="jsonPath">Where the settings were configured, for messages, e.g. "$.gateway.tls".</param>
    public ServerTlsOptionsFactory(ServerCertificateStore store, string minimumVersion = "1.2", IReadOnlyList<string>? cipherSuites = null,
        bool requestClientCertificate = false, string jsonPath = "$.gateway.tls")
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _protocols = ParseMinimumVersion(minimumVersion, jsonPath + ".minimumVersion");
        _cipherSuites = cipherSuites is { Count: > 0 } ? CreatePolicy(cipherSuites, jsonPath + ".cipherSuites") : null;
        _requestClientCertificate = requestClientCertificate;
    }

    /// <summary>The protocols allowed.</summary>
    public SslProtocols EnabledProtocols => _protocols;

    /// <summary>
    /// Every error in the TLS settings, each with its JSON path (for the configuration validator).
    /// </summary>
    public static IReadOnlyList<string> Validate(string minimumVersion, IReadOnlyList<string>? cipherSuites, string jsonPath = "$.gateway.tls")
    {
        var errors = new List<string>();
        try
        {
            ParseMinimumVersion(minimumVersion, jsonPath + ".minimumVersion");
        }
        catch (TlsSettingsException e)
        {
            errors.Add(e.Message);
        }

        for (var i = 0; i < (cipherSuites?.Count ?? 0); i++)
        {
            if (!TryParseCipherSuite(cipherSuites![i], out _))
            {
                errors.Add(UnknownSuite($"{jsonPath}.cipherSuites[{i}]", cipherSuites[i]).Message);
            }
        }

        return errors;
    }

    /// <summary>"1.2" → TLS 1.2 and 1.3; "1.3" → TLS 1.3 only.</summary>
    public static SslProtocols ParseMinimumVersion(string? minimumVersion, string jsonPath = "$.gateway.tls.minimumVersion") =>
        minimumVersion?.Trim() switch
        {
            null or "" or "1.2" => SslProtocols.Tls12 | SslProtocols.Tls13,
            "1.3" => SslProtocols.Tls13,
            var other => throw new TlsSettingsException(jsonPath, $"unsupported minimum TLS version '{other}'; use \"1.2\" or \"1.3\""),
        };

    /// <summary>Parses IANA cipher-suite names; an unknown one is a <see cref="TlsSettingsException"/> with its JSON path.</summary>
    public static IReadOnlyList<TlsCipherSuite> ParseCipherSuites(IReadOnlyList<string> names, string jsonPath = "$.gateway.tls.cipherSuites")
    {
        ArgumentNullException.ThrowIfNull(names);
        var suites = new List<TlsCipherSuite>(names.Count);
        for (var i = 0; i < names.Count; i++)
        {
            if (!TryParseCipherSuite(names[i], out var suite))
            {
                throw UnknownSuite($"{jsonPath}[{i}]", names[i]);
            }

            suites.Add(suite);
        }

        return suites;
    }

    /// <summary>For <see cref="SslStream.AuthenticateAsServerAsync(ServerOptionsSelectionCallback, object?, CancellationToken)"/>: picks by SNI.</summary>
    public ValueTask<SslServerAuthenticationOptions> SelectOptionsAsync(SslStream stream, SslClientHelloInfo clientHello, object? state, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetOptions(clientHello.ServerName));

    /// <summary>The options for a client that asked for <paramref name="serverName"/> (null or empty: the default certificate).</summary>
    public SslServerAuthenticationOptions GetOptions(string? serverName) =>
        _options.GetValue(_store.Select(serverName), Build);

    /// <summary>Runs the server side of the handshake on <paramref name="stream"/> with SNI selection.</summary>
    public Task AuthenticateAsServerAsync(SslStream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.AuthenticateAsServerAsync(SelectOptionsAsync, null, cancellationToken);
    }

    private SslServerAuthenticationOptions Build(ServerCertificate certificate) => new()
    {
        ServerCertificateContext = certificate.Context,
        EnabledSslProtocols = _protocols,
        CipherSuitesPolicy = _cipherSuites,
        ClientCertificateRequired = _requestClientCertificate,
        // Never fail the handshake over a client certificate: it is recorded, connectors decide.
        RemoteCertificateValidationCallback = _requestClientCertificate ? AcceptAnyClientCertificate : null,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        EncryptionPolicy = EncryptionPolicy.RequireEncryption,
    };

    private static CipherSuitesPolicy CreatePolicy(IReadOnlyList<string> names, string jsonPath)
    {
        var suites = ParseCipherSuites(names, jsonPath);
        if (OperatingSystem.IsWindows())
        {
            throw new TlsSettingsException(jsonPath, "cipher suites cannot be chosen on Windows; remove the list");
        }

        return new CipherSuitesPolicy(suites);
    }

    private static bool AcceptAnyClientCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        // Keep the intermediates the client sent, so its chain can be judged later under the trust policy.
        if (chain is { ChainPolicy.ExtraStore.Count: > 0 }) ClientIntermediates.AddOrUpdate(sender, [.. chain.ChainPolicy.ExtraStore]);
        return true;
    }

    /// <summary>The intermediate certificates the client presented on <paramref name="stream"/>, if any (taken once).</summary>
    public static X509Certificate2Collection? TakeClientIntermediates(SslStream stream)
    {
        if (!ClientIntermediates.TryGetValue(stream, out X509Certificate2Collection? intermediates)) return null;
        ClientIntermediates.Remove(stream);
        return intermediates;
    }

    private static bool TryParseCipherSuite(string name, out TlsCipherSuite suite)
    {
        suite = default;
        var trimmed = name?.Trim();
        // Names only: Enum.TryParse would also take numbers and comma lists.
        return !string.IsNullOrEmpty(trimmed)
            && trimmed.StartsWith("TLS_", StringComparison.OrdinalIgnoreCase)
            && !trimmed.Contains(',')
            && Enum.TryParse(trimmed, ignoreCase: true, out suite)
            && Enum.IsDefined(suite);
    }

    private static TlsSettingsException UnknownSuite(string jsonPath, string name) =>
        new(jsonPath, $"unknown cipher suite '{name}'; use an IANA name such as TLS_AES_256_GCM_SHA384 or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
}

/// <summary>A TLS setting that cannot be used, with its configuration path.</summary>
public sealed class TlsSettingsException(string jsonPath, string message) : Exception($"{jsonPath}: {message}")
{
    /// <summary>Where the setting was configured.</summary>
    public string JsonPath { get; } = jsonPath;
}

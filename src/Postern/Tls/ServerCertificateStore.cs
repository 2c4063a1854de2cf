using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Postern.Tls;

/// <summary>Where one server certificate comes from, and whose it is.</summary>
/// <param name="CertificateFile">PEM (leaf then chain; may hold the key too) or PFX (.pfx/.p12).</param>
/// <param name="KeyFile">PEM private key (RSA or ECDSA, PKCS#1/PKCS#8/SEC1), or null.</param>
/// <param name="Password">PFX or encrypted-PEM password.</param>
/// <param name="Owner">"gateway" or the organization's name, for messages.</param>
/// <param name="JsonPath">Where it was configured, e.g. "$.gateway.certificates[0]".</param>
public sealed record CertificateSource(string CertificateFile, string? KeyFile, string? Password, string Owner, string JsonPath);

/// <summary>A loaded server certificate: leaf with private key, the chain to send, and its names.</summary>
public sealed class ServerCertificate
{
    internal ServerCertificate(CertificateSource source, X509Certificate2 leaf, X509Certificate2Collection intermediates, SslStreamCertificateContext context, IReadOnlyList<string> dnsNames)
    {
        Source = source;
        Leaf = leaf;
        Intermediates = intermediates;
        Context = context;
        DnsNames = dnsNames;
    }

    public CertificateSource Source { get; }
    public X509Certificate2 Leaf { get; }
    public X509Certificate2Collection Intermediates { get; }
    /// <summary>Built once (offline) so intermediates are sent without per-handshake chain building.</summary>
    public SslStreamCertificateContext Context { get; }
    /// <summary>SAN dNSNames (or the CN when there are none), lower-case.</summary>
    public IReadOnlyList<string> DnsNames { get; }
}

/// <summary>
/// The certificates the gateway presents: several at once, chosen by SNI, the first gateway
/// certificate as default; reloaded when their files change, without disturbing sessions in flight.
/// </summary>
public sealed class ServerCertificateStore : IDisposable
{
    /// <summary>Loads every source; throws <see cref="CertificateLoadException"/> naming the JSON path of the first that fails.</summary>
    public static ServerCertificateStore Load(IReadOnlyList<CertificateSource> sources, ILogger? logger = null) => throw new NotImplementedException();

    /// <summary>The default certificate (the first source).</summary>
    public ServerCertificate Default => throw new NotImplementedException();

    public IReadOnlyList<ServerCertificate> All => throw new NotImplementedException();

    /// <summary>Exact name first, then a wildcard certificate for the name, else the default. Null/empty: default.</summary>
    public ServerCertificate Select(string? serverName) => throw new NotImplementedException();

    /// <summary>Starts watching the files; a change reloads that certificate (a failed reload keeps the old one and logs).</summary>
    public void StartWatching() => throw new NotImplementedException();

    public void Dispose() => throw new NotImplementedException();
}

/// <summary>A certificate that could not be loaded, with the configuration path and the reason.</summary>
public sealed class CertificateLoadException(string jsonPath, string message, Exception? inner = null)
    : Exception($"{jsonPath}: {message}", inner)
{
    public string JsonPath { get; } = jsonPath;
}

using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
/// <remarks>
/// Readers take an immutable snapshot with one volatile read and never lock; a reload builds a new
/// snapshot and swaps it in, so a session keeps whatever certificate it picked.
/// </remarks>
public sealed class ServerCertificateStore : IDisposable
{
    private static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DefaultDebounce = TimeSpan.FromMilliseconds(500);

    private readonly CertificateSource[] _sources;
    private readonly ILogger _logger;
    private readonly Lock _reloadGate = new();
    private CertificateSnapshot _current;
    private CertificateFileWatcher? _watcher;
    private bool _disposed;

    private ServerCertificateStore(CertificateSource[] sources, ServerCertificate[] certificates, ILogger logger)
    {
        _sources = sources;
        _logger = logger;
        _current = new CertificateSnapshot(certificates);
    }

    /// <summary>Loads every source; throws <see cref="CertificateLoadException"/> naming the JSON path of the first that fails.</summary>
    public static ServerCertificateStore Load(IReadOnlyList<CertificateSource> sources, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0)
        {
            throw new ArgumentException("At least one certificate source is needed.", nameof(sources));
        }

        logger ??= NullLogger.Instance;
        var certificates = new ServerCertificate[sources.Count];
        for (var i = 0; i < sources.Count; i++)
        {
            certificates[i] = CertificateLoader.Load(sources[i]);
            LogLoaded(logger, certificates[i], reloaded: false);
        }

        return new ServerCertificateStore([.. sources], certificates, logger);
    }

    /// <summary>The default certificate (the first source).</summary>
    public ServerCertificate Default => Current.Default;

    /// <summary>Every certificate, in configuration order.</summary>
    public IReadOnlyList<ServerCertificate> All => Current.All;

    /// <summary>Raised after a certificate was reloaded successfully, with the new certificate.</summary>
    public event Action<ServerCertificate>? CertificateReloaded;

    /// <summary>The snapshot in use now; take it once per handshake.</summary>
    internal CertificateSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Exact name first, then a wildcard certificate for the name, else the default. Null/empty: default.</summary>
    public ServerCertificate Select(string? serverName) => Current.Select(serverName);

    /// <summary>Starts watching the files; a change reloads that certificate (a failed reload keeps the old one and logs).</summary>
    public void StartWatching() => StartWatching(DefaultPollInterval, DefaultDebounce);

    /// <summary>As <see cref="StartWatching()"/>, with the poll interval and the debounce delay given.</summary>
    internal void StartWatching(TimeSpan pollInterval, TimeSpan debounce)
    {
        lock (_reloadGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_watcher is not null)
            {
                return;
            }

            var files = new List<(string Path, int Source)>();
            for (var i = 0; i < _sources.Length; i++)
            {
                files.Add((Path.GetFullPath(_sources[i].CertificateFile), i));
                if (!string.IsNullOrWhiteSpace(_sources[i].KeyFile))
                {
                    files.Add((Path.GetFullPath(_sources[i].KeyFile!), i));
                }
            }

            _watcher = new CertificateFileWatcher(files, Reload, _logger, pollInterval, debounce);
        }
    }

    /// <summary>Reloads one source now; on failure logs and keeps the certificate in use. Returns whether it succeeded.</summary>
    internal bool Reload(int sourceIndex)
    {
        var source = _sources[sourceIndex];
        ServerCertificate loaded;
        lock (_reloadGate)
        {
            if (_disposed)
            {
                return false;
            }

            try
            {
                loaded = CertificateLoader.Load(source);
            }
            catch (CertificateLoadException e)
            {
                _logger.CertificateReloadFailed(source.JsonPath, e);
                return false;
            }

            var certificates = Current.All.ToArray();
            certificates[sourceIndex] = loaded;
            Volatile.Write(ref _current, new CertificateSnapshot(certificates));
        }

        LogLoaded(_logger, loaded, reloaded: true);
        CertificateReloaded?.Invoke(loaded);
        return true;
    }

    public void Dispose()
    {
        CertificateFileWatcher? watcher;
        lock (_reloadGate)
        {
            _disposed = true;
            watcher = _watcher;
            _watcher = null;
        }

        watcher?.Dispose();
    }

    private static void LogLoaded(ILogger logger, ServerCertificate certificate, bool reloaded)
    {
        if (!logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var leaf = certificate.Leaf;
        var names = string.Join(", ", certificate.DnsNames);
        var sha256 = CertificateDescription.Fingerprint(leaf);
        if (reloaded)
        {
            logger.CertificateReloaded(certificate.Source.Owner, certificate.Source.CertificateFile, leaf.Subject, names, leaf.NotAfter.ToUniversalTime(), sha256);
        }
        else
        {
            logger.CertificateLoaded(certificate.Source.Owner, certificate.Source.CertificateFile, leaf.Subject, names, leaf.NotAfter.ToUniversalTime(), sha256);
        }
    }
}

/// <summary>One immutable generation of the store: the certificates and the SNI lookup tables.</summary>
internal sealed class CertificateSnapshot
{
    private readonly FrozenDictionary<string, ServerCertificate>.AlternateLookup<ReadOnlySpan<char>> _exact;
    private readonly FrozenDictionary<string, ServerCertificate>.AlternateLookup<ReadOnlySpan<char>> _wildcardParents;

    public CertificateSnapshot(ServerCertificate[] certificates)
    {
        All = certificates;
        Default = certificates[0];
        var exact = new Dictionary<string, ServerCertificate>(StringComparer.OrdinalIgnoreCase);
        var wildcardParents = new Dictionary<string, ServerCertificate>(StringComparer.OrdinalIgnoreCase);
        // TryAdd: on a name held by several certificates the first configured wins.
        foreach (var certificate in certificates)
        {
            foreach (var name in certificate.DnsNames)
            {
                if (name.StartsWith("*.", StringComparison.Ordinal))
                {
                    var parent = name[2..];
                    if (!parent.Contains('*') && parent.Contains('.'))
                    {
                        wildcardParents.TryAdd(parent, certificate);
                    }
                }
                else if (!name.Contains('*'))
                {
                    exact.TryAdd(name, certificate);
                }
            }
        }

        _exact = exact.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
        _wildcardParents = wildcardParents.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public ServerCertificate Default { get; }

    public IReadOnlyList<ServerCertificate> All { get; }

    public ServerCertificate Select(string? serverName)
    {
        var name = serverName.AsSpan().Trim();
        if (name.EndsWith('.'))
        {
            name = name[..^1];
        }

        if (name.IsEmpty)
        {
            return Default;
        }

        if (_exact.TryGetValue(name, out var certificate))
        {
            return certificate;
        }

        // A wildcard stands for exactly one label: look up what follows the first one.
        var dot = name.IndexOf('.');
        if (dot > 0 && _wildcardParents.TryGetValue(name[(dot + 1)..], out certificate))
        {
            return certificate;
        }

        return Default;
    }
}

/// <summary>A certificate that could not be loaded, with the configuration path and the reason.</summary>
public sealed class CertificateLoadException(string jsonPath, string message, Exception? inner = null)
    : Exception($"{jsonPath}: {message}", inner)
{
    public string JsonPath { get; } = jsonPath;
}

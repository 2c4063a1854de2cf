using System.Collections.Concurrent;
using System.Net.Security;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Receiving;
using Postern.Spool;
using Postern.Tls;
using Postern.Tracing;

namespace Postern.Hosting;

/// <summary>
/// One validated configuration compiled into what the running parts use: the receiving context,
/// the outbound router, the certificate store and the trust policies. It is swapped whole on a
/// reload; whoever took it keeps using it (a session to its end, an attempt to its end).
/// </summary>
internal sealed class GatewaySnapshot
{
    private readonly ConcurrentDictionary<string, TrustPolicy> _trustByConnector = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SslStreamCertificateContext> _clientCertificates = new(StringComparer.Ordinal);

    private GatewaySnapshot(PosternConfiguration configuration, string dataDirectory, ReceivingContext receiving, OutboundRouter router,
        ServerCertificateStore? certificates, IReadOnlyList<CertificateSource> sources)
    {
        Configuration = configuration;
        DataDirectory = dataDirectory;
        Receiving = receiving;
        Router = router;
        Certificates = certificates;
        Sources = sources;
    }

    public PosternConfiguration Configuration { get; }
    public string DataDirectory { get; }
    public ReceivingContext Receiving { get; }
    public OutboundRouter Router { get; }
    public ServerCertificateStore? Certificates { get; }
    public IReadOnlyList<CertificateSource> Sources { get; }

    public static GatewaySnapshot Compile(PosternConfiguration configuration, MessageSpool spool, string dataDirectory, GatewaySnapshot? previous,
        ILoggerFactory loggers, ILogger logger, ITraceSink? trace = null)
    {
        GatewaySettings gateway = configuration.Gateway;
        string hostName = PosternGateway.HostNameOf(configuration);

        List<CertificateSource> sources = PosternGateway.CertificateSources(configuration);
        bool needsTls = gateway.Listeners.Any(l => l.Security != ListenerSecurity.None);
        if ((needsTls || sources.Count > 0) && gateway.Certificates.Count == 0)
        {
            CertificateSource selfSigned = SelfSignedCertificate.EnsureExists(Path.Combine(dataDirectory, "tls"), hostName, logger);
            GatewayLog.SelfSigned(logger, selfSigned.CertificateFile, hostName);
            sources.Insert(0, selfSigned);
        }

        ServerCertificateStore? certificates = null;
        if (sources.Count > 0)
        {
            if (previous?.Certificates is not null && previous.Sources.SequenceEqual(sources))
            {
                // Same files: the store already watches and reloads them.
                certificates = previous.Certificates;
            }
            else
            {
                certificates = ServerCertificateStore.Load(sources, loggers.CreateLogger<ServerCertificateStore>());
                foreach (ServerCertificate certificate in certificates.All)
                    GatewayLog.CertificateLoaded(logger, string.Join(", ", certificate.DnsNames), certificate.Source.CertificateFile, certificate.Source.Owner);
                certificates.StartWatching();
            }
            foreach (string warning in CertificateDiagnostics.Check(certificates, hostName, DateTimeOffset.UtcNow))
                GatewayLog.CertificateWarning(logger, warning);
        }

        ServerTlsAuthenticator? tls = certificates is null ? null
            : new ServerTlsAuthenticator(certificates, gateway.Tls.MinimumVersion, gateway.Tls.CipherSuites);
        var receiving = new ReceivingContext
        {
            HostName = hostName,
            Limits = gateway.Limits,
            Spool = spool,
            Inbound = InboundPolicy.Compile(configuration),
            Trust = TrustPolicy.Load(gateway.Trust.UseSystemStore, gateway.Trust.AdditionalRoots),
            Tls = tls,
            Logger = loggers.CreateLogger("Postern.Smtpd"),
            Trace = trace ?? previous?.Receiving.Trace ?? NullTraceSink.Instance,
        };
        return new GatewaySnapshot(configuration, dataDirectory, receiving, new OutboundRouter(configuration), certificates, sources);
    }

    /// <summary>The trust policy of an attempt (see <see cref="OutboundCredentials.Trust"/>), loaded once per connector.</summary>
    public TrustPolicy TrustFor(DeliveryRoute route) =>
        route.TrustedRoots.Count == 0 || route.Connector is null
            ? Receiving.Trust
            : _trustByConnector.GetOrAdd(route.Connector, _ => OutboundCredentials.Trust(Configuration.Gateway.Trust, Receiving.Trust, route));

    /// <summary>The client certificate of an attempt: the connector's own (loaded once), else the organization's, else the gateway's.</summary>
    public SslStreamCertificateContext? ClientCertificateFor(DeliveryRoute route) =>
        OutboundCredentials.ConnectorCertificate(route) is { } source
            ? _clientCertificates.GetOrAdd(route.Connector!, _ => CertificateLoader.Load(source).Context)
            : OutboundCredentials.FromStore(route, Certificates);

    /// <summary>Disposes what the next snapshot no longer uses, once sessions that may hold it are over.</summary>
    public void RetireAfter(GatewaySnapshot next, TimeSpan delay)
    {
        if (Certificates is null || ReferenceEquals(Certificates, next.Certificates)) return;
        ServerCertificateStore retired = Certificates;
        _ = Task.Delay(delay).ContinueWith(_ => retired.Dispose(), TaskScheduler.Default);
    }
}

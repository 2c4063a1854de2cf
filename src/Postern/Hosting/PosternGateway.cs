using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Receiving;
using Postern.Spool;
using Postern.Tls;

namespace Postern.Hosting;

/// <summary>
/// The running gateway: listeners, the spool, the certificate store, compiled from one validated
/// configuration. Receive → spool; the delivering side reads the same spool.
/// </summary>
public sealed class PosternGateway : IAsyncDisposable
{
    private readonly List<SmtpListener> _listeners = [];
    private readonly ILogger _logger;
    private ReceivingContext _context;
    private readonly ServerCertificateStore? _certificates;
    private QueueScheduler? _scheduler;
    private DeliveryAgent? _agent;
    private AdminEndpoint? _admin;

    private PosternGateway(ReceivingContext context, ServerCertificateStore? certificates, ILogger logger)
    {
        _context = context;
        _certificates = certificates;
        _logger = logger;
    }

    public string HostName => _context.HostName;

    public MessageSpool Spool => _context.Spool;

    public ServerCertificateStore? Certificates => _certificates;

    /// <summary>The delivering side; null while <c>gateway.queue.hold</c> is true.</summary>
    public QueueScheduler? Scheduler => _scheduler;

    /// <summary>The admin endpoint (<c>gateway.admin</c>); null when not configured.</summary>
    public AdminEndpoint? AdminEndpoint => _admin;

    /// <summary>The endpoints actually bound, in configuration order.</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _listeners.Select(l => l.LocalEndPoint).ToArray();

    /// <summary>The machine's name, lower-case, as the default banner name.</summary>
    public static string MachineHostName() => Dns.GetHostName().ToLowerInvariant();

    /// <summary>
    /// Compiles the configuration and starts listening. Throws <see cref="CertificateLoadException"/>
    /// or <see cref="InvalidOperationException"/> with a message for the administrator when it cannot.
    /// </summary>
    public static async Task<PosternGateway> StartAsync(PosternConfiguration configuration, ILoggerFactory loggers, CancellationToken cancellationToken = default)
    {
        ILogger logger = loggers.CreateLogger("Postern.Gateway");
        GatewaySettings gateway = configuration.Gateway;
        string hostName = (gateway.HostName ?? MachineHostName()).TrimEnd('.').ToLowerInvariant();
        string dataDirectory = Path.GetFullPath(gateway.DataDirectory);
        Directory.CreateDirectory(dataDirectory);
        GatewayLog.Starting(logger, hostName, dataDirectory);

        var spool = new MessageSpool(Path.Combine(dataDirectory, "spool"), loggers.CreateLogger<MessageSpool>());
        SpoolRecovery recovery = spool.Recover();
        GatewayLog.SpoolRecovered(logger, recovery.Messages, recovery.PartialEntriesRemoved);

        ServerCertificateStore? certificates = null;
        ServerTlsAuthenticator? tls = null;
        bool needsTls = gateway.Listeners.Any(l => l.Security != ListenerSecurity.None);
        List<CertificateSource> sources = CertificateSources(configuration);
        if (needsTls || sources.Count > 0)
        {
            if (gateway.Certificates.Count == 0)
            {
                CertificateSource selfSigned = SelfSignedCertificate.EnsureExists(Path.Combine(dataDirectory, "tls"), hostName, logger);
                GatewayLog.SelfSigned(logger, selfSigned.CertificateFile, hostName);
                sources.Insert(0, selfSigned);
            }
            certificates = ServerCertificateStore.Load(sources, loggers.CreateLogger<ServerCertificateStore>());
            foreach (ServerCertificate certificate in certificates.All)
                GatewayLog.CertificateLoaded(logger, string.Join(", ", certificate.DnsNames), certificate.Source.CertificateFile, certificate.Source.Owner);
            foreach (string warning in CertificateDiagnostics.Check(certificates, hostName, DateTimeOffset.UtcNow))
                GatewayLog.CertificateWarning(logger, warning);
            certificates.StartWatching();
            tls = new ServerTlsAuthenticator(certificates, ServerTlsOptionsFactory.ParseMinimumVersion(gateway.Tls.MinimumVersion), CipherSuites(gateway.Tls));
        }

        var context = new ReceivingContext
        {
            HostName = hostName,
            Limits = gateway.Limits,
            Spool = spool,
            Inbound = InboundPolicy.Compile(configuration),
            Trust = TrustPolicy.Load(gateway.Trust.UseSystemStore, gateway.Trust.AdditionalRoots),
            Tls = tls,
            Logger = loggers.CreateLogger("Postern.Smtpd"),
        };

        var instance = new PosternGateway(context, certificates, logger);
        if (!gateway.Queue.Hold) instance.StartDelivery(configuration, hostName, loggers);
        var limiter = new ConnectionLimiter(gateway.Limits.MaxConnections, gateway.Limits.MaxConnectionsPerClient);
        try
        {
            foreach (ListenerSettings listener in gateway.Listeners)
            {
                var smtp = new SmtpListener(listener, () => instance._context, limiter, context.Logger);
                smtp.Start();
                instance._listeners.Add(smtp);
            }
            if (gateway.Admin is { } admin)
                instance._admin = await AdminEndpoint.StartAsync(admin.Endpoint, [new AdminEndpointQueueRoutes(spool, instance._scheduler, TimeProvider.System, loggers.CreateLogger("Postern.Admin"))], loggers, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await instance.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        await Task.CompletedTask.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return instance;
    }

    private void StartDelivery(PosternConfiguration configuration, string hostName, ILoggerFactory loggers)
    {
        GatewaySettings gateway = configuration.Gateway;
        TrustPolicy trust = _context.Trust;
        var trustByConnector = new System.Collections.Concurrent.ConcurrentDictionary<string, TrustPolicy>(StringComparer.Ordinal);
        TrustPolicy TrustFor(DeliveryRoute route) => route.TrustedRoots.Count == 0 || route.Connector is null
            ? trust
            : trustByConnector.GetOrAdd(route.Connector, _ => TrustPolicy.Load(gateway.Trust.UseSystemStore, [.. gateway.Trust.AdditionalRoots, .. route.TrustedRoots]));

        var clientCertificates = new System.Collections.Concurrent.ConcurrentDictionary<string, SslStreamCertificateContext>(StringComparer.Ordinal);
        SslStreamCertificateContext? ClientCertificateFor(DeliveryRoute route)
        {
            // The connector's own certificate, else the organization's, else the gateway's (issue 3 point 5).
            if (route.ClientCertificate is { } c && route.Connector is { } connector)
            {
                return clientCertificates.GetOrAdd(connector, _ => CertificateLoader.Load(
                    new CertificateSource(c.CertificateFile, c.KeyFile, c.Password, route.Organization ?? "gateway", $"connector \"{connector}\".clientCertificate")).Context);
            }
            if (_certificates is null) return null;
            if (route.Organization is { } organization && _certificates.All.FirstOrDefault(x => x.Source.Owner == organization) is { } own) return own.Context;
            return _certificates.Default.Context;
        }

        var router = new OutboundRouter(configuration);
        _agent = new DeliveryAgent(hostName, new MxResolver(gateway.Dns), TrustFor, ClientCertificateFor, new SmtpClientLimits(), loggers.CreateLogger("Postern.Smtp"));
        _scheduler = new QueueScheduler(_context.Spool, _agent, () => router, new RetrySchedule(gateway.Queue),
            new DeliveryStatusNotificationBuilder(hostName, TimeProvider.System, loggers.CreateLogger<DeliveryStatusNotificationBuilder>()), hostName,
            new SchedulerLimits { ConcurrentDeliveries = gateway.Queue.MaxConcurrentDeliveries, ConcurrentDeliveriesPerDestination = gateway.Queue.MaxConcurrentDeliveriesPerDestination },
            TimeProvider.System, loggers.CreateLogger("Postern.Queue"));
        _scheduler.Start();
    }

    /// <summary>Gateway certificates first (the first is the default), then each organization's.</summary>
    public static List<CertificateSource> CertificateSources(PosternConfiguration configuration)
    {
        var sources = new List<CertificateSource>();
        for (int i = 0; i < configuration.Gateway.Certificates.Count; i++)
        {
            CertificateSettings c = configuration.Gateway.Certificates[i];
            sources.Add(new CertificateSource(c.CertificateFile, c.KeyFile, c.Password, "gateway", $"$.gateway.certificates[{i}]"));
        }
        for (int o = 0; o < configuration.Organizations.Count; o++)
        {
            OrganizationSettings organization = configuration.Organizations[o];
            for (int i = 0; i < organization.Certificates.Count; i++)
            {
                CertificateSettings c = organization.Certificates[i];
                sources.Add(new CertificateSource(c.CertificateFile, c.KeyFile, c.Password, organization.Name, $"$.organizations[{o}].certificates[{i}]"));
            }
        }
        return sources;
    }

    internal static CipherSuitesPolicy? CipherSuites(TlsSettings tls) =>
        tls.CipherSuites.Count == 0 ? null : new CipherSuitesPolicy(ServerTlsOptionsFactory.ParseCipherSuites(tls.CipherSuites));

    /// <summary>Graceful stop: no new connections, sessions finish within the grace period.</summary>
    public async Task StopAsync()
    {
        GatewayLog.Stopping(_logger);
        if (_admin is not null) await _admin.DisposeAsync().ConfigureAwait(false);
        TimeSpan grace = TimeSpan.FromSeconds(_context.Limits.ShutdownGraceSeconds);
        await Task.WhenAll(_listeners.Select(l => l.StopAsync(grace))).ConfigureAwait(false);
        if (_scheduler is not null) await _scheduler.StopAsync(grace).ConfigureAwait(false);
        if (_agent is not null) await _agent.DisposeAsync().ConfigureAwait(false);
        GatewayLog.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        foreach (SmtpListener listener in _listeners) await listener.DisposeAsync().ConfigureAwait(false);
        _certificates?.Dispose();
        await _context.Spool.DisposeAsync().ConfigureAwait(false);
    }
}

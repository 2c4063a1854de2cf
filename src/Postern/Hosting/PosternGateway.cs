using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Receiving;
using Postern.Spool;
using Postern.Telemetry;
using Postern.Tls;
using Postern.Tracing;

namespace Postern.Hosting;

/// <summary>
/// The running gateway: listeners, the spool, the certificate store, compiled from one validated
/// configuration. Receive → spool; the delivering side reads the same spool.
/// </summary>
public sealed class PosternGateway : IAsyncDisposable
{
    private readonly List<SmtpListener> _listeners = [];
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggers;
    private GatewaySnapshot _snapshot;
    private QueueScheduler? _scheduler;
    private DeliveryAgent? _agent;
    private AdminEndpoint? _admin;
    private readonly TraceStore? _traceStore;
    private readonly ITraceSink _trace;

    private PosternGateway(GatewaySnapshot snapshot, PosternMetrics metrics, ILoggerFactory loggers, ILogger logger, TraceStore? traceStore, ITraceSink trace)
    {
        _snapshot = snapshot;
        Metrics = metrics;
        _loggers = loggers;
        _logger = logger;
        _traceStore = traceStore;
        _trace = trace;
    }

    public string HostName => _snapshot.Receiving.HostName;

    public MessageSpool Spool => _snapshot.Receiving.Spool;

    public ServerCertificateStore? Certificates => _snapshot.Certificates;

    /// <summary>The configuration in force (the last one that loaded and validated).</summary>
    public PosternConfiguration Configuration => _snapshot.Configuration;

    /// <summary>The delivering side; null while <c>gateway.queue.hold</c> is true.</summary>
    public QueueScheduler? Scheduler => _scheduler;

    /// <summary>The gateway's instruments; <see cref="PosternMetrics.TraceSink"/> is one of its message event sinks.</summary>
    public PosternMetrics Metrics { get; }

    /// <summary>The admin endpoint (<c>gateway.admin</c>); null when not configured.</summary>
    public AdminEndpoint? AdminEndpoint => _admin;

    /// <summary>The message trace (<c>gateway.trace</c>); null when disabled or when it could not be opened.</summary>
    public TraceStore? TraceStore => _traceStore;

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
        string dataDirectory = Path.GetFullPath(gateway.DataDirectory);
        Directory.CreateDirectory(dataDirectory);
        GatewayLog.Starting(logger, HostNameOf(configuration), dataDirectory);

        var metrics = new PosternMetrics();
        var spool = new MessageSpool(Path.Combine(dataDirectory, "spool"), loggers.CreateLogger<MessageSpool>(), metrics);
        SpoolRecovery recovery = spool.Recover();
        GatewayLog.SpoolRecovered(logger, recovery.Messages, recovery.PartialEntriesRemoved);

        TraceStore? traceStore = OpenTraceStore(gateway.Trace, dataDirectory, loggers);
        ITraceSink trace = BuildTraceSink(traceStore, metrics);
        GatewaySnapshot snapshot;
        try
        {
            snapshot = GatewaySnapshot.Compile(configuration, spool, dataDirectory, previous: null, loggers, logger, trace);
        }
        catch
        {
            if (traceStore is not null) await traceStore.DisposeAsync().ConfigureAwait(false);
            metrics.Dispose();
            await spool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var instance = new PosternGateway(snapshot, metrics, loggers, logger, traceStore, trace);
        if (!gateway.Queue.Hold) instance.StartDelivery(configuration, snapshot.Receiving.HostName);
        var limiter = new ConnectionLimiter(gateway.Limits.MaxConnections, gateway.Limits.MaxConnectionsPerClient);
        try
        {
            foreach (ListenerSettings listener in gateway.Listeners)
            {
                var smtp = new SmtpListener(listener, () => instance._snapshot.Receiving, limiter, snapshot.Receiving.Logger, metrics);
                smtp.Start();
                instance._listeners.Add(smtp);
            }
            if (gateway.Admin is { } admin)
                instance._admin = await AdminEndpoint.StartAsync(admin.Endpoint,
                    [
                        new AdminEndpointQueueRoutes(spool, instance._scheduler, TimeProvider.System, loggers.CreateLogger("Postern.Admin"), trace),
                        new AdminEndpointMetricsRoutes(metrics),
                        new AdminEndpointTraceRoutes(dataDirectory, TimeProvider.System),
                    ],
                    loggers, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Every sink events go to: the trace store and whatever else observes the mail flow. The one place to add a sink.</summary>
    private static ITraceSink BuildTraceSink(TraceStore? traceStore, PosternMetrics metrics)
    {
        var sinks = new List<ITraceSink>();
        if (traceStore is not null) sinks.Add(traceStore);
        sinks.Add(metrics.TraceSink);
        return new TraceSinks(sinks);
    }

    /// <summary>The trace store when <c>gateway.trace.enabled</c>; a database that cannot be opened is logged and mail flows without it.</summary>
    private static TraceStore? OpenTraceStore(TraceSettings settings, string dataDirectory, ILoggerFactory loggers)
    {
        if (!settings.Enabled) return null;
        TraceStoreOptions options = TraceStoreOptions.For(dataDirectory, settings);
        ILogger logger = loggers.CreateLogger("Postern.Trace");
        try
        {
            return TraceStore.Open(options, logger);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            TraceLog.Unavailable(logger, options.Path, e.Message);
            return null;
        }
    }

    internal static string HostNameOf(PosternConfiguration configuration) =>
        (configuration.Gateway.HostName ?? MachineHostName()).TrimEnd('.').ToLowerInvariant();

    /// <summary>
    /// Loads, validates and applies a new configuration. Sessions in flight finish under the
    /// snapshot they started with; a configuration that fails validation changes nothing.
    /// Listeners, the data directory and queue concurrency take effect at the next start.
    /// </summary>
    public Task<ConfigurationResult> ReloadAsync(string path)
    {
        ConfigurationResult result = ConfigurationLoader.Load(path);
        if (!result.IsValid)
        {
            foreach (ConfigurationError error in result.Errors) GatewayLog.ReloadError(_logger, error.Path, error.Message);
            GatewayLog.ReloadRejected(_logger, path, result.Errors.Count);
            return Task.FromResult(result);
        }
        PosternConfiguration configuration = result.Configuration!;
        PosternConfiguration current = _snapshot.Configuration;
        try
        {
            GatewaySnapshot next = GatewaySnapshot.Compile(configuration, _snapshot.Receiving.Spool, _snapshot.DataDirectory, _snapshot, _loggers, _logger);
            if (!configuration.Gateway.Listeners.SequenceEqual(current.Gateway.Listeners)
                || Path.GetFullPath(configuration.Gateway.DataDirectory) != _snapshot.DataDirectory
                || configuration.Gateway.Queue != current.Gateway.Queue
                || configuration.Gateway.Trace != current.Gateway.Trace)
            {
                GatewayLog.ReloadNeedsRestart(_logger);
            }
            GatewaySnapshot previous = Interlocked.Exchange(ref _snapshot, next);
            previous.RetireAfter(next, TimeSpan.FromSeconds(previous.Receiving.Limits.SessionTimeoutSeconds + 60));
            GatewayLog.Reloaded(_logger, path);
            return Task.FromResult(result);
        }
        catch (Exception e) when (e is CertificateLoadException or TlsSettingsException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            GatewayLog.ReloadError(_logger, (e as CertificateLoadException)?.JsonPath ?? "$", e.Message);
            GatewayLog.ReloadRejected(_logger, path, 1);
            return Task.FromResult(new ConfigurationResult(null, [.. result.Warnings, new ConfigurationError((e as CertificateLoadException)?.JsonPath ?? "$", e.Message)]));
        }
    }

    private void StartDelivery(PosternConfiguration configuration, string hostName)
    {
        GatewaySettings gateway = configuration.Gateway;
        _agent = new DeliveryAgent(hostName, new MxResolver(gateway.Dns), route => _snapshot.TrustFor(route), route => _snapshot.ClientCertificateFor(route),
            new SmtpClientLimits(), _loggers.CreateLogger("Postern.Smtp"),
            gateway.DefaultOutbound.SourceAddress is { } source ? IPAddress.Parse(source) : null, Metrics);
        _scheduler = new QueueScheduler(_snapshot.Receiving.Spool, _agent, () => _snapshot.Router, new RetrySchedule(gateway.Queue),
            new DeliveryStatusNotificationBuilder(hostName, TimeProvider.System, _loggers.CreateLogger<DeliveryStatusNotificationBuilder>()), hostName,
            new SchedulerLimits { ConcurrentDeliveries = gateway.Queue.MaxConcurrentDeliveries, ConcurrentDeliveriesPerDestination = gateway.Queue.MaxConcurrentDeliveriesPerDestination },
            TimeProvider.System, _loggers.CreateLogger("Postern.Queue"), _trace);
        _scheduler.Start();
        Metrics.ObserveQueue(_scheduler);
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

    /// <summary>Graceful stop: no new connections, sessions finish within the grace period.</summary>
    public async Task StopAsync()
    {
        GatewayLog.Stopping(_logger);
        if (_admin is not null) await _admin.DisposeAsync().ConfigureAwait(false);
        TimeSpan grace = TimeSpan.FromSeconds(_snapshot.Receiving.Limits.ShutdownGraceSeconds);
        await Task.WhenAll(_listeners.Select(l => l.StopAsync(grace))).ConfigureAwait(false);
        if (_scheduler is not null) await _scheduler.StopAsync(grace).ConfigureAwait(false);
        if (_agent is not null) await _agent.DisposeAsync().ConfigureAwait(false);
        // Last: what the sessions and the scheduler recorded on their way out is written.
        if (_traceStore is not null) await _traceStore.DisposeAsync().ConfigureAwait(false);
        GatewayLog.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        foreach (SmtpListener listener in _listeners) await listener.DisposeAsync().ConfigureAwait(false);
        _snapshot.Certificates?.Dispose();
        await _snapshot.Receiving.Spool.DisposeAsync().ConfigureAwait(false);
        Metrics.Dispose();
    }
}

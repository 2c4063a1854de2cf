using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Configuration;
using Postern.Hosting;

namespace Postern.Tests.Support;

/// <summary>
/// A real gateway on loopback ports chosen by the kernel, with certificates from a test CA:
/// gateway certificate mx.gateway.test (default) and Fabrikam's own mail.fabrikam.test.
/// Listener 0 is STARTTLS, 1 is implicit TLS, 2 is plain (no TLS).
/// </summary>
internal sealed class TestGateway : IAsyncDisposable
{
    private readonly ILoggerFactory _loggers;

    private TestGateway(TempDirectory directory, TestCertificateAuthority ca, PosternGateway gateway, PosternConfiguration configuration, ILoggerFactory loggers)
    {
        _loggers = loggers;
        Directory = directory;
        Authority = ca;
        Gateway = gateway;
        Configuration = configuration;
    }

    public TempDirectory Directory { get; }
    public TestCertificateAuthority Authority { get; }
    public PosternGateway Gateway { get; private set; }
    public PosternConfiguration Configuration { get; }
    public IPEndPoint StartTls => Gateway.Endpoints[0];
    public IPEndPoint ImplicitTls => Gateway.Endpoints[1];
    public IPEndPoint Plain => Gateway.Endpoints[2];
    public string QueueDirectory => Path.Combine(Configuration.Gateway.DataDirectory, "spool", "queue");

    /// <param name="loopbackRelay">Adds an OnPremises connector for 127.0.0.0/8, so loopback clients may relay anywhere.</param>
    public static async Task<TestGateway> StartAsync(bool loopbackRelay = true, Func<PosternConfiguration, PosternConfiguration>? customize = null, ILoggerFactory? loggers = null)
    {
        var directory = new TempDirectory("postern-gw");
        var ca = new TestCertificateAuthority(directory.Combine("ca"));
        IssuedCertificate gatewayCertificate = ca.Issue("gateway", "mx.gateway.test", ["mx.gateway.test", "*.gateway.test"]);
        IssuedCertificate fabrikam = ca.Issue("fabrikam", "mail.fabrikam.test", ["mail.fabrikam.test"]);
        var configuration = new PosternConfiguration
        {
            Gateway = new GatewaySettings
            {
                HostName = "mx.gateway.test",
                DataDirectory = directory.Combine("var"),
                Listeners =
                [
                    new ListenerSettings { Endpoint = "127.0.0.1:0", Security = ListenerSecurity.StartTls, RequestClientCertificate = true },
                    new ListenerSettings { Endpoint = "127.0.0.1:0", Security = ListenerSecurity.ImplicitTls },
                    new ListenerSettings { Endpoint = "127.0.0.1:0", Security = ListenerSecurity.None },
                ],
                Certificates = [new CertificateSettings { CertificateFile = gatewayCertificate.CertificateFile, KeyFile = gatewayCertificate.KeyFile }],
                Trust = new TrustSettings { UseSystemStore = false, AdditionalRoots = [ca.RootFile] },
                Limits = new LimitSettings { CommandTimeoutSeconds = 30, ShutdownGraceSeconds = 5 },
                // Receiving tests look at the spool; delivery tests turn this off.
                Queue = new QueueSettings { Hold = true },
            },
            Organizations =
            [
                new OrganizationSettings
                {
                    Name = "Fabrikam",
                    AcceptedDomains = ["fabrikam.test"],
                    Certificates = [new CertificateSettings { CertificateFile = fabrikam.CertificateFile, KeyFile = fabrikam.KeyFile }],
                    InboundConnectors = loopbackRelay
                        ? [new InboundConnectorSettings { Name = "Loopback", ConnectorType = ConnectorType.OnPremises, SenderIPAddresses = ["127.0.0.0/8"] }]
                        : [],
                },
            ],
        };
        if (customize is not null) configuration = customize(configuration);
        PosternGateway gateway = await PosternGateway.StartAsync(configuration, loggers ?? NullLoggerFactory.Instance);
        return new TestGateway(directory, ca, gateway, configuration, loggers ?? NullLoggerFactory.Instance);
    }

    /// <summary>Stops the gateway and starts it again on the same configuration and data directory (new ports).</summary>
    public async Task RestartAsync()
    {
        await Gateway.DisposeAsync();
        Gateway = await PosternGateway.StartAsync(Configuration, _loggers);
    }

    /// <summary>Committed spool entries.</summary>
    public IReadOnlyList<string> QueueIds() => Gateway.Spool.ListQueueIds();

    /// <summary>The stored message bytes of one entry.</summary>
    public byte[] ReadMessage(string queueId)
    {
        using var message = Gateway.Spool.Open(queueId);
        using var buffer = new MemoryStream();
        message.Content.CopyTo(buffer);
        return buffer.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        Directory.Dispose();
    }
}

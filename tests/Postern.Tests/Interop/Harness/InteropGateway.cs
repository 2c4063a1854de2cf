using System.Net;

namespace Postern.Tests.Interop;

/// <summary>
/// A gateway process with the interop tests' standard configuration: host name
/// <c>mx.gateway.test</c> and a TestPki certificate for it (default), the organization Fabrikam
/// (<c>fabrikam.example</c>) with its own certificate for <c>mail.fabrikam.example</c> (SNI), and
/// three listeners: STARTTLS asking for client certificates on 127.0.0.2:25, implicit TLS on
/// 127.0.0.2:465 and plain SMTP on 127.0.0.3:25. The TestPki root is trusted. Disposing kills
/// the process and deletes its directory.
/// </summary>
public sealed class InteropGateway : IAsyncDisposable
{
    /// <summary>Banner/EHLO name and the default certificate's name.</summary>
    public const string HostName = "mx.gateway.test";

    /// <summary>The organization's own certificate name, chosen by SNI.</summary>
    public const string OrganizationName = "mail.fabrikam.example";

    /// <summary>A domain the gateway accepts mail for from anyone.</summary>
    public const string AcceptedDomain = "fabrikam.example";

    /// <summary>STARTTLS listener with <c>requestClientCertificate</c>.</summary>
    public static readonly IPEndPoint StartTls = IPEndPoint.Parse("127.0.0.2:25");

    /// <summary>Implicit TLS listener.</summary>
    public static readonly IPEndPoint ImplicitTls = IPEndPoint.Parse("127.0.0.2:465");

    /// <summary>Plain listener (<c>security: None</c>).</summary>
    public static readonly IPEndPoint Plain = IPEndPoint.Parse("127.0.0.3:25");

    private InteropGateway(string directory, string dataDirectory, IssuedCertificate gatewayCertificate, IssuedCertificate organizationCertificate, object configuration)
    {
        Directory = directory;
        DataDirectory = dataDirectory;
        GatewayCertificate = gatewayCertificate;
        OrganizationCertificate = organizationCertificate;
        Configuration = configuration;
    }

    /// <summary>The working directory: configuration file and <c>var/</c>.</summary>
    public string Directory { get; }

    /// <summary><c>gateway.dataDirectory</c>.</summary>
    public string DataDirectory { get; }

    /// <summary>The gateway's default certificate.</summary>
    public IssuedCertificate GatewayCertificate { get; }

    /// <summary>Fabrikam's certificate.</summary>
    public IssuedCertificate OrganizationCertificate { get; }

    /// <summary>The configuration written to <c>postern.json</c>.</summary>
    public object Configuration { get; }

    /// <summary>The running process (null when stopped).</summary>
    public PosternProcess? Process { get; private set; }

    /// <summary>The running process; fails when there is none.</summary>
    public PosternProcess Running => Process ?? throw new InvalidOperationException("the gateway is not running");

    /// <summary>Every endpoint of the standard configuration.</summary>
    public static IPEndPoint[] Endpoints => [StartTls, ImplicitTls, Plain];

    /// <summary>Makes the certificates and configuration and starts the gateway.</summary>
    /// <param name="pki">The run's PKI.</param>
    /// <param name="limits">Optional <c>gateway.limits</c> object.</param>
    /// <param name="dataDirectory">Optional data directory (absolute) instead of <c>var/</c> in the working directory.</param>
    public static async Task<InteropGateway> StartAsync(TestPki pki, object? limits = null, string? dataDirectory = null)
    {
        LoopbackAddresses.Ensure(StartTls.Address.ToString(), Plain.Address.ToString());
        var gatewayCertificate = pki.IssueServer(HostName, HostName, "*.gateway.test");
        var organizationCertificate = pki.IssueServer(OrganizationName);
        string directory = System.IO.Directory.CreateTempSubdirectory("postern-gateway-").FullName;
        var configuration = new
        {
            gateway = new
            {
                hostName = HostName,
                dataDirectory = dataDirectory ?? "var",
                listeners = new object[]
                {
                    new { endpoint = StartTls.ToString(), security = "StartTls", requestClientCertificate = true },
                    new { endpoint = ImplicitTls.ToString(), security = "ImplicitTls", requestClientCertificate = true },
                    new { endpoint = Plain.ToString(), security = "None" },
                },
                certificates = new[] { new { certificateFile = gatewayCertificate.FullChainPath, keyFile = gatewayCertificate.KeyPath } },
                trust = new { useSystemStore = false, additionalRoots = new[] { pki.RootCertificatePath } },
                limits = limits ?? new { shutdownGraceSeconds = 10 },
                // These tests look at what was received; nothing is delivered onwards.
                queue = new { hold = true },
            },
            organizations = new[]
            {
                new
                {
                    name = "Fabrikam",
                    acceptedDomains = new[] { AcceptedDomain },
                    certificates = new[] { new { certificateFile = organizationCertificate.FullChainPath, keyFile = organizationCertificate.KeyPath } },
                },
            },
        };
        var gateway = new InteropGateway(directory, dataDirectory ?? Path.Combine(directory, "var"), gatewayCertificate, organizationCertificate, configuration);
        try
        {
            await gateway.StartAgainAsync();
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }

        return gateway;
    }

    /// <summary>Starts the process on the same configuration and data directory (after a stop or a kill).</summary>
    public async Task StartAgainAsync()
    {
        if (Process is { HasExited: false })
        {
            throw new InvalidOperationException("the gateway is already running");
        }

        if (Process is not null)
        {
            await Process.DisposeAsync();
            Process = null;
        }

        Process = await PosternProcess.StartAsync(Configuration, Directory, Endpoints);
    }

    /// <summary>Every committed message in the spool.</summary>
    public IReadOnlyList<StoredMessage> ReadSpool() => SpoolFiles.ReadQueue(DataDirectory);

    /// <summary>One committed message by queue id.</summary>
    public StoredMessage ReadSpool(string queueId) => SpoolFiles.Read(DataDirectory, queueId);

    /// <summary>Kills the process and removes the working directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Process is not null)
        {
            await Process.DisposeAsync();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A mount still in place is reported by the test that made it.
        }
    }
}

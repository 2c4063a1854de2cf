using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>
/// A gateway process that delivers (<c>queue.hold</c> false) for the delivery interop tests: host
/// name <c>mx.gateway.test</c>, one STARTTLS listener asking for client certificates on
/// 127.0.0.8:25, the organization Fabrikam (<c>fabrikam.example</c>) with its own certificate (server
/// and client use, so it is what Postern presents to servers that ask), an OnPremises inbound
/// connector for 127.0.0.0/8 (so it may relay), the outbound connectors a test gives, short retry
/// backoff, the TestPki root trusted and <c>gateway.dns.servers</c> always on loopback.
/// Disposing kills the process and deletes its directory.
/// </summary>
public sealed class DeliveryGateway : IAsyncDisposable
{
    /// <summary>Banner/EHLO name and the default certificate's name.</summary>
    public const string HostName = "mx.gateway.test";

    /// <summary>The organization's certificate name (presented as the client certificate).</summary>
    public const string OrganizationName = "mail.fabrikam.example";

    /// <summary>The organization's accepted domain.</summary>
    public const string AcceptedDomain = "fabrikam.example";

    /// <summary>The listener (STARTTLS, client certificates requested).</summary>
    public static readonly IPEndPoint Endpoint = IPEndPoint.Parse("127.0.0.8:25");

    /// <summary>A loopback port where nothing answers DNS, for tests that must not resolve anything.</summary>
    public const string NoDns = "127.0.0.1:9";

    private DeliveryGateway(string directory, object configuration, IssuedCertificate organizationCertificate)
    {
        Directory = directory;
        Configuration = configuration;
        OrganizationCertificate = organizationCertificate;
    }

    /// <summary>Working directory: <c>postern.json</c> and <c>var/</c>.</summary>
    public string Directory { get; }

    /// <summary><c>gateway.dataDirectory</c>.</summary>
    public string DataDirectory => Path.Combine(Directory, "var");

    /// <summary>The configuration written to <c>postern.json</c>.</summary>
    public object Configuration { get; }

    /// <summary>Fabrikam's certificate (serverAuth and clientAuth).</summary>
    public IssuedCertificate OrganizationCertificate { get; }

    /// <summary>The running process (null when stopped).</summary>
    public PosternProcess? Process { get; private set; }

    /// <summary>The running process; fails when there is none.</summary>
    public PosternProcess Running => Process ?? throw new InvalidOperationException("the gateway is not running");

    /// <summary>Both output streams of the process (also after it was killed).</summary>
    public string Output => Process is null ? "" : Process.StandardOutput + Process.StandardError;

    /// <summary>Writes the configuration and starts the gateway.</summary>
    /// <param name="pki">The run's PKI.</param>
    /// <param name="outboundConnectors">Fabrikam's outbound connectors (anonymous objects in the configuration's shape).</param>
    /// <param name="dnsServer">A <c>gateway.dns.servers</c> entry; defaults to <see cref="NoDns"/>.</param>
    /// <param name="minimumBackoffSeconds"><c>gateway.queue.minimumBackoffSeconds</c>.</param>
    public static async Task<DeliveryGateway> StartAsync(TestPki pki, object[] outboundConnectors, string? dnsServer = null, int minimumBackoffSeconds = 2)
    {
        LoopbackAddresses.Ensure(Endpoint.Address.ToString());
        var gatewayCertificate = pki.IssueServer(HostName, HostName, "*.gateway.test");
        var organizationCertificate = pki.Issue(OrganizationName, [], TestKeyType.Rsa, TestCertificateUsage.ServerAndClient);
        string directory = System.IO.Directory.CreateTempSubdirectory("postern-delivery-").FullName;
        var configuration = new
        {
            gateway = new
            {
                hostName = HostName,
                dataDirectory = "var",
                listeners = new object[] { new { endpoint = Endpoint.ToString(), security = "StartTls", requestClientCertificate = true } },
                certificates = new[] { new { certificateFile = gatewayCertificate.FullChainPath, keyFile = gatewayCertificate.KeyPath } },
                trust = new { useSystemStore = false, additionalRoots = new[] { pki.RootCertificatePath } },
                dns = new { servers = new[] { dnsServer ?? NoDns }, timeoutSeconds = 2 },
                limits = new { shutdownGraceSeconds = 5 },
                queue = new
                {
                    hold = false,
                    minimumBackoffSeconds,
                    maximumBackoffSeconds = minimumBackoffSeconds * 2,
                },
            },
            organizations = new[]
            {
                new
                {
                    name = "Fabrikam",
                    acceptedDomains = new[] { AcceptedDomain },
                    certificates = new[] { new { certificateFile = organizationCertificate.FullChainPath, keyFile = organizationCertificate.KeyPath } },
                    inboundConnectors = new object[]
                    {
                        new { name = "Fabrikam servers", connectorType = "OnPremises", senderIPAddresses = new[] { "127.0.0.0/8" } },
                    },
                    outboundConnectors,
                },
            },
        };
        var gateway = new DeliveryGateway(directory, configuration, organizationCertificate);
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

    /// <summary>Starts the process again on the same configuration and data directory (after a kill).</summary>
    public async Task StartAgainAsync()
    {
        if (Process is { HasExited: false })
        {
            throw new InvalidOperationException("the gateway is already running");
        }

        string previous = Output;
        if (Process is not null)
        {
            await Process.DisposeAsync();
        }

        Process = await PosternProcess.StartAsync(Configuration, Directory, Endpoint);
        EarlierOutput += previous;
    }

    /// <summary>Output of processes that ran before the current one.</summary>
    public string EarlierOutput { get; private set; } = "";

    /// <summary>Queue ids in <c>spool/queue</c>.</summary>
    public IReadOnlyList<string> QueueIds => SpoolFiles.ListQueue(DataDirectory);

    /// <summary>The delivery state file <c>spool/state/ID</c> as JSON, or null when there is none (docs/spool.md).</summary>
    public JsonElement? ReadState(string queueId)
    {
        string path = Path.Combine(DataDirectory, "spool", "state", queueId);
        if (!File.Exists(path))
        {
            return null;
        }

        string text = File.ReadAllText(path);
        Assert.StartsWith("POSTERN-STATE 1\n", text, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(text["POSTERN-STATE 1\n".Length..]);
        return document.RootElement.Clone();
    }

    /// <summary>Waits until the queue holds exactly one message and returns its id.</summary>
    public async Task<string> WaitForSingleQueuedAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var ids = QueueIds;
            if (ids.Count == 1)
            {
                return ids[0];
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{ids.Count} message(s) queued, expected 1\n{Running.Describe()}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Waits until the queue is empty (every message delivered and removed).</summary>
    public async Task WaitForEmptyQueueAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (QueueIds.Count > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{QueueIds.Count} message(s) still queued after {timeout.TotalSeconds:0}s\n{Running.Describe()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Waits until the gateway's output matches <paramref name="pattern"/>.</summary>
    public Task<Match> WaitForLogAsync(Regex pattern, TimeSpan timeout) => Running.WaitForOutputAsync(pattern, timeout);

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
        }
    }
}

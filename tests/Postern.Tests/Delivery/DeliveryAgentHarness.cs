using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Spool;
using Postern.Telemetry;
using Postern.Tests.Support;
using Postern.Tls;

namespace Postern.Tests.Delivery;

/// <summary>
/// A <see cref="DeliveryAgent"/> as the gateway builds it, a spool to read messages from, and a test
/// CA whose root is the only trusted one. Smart hosts are IP literals, so nothing is looked up.
/// </summary>
internal sealed class DeliveryAgentHarness : IAsyncDisposable
{
    public const string Connector = "To Partner";

    private readonly TempDirectory _directory = new("postern-agent");

    /// <param name="logger">Where the agent logs; nowhere when null.</param>
    public DeliveryAgentHarness(PosternMetrics? metrics = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        Authority = new TestCertificateAuthority(_directory.Combine("ca"));
        Spool = new MessageSpool(_directory.Combine("spool"));
        Trust = TrustPolicy.Load(false, [Authority.RootFile]);
        // The resolver is never asked (IP-literal smart hosts); its server is a closed loopback port all the same.
        var resolver = new MxResolver(new DnsSettings { Servers = ["127.0.0.1:9"] });
        Agent = new DeliveryAgent("client.postern.test", resolver, _ => Trust, _ => null, new SmtpClientLimits(), logger ?? NullLogger.Instance, metrics: metrics);
    }

    public TestCertificateAuthority Authority { get; }
    public MessageSpool Spool { get; }
    public TrustPolicy Trust { get; }
    public DeliveryAgent Agent { get; }

    public string Combine(string name) => _directory.Combine(name);

    public static DeliveryRoute Route(FakeSmtpServer server, TlsLevel level, string? tlsDomain = null) => new()
    {
        Connector = Connector,
        Organization = "Fabrikam",
        Domain = "partner.test",
        TlsLevel = level,
        TlsDomain = tlsDomain,
        SmartHosts = [server.SmartHost],
    };

    public static Envelope Envelope(string queueId, params string[] recipients) => new()
    {
        QueueId = queueId,
        Sender = "alice@fabrikam.test",
        Recipients = recipients.Select(r => new EnvelopeRecipient { Address = r }).ToList(),
        ClientAddress = "127.0.0.1",
        HeloName = "client.test",
        Protocol = "ESMTP",
        Listener = "127.0.0.1:25",
        ReceivedAt = DateTimeOffset.UtcNow,
    };

    public static byte[] Message(string body = "Hello.\r\n") => Encoding.UTF8.GetBytes(
        "From: alice@fabrikam.test\r\nTo: bob@partner.test\r\nSubject: test\r\nMessage-ID: <t@fabrikam.test>\r\n\r\n" + body);

    /// <summary>Spools the message and delivers it once along <paramref name="route"/>.</summary>
    public async Task<DeliveryAttemptResult> DeliverAsync(DeliveryRoute route, byte[]? content = null, Func<Envelope, Envelope>? envelope = null, params string[] recipients)
    {
        string id = Spool.NewQueueId();
        Envelope e = Envelope(id, recipients.Length == 0 ? ["bob@partner.test"] : recipients);
        if (envelope is not null) e = envelope(e);
        await using (SpoolWriter writer = Spool.CreateWriter(e))
        {
            await writer.WriteAsync(content ?? Message());
            await writer.CommitAsync();
        }
        var job = new DeliveryJob(id, e, route, Enumerable.Range(0, e.Recipients.Count).ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await Agent.DeliverAsync(job, () => Spool.Open(id), timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        await Spool.DisposeAsync();
        _directory.Dispose();
    }
}

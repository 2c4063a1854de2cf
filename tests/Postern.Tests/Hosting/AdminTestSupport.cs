using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Postern.Configuration;
using Postern.Hosting;
using Postern.Tests.Receiving;
using Postern.Tests.Support;

namespace Postern.Tests.Hosting;

/// <summary>Gateways with an admin endpoint, mail submitted over SMTP, and HTTP clients for the endpoint.</summary>
internal static class AdminTestSupport
{
    /// <summary>A gateway whose admin endpoint is <paramref name="adminEndpoint"/> (default: loopback, a port the kernel chooses).</summary>
    public static Task<TestGateway> StartAsync(string adminEndpoint = "127.0.0.1:0", bool hold = true, Func<PosternConfiguration, PosternConfiguration>? customize = null) =>
        TestGateway.StartAsync(customize: c =>
        {
            c = c with { Gateway = c.Gateway with { Admin = new AdminSettings { Endpoint = adminEndpoint }, Queue = c.Gateway.Queue with { Hold = hold } } };
            return customize is null ? c : customize(c);
        });

    /// <summary>
    /// Delivering (not held), with an outbound connector for partner.test whose smart host is a
    /// loopback port nobody listens on: every attempt is refused and deferred.
    /// </summary>
    public static Task<TestGateway> StartDeferringAsync(string adminEndpoint = "127.0.0.1:0") =>
        StartAsync(adminEndpoint, hold: false, customize: c => c with
        {
            Organizations =
            [
                c.Organizations[0] with
                {
                    OutboundConnectors =
                    [
                        new OutboundConnectorSettings
                        {
                            Name = "To Partner",
                            RecipientDomains = ["partner.test"],
                            UseMxRecord = false,
                            SmartHosts = [$"[127.0.0.1]:{UnusedPort()}"],
                        },
                    ],
                },
            ],
        });

    /// <summary>A loopback port that was free a moment ago (bound, then released).</summary>
    public static int UnusedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Sends one message (optionally after STARTTLS) and returns its queue id from the 250 reply.</summary>
    public static async Task<string> SendAsync(IPEndPoint endpoint, string sender, IReadOnlyList<string> recipients, string subject, bool startTls = false)
    {
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(endpoint);
        Assert.StartsWith("220", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.test"));
        if (startTls)
        {
            Assert.StartsWith("220", await client.CommandAsync("STARTTLS"));
            await client.StartTlsAsync("mx.gateway.test");
            Assert.StartsWith("250", await client.CommandAsync("EHLO client.test"));
        }
        Assert.StartsWith("250", await client.CommandAsync($"MAIL FROM:<{sender}>"));
        foreach (string recipient in recipients)
            Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<{recipient}>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        string reply = await client.CommandAsync($"From: <{sender}>\r\nTo: <{recipients[0]}>\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\nThe body is not a header.\r\n.");
        Assert.StartsWith("250", reply);
        Assert.StartsWith("221", await client.CommandAsync("QUIT"));
        // "250 2.0.0 Ok: queued as ID"
        return reply.Split(' ')[^1];
    }

    /// <summary>An HTTP client for the admin endpoint, over TCP or its Unix socket.</summary>
    public static HttpClient Client(EndPoint endpoint)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = endpoint is UnixDomainSocketEndPoint
                    ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                    : new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(endpoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public static HttpClient Client(TestGateway gateway) => Client(gateway.Gateway.AdminEndpoint!.LocalEndPoint);

    /// <summary>Sends a request; returns the status and the parsed JSON body.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Json, string Text)> RequestAsync(HttpClient client, HttpMethod method, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        using HttpResponseMessage response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using JsonDocument document = JsonDocument.Parse(text);
        return (response.StatusCode, document.RootElement.Clone(), text);
    }

    /// <summary>Polls <c>GET /queue</c> until <paramref name="done"/> holds for the listing.</summary>
    public static async Task<JsonElement> WaitForListingAsync(HttpClient client, Func<JsonElement, bool> done, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var (_, json, text) = await RequestAsync(client, HttpMethod.Get, "/queue");
            if (done(json)) return json;
            if (DateTime.UtcNow > deadline) Assert.Fail("the queue did not reach the expected state:\n" + text);
            await Task.Delay(100);
        }
    }
}

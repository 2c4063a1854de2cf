using System.Net;
using Postern.Hosting;
using Postern.Tests.Hosting;
using Postern.Tests.Support;
using Postern.Tracing;

namespace Postern.Tests.Telemetry;

/// <summary>
/// A real gateway with its admin endpoint: mail sent over STARTTLS, then <c>GET /metrics</c> with a
/// real HTTP client, parsed as Prometheus text.
/// </summary>
public sealed class GatewayMetricsTests
{
    private static async Task<PrometheusText> ScrapeAsync(HttpClient client)
    {
        using HttpResponseMessage response = await client.GetAsync(AdminEndpointMetricsRoutes.Path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True("text/plain" == response.Content.Headers.ContentType?.MediaType, $"[{response.Content.Headers.ContentType}] [{body}]");
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Scrapes until <paramref name="done"/> holds (sessions end a moment after QUIT).</summary>
    private static async Task<PrometheusText> ScrapeUntilAsync(HttpClient client, Func<PrometheusText, bool> done)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            PrometheusText metrics = await ScrapeAsync(client);
            if (done(metrics)) return metrics;
            if (DateTime.UtcNow > deadline) Assert.Fail("the metrics did not reach the expected state:\n" + string.Join('\n', metrics.Samples));
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_starttls_session_that_sends_a_message_moves_the_session_handshake_and_commit_series()
    {
        await using TestGateway gateway = await AdminTestSupport.StartAsync();
        using HttpClient client = AdminTestSupport.Client(gateway);
        string listener = gateway.StartTls.ToString();

        PrometheusText before = await ScrapeAsync(client);
        Assert.Null(before.Value("postern_smtp_sessions_total", ("listener", listener)));

        await AdminTestSupport.SendAsync(gateway.StartTls, "alice@client.test", ["bob@fabrikam.test"], "metrics", startTls: true);

        PrometheusText after = await ScrapeUntilAsync(client, m => m.Value("postern_smtp_sessions_active", ("listener", listener)) == 0);
        Assert.Equal("counter", after.Types["postern_smtp_sessions_total"]);
        Assert.Equal("gauge", after.Types["postern_smtp_sessions_active"]);
        Assert.Equal(1, after.Value("postern_smtp_sessions_total", ("listener", listener)));
        Assert.Null(after.Value("postern_smtp_sessions_total", ("listener", gateway.Plain.ToString())));

        // The test client presents no certificate: Postfix's word for that is Anonymous.
        PrometheusSample handshake = Assert.Single(after.Named("postern_tls_handshakes_total"));
        Assert.True(handshake.Has(("direction", "inbound"), ("outcome", "Anonymous")), string.Join(", ", handshake.Labels));
        Assert.StartsWith("TLSv1.", handshake.Labels["version"], StringComparison.Ordinal);
        Assert.StartsWith("TLS_", handshake.Labels["cipher"], StringComparison.Ordinal);
        Assert.Equal(1, handshake.Value);

        Assert.Equal("histogram", after.Types["postern_spool_commit_duration_seconds"]);
        Assert.Equal(1, after.Value("postern_spool_commit_duration_seconds_count"));
        Assert.Equal(1, after.Value("postern_spool_commit_duration_seconds_bucket", ("le", "+Inf")));
        // The message event reaches the metrics through the gateway's event sinks.
        Assert.Equal(1, after.Value("postern_messages_received_total", ("connector", "Loopback")));
    }

    [Fact]
    public async Task A_client_that_speaks_plain_text_to_the_implicit_tls_listener_counts_a_failed_inbound_handshake()
    {
        await using TestGateway gateway = await AdminTestSupport.StartAsync();
        using HttpClient client = AdminTestSupport.Client(gateway);
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            await socket.ConnectAsync(gateway.ImplicitTls);
            await socket.SendAsync("EHLO client.test\r\n\r\n\r\n"u8.ToArray());
            var buffer = new byte[256];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (await socket.ReceiveAsync(buffer, timeout.Token) > 0)
            {
                // Whatever the server answers, it closes.
            }
        }

        PrometheusText metrics = await ScrapeUntilAsync(client, m => m.Named("postern_tls_handshakes_total").Any());
        PrometheusSample handshake = Assert.Single(metrics.Named("postern_tls_handshakes_total"));
        Assert.True(handshake.Has(("direction", "inbound"), ("version", "none"), ("cipher", "none"), ("outcome", "failed")), string.Join(", ", handshake.Labels));
        Assert.Equal(1, metrics.Value("postern_smtp_sessions_total", ("listener", gateway.ImplicitTls.ToString())));
    }

    [Fact]
    public async Task Message_events_on_the_gateways_metrics_sink_are_served_by_connector_and_outcome()
    {
        await using TestGateway gateway = await AdminTestSupport.StartAsync();
        using HttpClient client = AdminTestSupport.Client(gateway);
        ITraceSink sink = gateway.Gateway.Metrics.TraceSink;
        DateTimeOffset now = DateTimeOffset.UtcNow;
        sink.Record(new TraceEvent { Time = now, Kind = TraceEventKind.Received, QueueId = "Q1", Connector = "Loopback" });
        sink.Record(new TraceEvent { Time = now, Kind = TraceEventKind.Delivered, QueueId = "Q1", Connector = "To Partner", DurationMs = 3_000 });
        sink.Record(new TraceEvent { Time = now, Kind = TraceEventKind.Deferred, QueueId = "Q1", Connector = "To Partner", DurationMs = 4_000 });

        PrometheusText metrics = await ScrapeAsync(client);
        Assert.Equal(1, metrics.Value("postern_messages_received_total", ("connector", "Loopback")));
        Assert.Equal(1, metrics.Value("postern_delivery_recipients_total", ("connector", "To Partner"), ("outcome", "delivered")));
        Assert.Equal(1, metrics.Value("postern_delivery_recipients_total", ("connector", "To Partner"), ("outcome", "deferred")));
        // 3 s falls in the 5 s bucket, not the 2.5 s one; the buckets reach a day.
        Assert.Equal(0, metrics.Value("postern_delivery_duration_seconds_bucket", ("le", "2.5")));
        Assert.Equal(1, metrics.Value("postern_delivery_duration_seconds_bucket", ("le", "5")));
        Assert.Equal(1, metrics.Value("postern_delivery_duration_seconds_bucket", ("le", "86400")));
        Assert.Equal(3, metrics.Value("postern_delivery_duration_seconds_sum"));
    }

    [Fact]
    public async Task The_queue_gauges_show_a_deferred_message_and_its_age()
    {
        await using TestGateway gateway = await AdminTestSupport.StartDeferringAsync();
        using HttpClient client = AdminTestSupport.Client(gateway);
        PrometheusText empty = await ScrapeAsync(client);
        Assert.Equal(0, empty.Value("postern_queue_messages"));
        Assert.Equal(0, empty.Value("postern_queue_oldest_message_age_seconds"));

        await AdminTestSupport.SendAsync(gateway.Plain, "alice@fabrikam.test", ["bob@partner.test"], "waits");
        await Task.Delay(1100);
        PrometheusText waiting = await ScrapeUntilAsync(client, m => m.Value("postern_queue_messages") == 1);
        Assert.InRange(waiting.Value("postern_queue_oldest_message_age_seconds") ?? -1, 1, 60);
    }

    [Fact]
    public async Task A_held_queue_has_no_queue_gauges()
    {
        await using TestGateway gateway = await AdminTestSupport.StartAsync(hold: true);
        using HttpClient client = AdminTestSupport.Client(gateway);
        PrometheusText metrics = await ScrapeAsync(client);
        Assert.Empty(metrics.Named("postern_queue_messages"));
    }

    [Fact]
    public async Task Two_gateways_in_one_process_each_serve_their_own_series_and_a_restarted_gateway_serves_again()
    {
        await using TestGateway first = await AdminTestSupport.StartAsync();
        await using TestGateway second = await AdminTestSupport.StartAsync();
        await AdminTestSupport.SendAsync(first.Plain, "alice@client.test", ["bob@fabrikam.test"], "first");

        using (HttpClient client = AdminTestSupport.Client(second))
        {
            PrometheusText metrics = await ScrapeAsync(client);
            Assert.Empty(metrics.Named("postern_smtp_sessions_total"));
        }
        using (HttpClient client = AdminTestSupport.Client(first))
        {
            PrometheusText metrics = await ScrapeUntilAsync(client, m => m.Value("postern_smtp_sessions_active", ("listener", first.Plain.ToString())) == 0);
            Assert.Equal(1, metrics.Value("postern_smtp_sessions_total", ("listener", first.Plain.ToString())));
        }

        await first.RestartAsync();
        await AdminTestSupport.SendAsync(first.Plain, "alice@client.test", ["bob@fabrikam.test"], "after restart");
        using (HttpClient client = AdminTestSupport.Client(first))
        {
            PrometheusText metrics = await ScrapeUntilAsync(client, m => m.Value("postern_smtp_sessions_active", ("listener", first.Plain.ToString())) == 0);
            Assert.Equal(1, metrics.Value("postern_smtp_sessions_total", ("listener", first.Plain.ToString())));
            Assert.Equal(1, metrics.Value("postern_spool_commit_duration_seconds_count"));
        }
    }
}

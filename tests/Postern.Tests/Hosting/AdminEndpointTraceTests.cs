using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Hosting;
using Postern.Tests.Support;
using Postern.Tests.Tracing;
using static Postern.Tests.Hosting.AdminTestSupport;
using static Postern.Tests.Tracing.TraceStory;

namespace Postern.Tests.Hosting;

/// <summary><c>GET /trace</c> and <c>GET /report/tls</c> over real HTTP, against a real trace database.</summary>
public sealed class AdminEndpointTraceTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new("postern-trace");
    private TraceDatabase _database = null!;
    private AdminEndpoint _endpoint = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _database = new TraceDatabase(_directory.Combine("var"));
        Seed(_database);
        _endpoint = await AdminEndpoint.StartAsync("127.0.0.1:0", [new AdminEndpointTraceRoutes(_database.DataDirectory, TimeProvider.System)], NullLoggerFactory.Instance);
        _client = Client(_endpoint.LocalEndPoint);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _endpoint.DisposeAsync();
        _database.Dispose();
        _directory.Dispose();
    }

    [Fact(Timeout = 60_000)]
    public async Task Trace_answers_the_matching_messages_as_JSON()
    {
        var (status, json, text) = await RequestAsync(_client, HttpMethod.Get, "/trace?sender=*%40corp.example&status=delivered&since=7d");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, json.GetProperty("count").GetInt32());
        Assert.False(json.GetProperty("more").GetBoolean());
        JsonElement first = json.GetProperty("messages")[0];
        Assert.Equal(M3, first.GetProperty("queueId").GetString());
        Assert.Equal("delivered", first.GetProperty("status").GetString());
        Assert.Equal("frank@plain.example", first.GetProperty("recipients")[0].GetString());
        Assert.Equal("m3@corp.example", first.GetProperty("messageId").GetString());
        Assert.False(first.TryGetProperty("events", out _), text);
    }

    [Fact(Timeout = 60_000)]
    public async Task Trace_with_details_gives_the_events_with_kinds_as_words()
    {
        var (status, json, text) = await RequestAsync(_client, HttpMethod.Get, "/trace?messageId=%3Cm1%40corp.example%3E&details=true");

        Assert.Equal(HttpStatusCode.OK, status);
        JsonElement[] events = [.. json.GetProperty("messages")[0].GetProperty("events").EnumerateArray()];
        Assert.Equal(["received", "queued", "attempt", "delivered"], events.Select(e => e.GetProperty("kind").GetString()));
        JsonElement attempt = events[2];
        Assert.Equal("mx.fabrikam.example", attempt.GetProperty("remoteHost").GetString());
        Assert.Equal("Verified", attempt.GetProperty("verification").GetString());
        Assert.Equal(FabrikamSha, attempt.GetProperty("certificateSha256").GetString());
        Assert.Equal(["mx.fabrikam.example", "fabrikam.example"], attempt.GetProperty("certificateNames").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(120, attempt.GetProperty("durationMs").GetInt64());
    }

    [Theory(Timeout = 60_000)]
    [InlineData("/trace?status=sent", "unknown status \"sent\": expected one of received, queued, deferred, delivered, bounced, expired, deleted, rejected")]
    [InlineData("/trace?since=soon", "since \"soon\" is not a time: expected ISO 8601 (2026-11-29, 2026-11-29T05:00:00Z) or a span back from now (7d, 12h, 30m)")]
    [InlineData("/trace?limit=lots", "limit \"lots\" is not a number")]
    [InlineData("/trace?limit=0", "limit 0 is out of range: expected 1 to 10000")]
    [InlineData("/report/tls?since=1d&until=2d", "until (")]
    public async Task A_bad_query_is_400_with_the_reason(string path, string error)
    {
        var (status, json, _) = await RequestAsync(_client, HttpMethod.Get, path);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith(error, json.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task The_TLS_report_counts_per_domain_and_connector()
    {
        var (status, json, text) = await RequestAsync(_client, HttpMethod.Get, "/report/tls?since=7d");

        Assert.Equal(HttpStatusCode.OK, status);
        JsonElement fabrikam = json.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("domain").GetString() == "fabrikam.example");
        Assert.Equal("Fabrikam", fabrikam.GetProperty("connector").GetString());
        Assert.Equal(1, fabrikam.GetProperty("verified").GetInt32());
        Assert.Equal(2, fabrikam.GetProperty("held").GetInt32());
        Assert.Equal(3, fabrikam.GetProperty("recipients").GetInt32());
        JsonElement plain = json.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("domain").GetString() == "plain.example");
        Assert.False(plain.TryGetProperty("connector", out _), text);
        Assert.Equal(1, plain.GetProperty("noTls").GetInt32());
        JsonElement total = json.GetProperty("total");
        Assert.Equal((1, 1, 1, 2, 2), (total.GetProperty("verified").GetInt32(), total.GetProperty("unverified").GetInt32(), total.GetProperty("noTls").GetInt32(),
            total.GetProperty("held").GetInt32(), total.GetProperty("failed").GetInt32()));
        Assert.Contains(json.GetProperty("reasons").EnumerateArray(), r => r.GetProperty("reason").GetString() == "454 4.7.5 certificate expired 2026-01-01" && r.GetProperty("policy").GetBoolean());
        Assert.InRange(json.GetProperty("until").GetDateTimeOffset() - json.GetProperty("since").GetDateTimeOffset(), TimeSpan.FromDays(7), TimeSpan.FromDays(7).Add(TimeSpan.FromSeconds(1)));
    }

    [Fact(Timeout = 60_000)]
    public async Task Without_a_trace_database_503_says_where_it_looked()
    {
        string elsewhere = _directory.Combine("empty");
        await using AdminEndpoint endpoint = await AdminEndpoint.StartAsync("127.0.0.1:0", [new AdminEndpointTraceRoutes(elsewhere, TimeProvider.System)], NullLoggerFactory.Instance);
        using HttpClient client = Client(endpoint.LocalEndPoint);

        var (status, json, _) = await RequestAsync(client, HttpMethod.Get, "/trace");
        var (reportStatus, _, _) = await RequestAsync(client, HttpMethod.Get, "/report/tls");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal($"no trace database at {Path.Combine(elsewhere, "trace", "trace.db")} (the gateway creates it when it records its first event)", json.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, reportStatus);
    }

    [Fact(Timeout = 60_000)]
    public async Task The_gateway_serves_its_data_directory_trace_on_its_admin_endpoint()
    {
        await using TestGateway gateway = await StartAsync(customize: c =>
        {
            using var database = new TraceDatabase(c.Gateway.DataDirectory);
            Seed(database);
            return c;
        });
        using HttpClient client = Client(gateway);

        var (status, json, text) = await RequestAsync(client, HttpMethod.Get, "/trace?recipient=ERIN%40fabrikam.example");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(M2, json.GetProperty("messages")[0].GetProperty("queueId").GetString());
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Hosting;
using Postern.Tests.Interop;
using Postern.Tests.Support;
using Postern.Tests.Tracing;
using static Postern.Tests.Hosting.AdminTestSupport;
using static Postern.Tests.Tracing.TraceStory;

namespace Postern.Tests.Cli;

/// <summary>
/// <c>postern trace</c> and <c>postern report tls</c> as a real process, over a real trace
/// database: read directly, through an admin endpoint, and falling back when it is unreachable.
/// </summary>
public sealed class TraceCommandTests : IDisposable
{
    private readonly TempDirectory _directory = new("postern-trace-cli");
    private readonly DateTimeOffset _now;

    public TraceCommandTests()
    {
        using var database = new TraceDatabase(_directory.Combine("var"));
        _now = Seed(database);
    }

    public void Dispose() => _directory.Dispose();

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string EventTime(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);

    [Fact(Timeout = 120_000)]
    public async Task One_line_per_message_newest_first()
    {
        var result = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--data-dir", "var");

        Assert.True(result.ExitCode == 0, result.Describe());
        string[] lines = result.StandardOutput.TrimEnd('\n').Split('\n');
        Assert.Equal(8, lines.Length);
        Assert.Equal([M6, M5, M8, M4, M3, M2, M1, M7], lines.Select(l => l.Split("  ")[1]));
        Assert.Equal($"{Time(_now.AddDays(-3).AddSeconds(2.2))}  {M1}  delivered  alice@corp.example → bob@fabrikam.example  via Internal  <m1@corp.example>", lines[6]);
        Assert.Equal($"{Time(_now.AddDays(-2).AddMinutes(31).AddMilliseconds(5))}  {M2}  deferred   Carol@Corp.Example → dave@contoso.example, erin@fabrikam.example  via Internal  <m2@corp.example>", lines[5]);
        Assert.Equal($"{Time(_now.AddHours(-10).AddSeconds(1.1))}  {M4}  bounced    <> → grace@contoso.example  via Internal", lines[3]);
        Assert.Equal("", result.StandardError);
    }

    [Fact(Timeout = 120_000)]
    public async Task Details_print_every_event_with_its_TLS_facts()
    {
        var result = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--data-dir", "var", "--message-id", "<m2@corp.example>", "--details");

        Assert.True(result.ExitCode == 0, result.Describe());
        string[] lines = result.StandardOutput.TrimEnd('\n').Split('\n');
        DateTimeOffset m2 = _now.AddDays(-2);
        Assert.Equal(
            [
                $"{Time(m2.AddMinutes(31).AddMilliseconds(5))}  {M2}  deferred   Carol@Corp.Example → dave@contoso.example, erin@fabrikam.example  via Internal  <m2@corp.example>",
                $"    {EventTime(m2)}  received   from relay.corp.example[10.1.2.3] no TLS via Internal sender Carol@Corp.Example size=4096 <m2@corp.example>",
                $"    {EventTime(m2.AddMilliseconds(5))}  queued     dave@contoso.example",
                $"    {EventTime(m2.AddMilliseconds(6))}  queued     erin@fabrikam.example",
                $"    {EventTime(m2.AddSeconds(1))}  attempt    mail.contoso.example[198.51.100.7] TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 Untrusted CN=mail.contoso.example sha256={new string('C', 64)} 250 2.0.0 Ok (80 ms) [Contoso, Opportunistic]",
                $"    {EventTime(m2.AddSeconds(1.1))}  delivered  dave@contoso.example via Contoso mail.contoso.example[198.51.100.7] TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 Untrusted 250 2.0.0 Ok (delay=1.5s)",
                $"    {EventTime(m2.AddMinutes(1))}  attempt    mx.fabrikam.example[192.0.2.4] TLSv1.3 TLS_AES_256_GCM_SHA384 Untrusted CN=mx.fabrikam.example sha256={FabrikamSha} {CertificateExpired} (95 ms) [Fabrikam, DomainValidation]",
                $"    {EventTime(m2.AddMinutes(1).AddMilliseconds(5))}  deferred   erin@fabrikam.example via Fabrikam mx.fabrikam.example[192.0.2.4] {CertificateExpired} (delay=1.5s)",
                $"    {EventTime(m2.AddMinutes(31))}  attempt    mx.fabrikam.example[192.0.2.4] TLSv1.3 TLS_AES_256_GCM_SHA384 Untrusted CN=mx.fabrikam.example sha256={FabrikamSha} {CertificateExpired} (95 ms) [Fabrikam, DomainValidation]",
                $"    {EventTime(m2.AddMinutes(31).AddMilliseconds(5))}  deferred   erin@fabrikam.example via Fabrikam mx.fabrikam.example[192.0.2.4] {CertificateExpired} (delay=1.5s)",
            ],
            lines);
    }

    [Fact(Timeout = 120_000)]
    public async Task Filters_relative_times_limit_and_JSON()
    {
        var recent = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--data-dir", "var", "--since", "12h", "--status", "DEFERRED");
        var json = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--data-dir", "var", "--recipient", "*@fabrikam.example", "--until", "1d", "--limit", "1", "--json");

        Assert.True(recent.ExitCode == 0, recent.Describe());
        Assert.Equal(M6, Assert.Single(recent.StandardOutput.TrimEnd('\n').Split('\n')).Split("  ")[1]);
        Assert.True(json.ExitCode == 0, json.Describe());
        using JsonDocument document = JsonDocument.Parse(json.StandardOutput);
        Assert.Equal(M2, document.RootElement.GetProperty("messages")[0].GetProperty("queueId").GetString());
        Assert.True(document.RootElement.GetProperty("more").GetBoolean());
    }

    [Theory(Timeout = 120_000)]
    [InlineData(new[] { "--since", "soon" }, "postern: --since \"soon\" is not a time: expected ISO 8601 (2026-11-29, 2026-11-29T05:00:00Z) or a span back from now (7d, 12h, 30m)\n")]
    [InlineData(new[] { "--status", "sent" }, "postern: unknown status \"sent\": expected one of received, queued, deferred, delivered, bounced, expired, deleted, rejected\n")]
    [InlineData(new[] { "--limit", "0" }, "postern: limit 0 is out of range: expected 1 to 10000\n")]
    public async Task A_bad_filter_exits_1_with_a_message(string[] arguments, string message)
    {
        var result = await PosternProcess.RunCliAsync(_directory.Path, ["trace", "--data-dir", "var", .. arguments]);

        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Equal(message, result.StandardError);
        Assert.Equal("", result.StandardOutput);
    }

    [Fact(Timeout = 120_000)]
    public async Task No_database_exits_2_and_says_where_it_looked()
    {
        var trace = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--data-dir", "nothing-here");
        var report = await PosternProcess.RunCliAsync(_directory.Path, "report", "tls", "--data-dir", "nothing-here");

        string expected = $"postern: no trace database at {_directory.Combine("nothing-here", "trace", "trace.db")} (the gateway creates it when it records its first event)\n";
        foreach (var result in new[] { trace, report })
        {
            Assert.True(result.ExitCode == 2, result.Describe());
            Assert.Equal(expected, result.StandardError);
            Assert.DoesNotContain("   at ", result.CombinedOutput, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Through_the_admin_endpoint_and_falling_back_to_the_data_directory_when_it_is_unreachable()
    {
        await using AdminEndpoint endpoint = await AdminEndpoint.StartAsync("127.0.0.1:0", [new AdminEndpointTraceRoutes(_directory.Combine("var"), TimeProvider.System)], NullLoggerFactory.Instance);
        // The data directory named here is empty: an answer proves it came through the endpoint.
        string running = WriteConfig("running.json", endpoint.Address, "elsewhere");
        string unused = $"127.0.0.1:{UnusedPort()}";
        string stopped = WriteConfig("stopped.json", unused, "var");

        var direct = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--data-dir", "var", "--sender", "*@corp.example", "--details");
        var viaEndpoint = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--config", running, "--sender", "*@corp.example", "--details");
        var reportDirect = await PosternProcess.RunCliAsync(_directory.Path, "report", "tls", "--data-dir", "var", "--since", "2026-01-01", "--until", "2100-01-01");
        var reportViaEndpoint = await PosternProcess.RunCliAsync(_directory.Path, "report", "tls", "--config", running, "--since", "2026-01-01", "--until", "2100-01-01");
        var fallback = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--config", stopped, "--sender", "*@corp.example", "--details");
        var refused = await PosternProcess.RunCliAsync(_directory.Path, "trace", "--config", running, "--sender", "*@");

        Assert.True(direct.ExitCode == 0, direct.Describe());
        Assert.True(viaEndpoint.ExitCode == 0, viaEndpoint.Describe());
        Assert.Equal(direct.StandardOutput, viaEndpoint.StandardOutput);
        Assert.Equal("", viaEndpoint.StandardError);
        Assert.Contains("  attempt    mx.fabrikam.example[192.0.2.4] TLSv1.3 TLS_AES_256_GCM_SHA384 Verified CN=mx.fabrikam.example", viaEndpoint.StandardOutput, StringComparison.Ordinal);
        Assert.True(reportViaEndpoint.ExitCode == 0, reportViaEndpoint.Describe());
        Assert.Equal(reportDirect.StandardOutput, reportViaEndpoint.StandardOutput);
        Assert.Contains("fabrikam.example   Fabrikam", reportViaEndpoint.StandardOutput, StringComparison.Ordinal);
        Assert.True(fallback.ExitCode == 0, fallback.Describe());
        Assert.Equal(direct.StandardOutput, fallback.StandardOutput);
        Assert.Equal($"postern: cannot reach the gateway's admin endpoint at {unused}: connection refused; reading {_directory.Combine("var", "trace", "trace.db")} directly.\n", fallback.StandardError);
        Assert.True(refused.ExitCode == 1, refused.Describe());
        Assert.Equal("postern: sender \"*@\": expected an address, or *@domain for every address at a domain\n", refused.StandardError);
    }

    [Fact(Timeout = 120_000)]
    public async Task Report_tls_prints_a_table_and_the_reasons()
    {
        var result = await PosternProcess.RunCliAsync(_directory.Path, "report", "tls", "--data-dir", "var", "--since", "7d");

        Assert.True(result.ExitCode == 0, result.Describe());
        string output = result.StandardOutput;
        Assert.Matches(new Regex(@"^Outbound TLS from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, per recipient by its last outcome\n\n"), output);
        Assert.Contains(
            """
            domain             connector           verified  unverified  no TLS  held  failed
            fabrikam.example   Fabrikam                   1           0       0     2       0
            contoso.example    Contoso                    0           1       0     0       1
            northwind.example  Northwind                  0           0       0     0       1
            plain.example      (MX, no connector)         0           0       1     0       0
            total                                         1           1       1     2       2

            Top reasons recipients were not delivered
              1  451 4.4.1 cannot connect to 192.0.2.9:25: connection refused
              1  454 4.7.4 TLS is required by connector "Fabrikam" (DomainValidation) but mx.fabrikam.example did not offer STARTTLS  [TLS policy]
              1  454 4.7.5 certificate expired 2026-01-01  [TLS policy]
              1  550 5.1.1 user unknown

            By domain and connector
              fabrikam.example via Fabrikam
                1  454 4.7.4 TLS is required by connector "Fabrikam" (DomainValidation) but mx.fabrikam.example did not offer STARTTLS  [TLS policy]
                1  454 4.7.5 certificate expired 2026-01-01  [TLS policy]
              contoso.example via Contoso
                1  550 5.1.1 user unknown
              northwind.example via Northwind
                1  451 4.4.1 cannot connect to 192.0.2.9:25: connection refused

            """.ReplaceLineEndings("\n"), output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task Report_tls_as_JSON_and_its_errors()
    {
        var json = await PosternProcess.RunCliAsync(_directory.Path, "report", "tls", "--data-dir", "var", "--since", "30d", "--json");
        var bad = await PosternProcess.RunCliAsync(_directory.Path, "report", "tls", "--data-dir", "var", "--since", "1d", "--until", "2d");

        Assert.True(json.ExitCode == 0, json.Describe());
        using JsonDocument document = JsonDocument.Parse(json.StandardOutput);
        Assert.Equal(2, document.RootElement.GetProperty("total").GetProperty("verified").GetInt32());
        Assert.Equal(8, document.RootElement.GetProperty("total").GetProperty("recipients").GetInt32());
        Assert.True(bad.ExitCode == 1, bad.Describe());
        Assert.StartsWith("postern: --until (", bad.StandardError, StringComparison.Ordinal);
        Assert.Contains(") is not after --since (", bad.StandardError, StringComparison.Ordinal);
    }

    private string WriteConfig(string name, string adminEndpoint, string dataDirectory)
    {
        string path = _directory.Combine(name);
        File.WriteAllText(path, $$"""
            { "gateway": { "dataDirectory": "{{dataDirectory}}", "listeners": [ { "endpoint": "127.0.0.1:2525", "security": "None" } ], "admin": { "endpoint": "{{adminEndpoint}}" } } }
            """);
        return path;
    }
}

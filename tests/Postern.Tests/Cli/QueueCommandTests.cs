using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Postern.Tests.Interop;
using Postern.Tests.Support;
using static Postern.Tests.Hosting.AdminTestSupport;

namespace Postern.Tests.Cli;

/// <summary>
/// <c>postern queue …</c> as a real process against a running gateway (in-process, or a real
/// <c>serve</c>): what an administrator reads, and the exit codes.
/// </summary>
public sealed partial class QueueCommandTests
{
    [Fact(Timeout = 120_000)]
    public async Task List_prints_a_block_per_message_with_each_recipient_status_and_reason_and_a_summary()
    {
        await using TestGateway gateway = await StartDeferringAsync();
        using var directory = new TempDirectory("postern-queue");
        string config = WriteConfig(directory, gateway);
        string deferred = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "deferred");
        using (HttpClient client = Client(gateway))
            await WaitForListingAsync(client, j => j.GetProperty("messages").EnumerateArray().Any(m => m.GetProperty("attempts").GetInt32() >= 1));

        var result = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--config", config);

        Assert.True(result.ExitCode == 0, result.Describe());
        string output = result.StandardOutput;
        Assert.Matches(new Regex($@"^{deferred}  \d+ bytes  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+s ago\)  from <alice@example.org>$", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^    deferred   bob@partner\.test  \(1 attempt, next in \d+m \d+s\)$", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^               4\d\d 4\.\d+\.\d+ .*refused", RegexOptions.Multiline | RegexOptions.IgnoreCase), output);
        Assert.Matches(new Regex(@"^-- 1 message, \d+ bytes in queue$", RegexOptions.Multiline), output);
        Assert.Equal("", result.StandardError);
    }

    [Fact(Timeout = 120_000)]
    public async Task List_json_and_show_json_pass_the_API_JSON_through()
    {
        await using TestGateway gateway = await StartAsync();
        using var directory = new TempDirectory("postern-queue");
        string config = WriteConfig(directory, gateway);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "as JSON");

        var list = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--json", "--config", config);
        var show = await PosternProcess.RunCliAsync(directory.Path, "queue", "show", id, "--json", "--config", config);

        Assert.True(list.ExitCode == 0, list.Describe());
        using JsonDocument listing = JsonDocument.Parse(list.StandardOutput);
        Assert.True(listing.RootElement.GetProperty("held").GetBoolean());
        Assert.Equal(id, listing.RootElement.GetProperty("messages")[0].GetProperty("id").GetString());
        Assert.True(show.ExitCode == 0, show.Describe());
        using JsonDocument entry = JsonDocument.Parse(show.StandardOutput);
        Assert.Equal("client.test", entry.RootElement.GetProperty("envelope").GetProperty("heloName").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task Show_prints_the_envelope_TLS_facts_recipients_and_headers()
    {
        await using TestGateway gateway = await StartAsync();
        using var directory = new TempDirectory("postern-queue");
        string config = WriteConfig(directory, gateway);
        string id = await SendAsync(gateway.StartTls, "alice@example.org", ["bob@partner.test", "carol@partner.test"], "shown", startTls: true);

        var result = await PosternProcess.RunCliAsync(directory.Path, "queue", "show", id, "--config", config);

        Assert.True(result.ExitCode == 0, result.Describe());
        string output = result.StandardOutput;
        Assert.StartsWith($"Message {id} (held)\n", output, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^  client      unknown \[127\.0\.0\.1\]:\d+, HELO client\.test$", RegexOptions.Multiline), output);
        Assert.Matches(new Regex(@"^  TLS         TLSv1\.[23] with cipher TLS_\w+ .*SNI mx\.gateway\.test, no client certificate$", RegexOptions.Multiline), output);
        Assert.Contains("  connector   Loopback (Fabrikam)\n", output, StringComparison.Ordinal);
        Assert.Contains("  sender      <alice@example.org>\n", output, StringComparison.Ordinal);
        Assert.Contains("  pending    bob@partner.test\n", output, StringComparison.Ordinal);
        Assert.Contains("  pending    carol@partner.test\n", output, StringComparison.Ordinal);
        Assert.Contains("\nHeaders\n  Received: from client.test", output, StringComparison.Ordinal);
        Assert.Contains("  Subject: shown\n", output, StringComparison.Ordinal);
        Assert.DoesNotContain("The body is not a header", output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task An_unknown_id_exits_1_with_a_message_and_no_stack_trace()
    {
        await using TestGateway gateway = await StartAsync();
        using var directory = new TempDirectory("postern-queue");
        string config = WriteConfig(directory, gateway);

        var show = await PosternProcess.RunCliAsync(directory.Path, "queue", "show", "0NOSUCHMESSAGE", "--config", config);
        var delete = await PosternProcess.RunCliAsync(directory.Path, "queue", "delete", "0NOSUCHMESSAGE", "--config", config);

        foreach (var result in new[] { show, delete })
        {
            Assert.True(result.ExitCode == 1, result.Describe());
            Assert.Equal("postern: no message 0NOSUCHMESSAGE in the queue\n", result.StandardError);
            Assert.Equal("", result.StandardOutput);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Retry_and_delete_on_a_delivering_gateway()
    {
        await using TestGateway gateway = await StartDeferringAsync();
        using var directory = new TempDirectory("postern-queue");
        string config = WriteConfig(directory, gateway);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "retried then deleted");

        var one = await PosternProcess.RunCliAsync(directory.Path, "queue", "retry", id, "--config", config);
        var all = await PosternProcess.RunCliAsync(directory.Path, "queue", "retry", "--all", "--config", config);
        var delete = await PosternProcess.RunCliAsync(directory.Path, "queue", "delete", id, "--config", config);
        using (HttpClient client = Client(gateway))
            await WaitForListingAsync(client, j => j.GetProperty("count").GetInt32() == 0);
        var list = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--config", config);

        Assert.True(one.ExitCode == 0, one.Describe());
        Assert.Equal($"{id}: queued for delivery now\n", one.StandardOutput);
        Assert.True(all.ExitCode == 0, all.Describe());
        Assert.Equal("1 message queued for delivery now\n", all.StandardOutput);
        Assert.True(delete.ExitCode == 0, delete.Describe());
        Assert.Equal($"{id}: deleted\n", delete.StandardOutput);
        Assert.True(list.ExitCode == 0, list.Describe());
        Assert.Equal("Mail queue is empty\n", list.StandardOutput);
        Assert.Empty(gateway.QueueIds());
    }

    [Fact(Timeout = 120_000)]
    public async Task Retry_on_a_held_queue_exits_1_and_says_why()
    {
        await using TestGateway gateway = await StartAsync();
        using var directory = new TempDirectory("postern-queue");
        string config = WriteConfig(directory, gateway);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "held");

        var result = await PosternProcess.RunCliAsync(directory.Path, "queue", "retry", "--all", "--config", config);

        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Contains("the queue is held (gateway.queue.hold is true)", result.StandardError, StringComparison.Ordinal);
        Assert.Equal([id], gateway.QueueIds());
    }

    [Theory(Timeout = 60_000)]
    [InlineData]
    [InlineData("0ABC", "--all")]
    public async Task Retry_wants_an_id_or_all_but_not_both(params string[] arguments)
    {
        using var directory = new TempDirectory("postern-queue");

        var result = await PosternProcess.RunCliAsync(directory.Path, ["queue", "retry", .. arguments]);

        Assert.True(result.ExitCode != 0, result.Describe());
        Assert.Contains("give either a queue id or --all", result.StandardError, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_gateway_that_is_not_running_exits_2_with_a_clear_message()
    {
        using var directory = new TempDirectory("postern-queue");
        string address = $"127.0.0.1:{UnusedPort()}";
        string tcp = WriteConfig(directory, address, "tcp.json");
        string unix = WriteConfig(directory, $"unix:{directory.Combine("absent.sock")}", "unix.json");

        var refused = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--config", tcp);
        var absent = await PosternProcess.RunCliAsync(directory.Path, "queue", "show", "0ABC", "--config", unix);

        Assert.True(refused.ExitCode == 2, refused.Describe());
        Assert.Equal($"postern: cannot reach the gateway's admin endpoint at {address}: connection refused; is `postern serve` running?\n", refused.StandardError);
        Assert.True(absent.ExitCode == 2, absent.Describe());
        Assert.Equal($"postern: cannot reach the gateway's admin endpoint at unix:{directory.Combine("absent.sock")}: no such socket; is `postern serve` running?\n", absent.StandardError);
        Assert.DoesNotContain("   at ", refused.CombinedOutput + absent.CombinedOutput, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task Without_config_the_embedded_default_endpoint_is_used()
    {
        using var directory = new TempDirectory("postern-queue");
        if (Accepts(new IPEndPoint(IPAddress.Loopback, 8025)))
            Assert.Fail("127.0.0.1:8025 is in use by another process; the embedded default's admin endpoint is there, so this test needs it free");

        var result = await PosternProcess.RunCliAsync(directory.Path, "queue", "list");

        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.Equal("postern: cannot reach the gateway's admin endpoint at 127.0.0.1:8025: connection refused; is `postern serve` running?\n", result.StandardError);
    }

    [Fact(Timeout = 120_000)]
    public async Task Works_over_the_Unix_socket()
    {
        using var directory = new TempDirectory("postern-queue");
        string socket = directory.Combine("admin.sock");
        await using TestGateway gateway = await StartAsync($"unix:{socket}");
        string config = WriteConfig(directory, $"unix:{socket}");
        string id = await SendAsync(gateway.Plain, "", ["bob@partner.test"], "null sender");

        var result = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--config", config);

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Matches(new Regex($@"^{id}  \d+ bytes  .* from <>  \[held\]$", RegexOptions.Multiline), result.StandardOutput);
        Assert.EndsWith("in queue (held: gateway.queue.hold is true, nothing is delivered)\n", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task Against_a_real_serve_process_list_show_and_delete()
    {
        using var directory = new TempDirectory("postern-queue");
        var smtp = new IPEndPoint(IPAddress.Loopback, UnusedPort());
        var admin = new IPEndPoint(IPAddress.Loopback, UnusedPort());
        string config = directory.Combine("postern.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "gateway": {
                "hostName": "mx.gateway.test",
                "dataDirectory": "var",
                "listeners": [ { "endpoint": "{{smtp}}", "security": "None" } ],
                "admin": { "endpoint": "{{admin}}" },
                "queue": { "hold": true }
              },
              "organizations": [ {
                "name": "Local", "acceptedDomains": [ "fabrikam.test" ],
                "inboundConnectors": [ { "name": "Loopback relay", "connectorType": "OnPremises", "senderIPAddresses": [ "127.0.0.0/8" ] } ]
              } ]
            }
            """);
        await using PosternProcess serve = await PosternProcess.StartWithFileAsync(config, directory.Path, smtp, admin);
        string id = await SendAsync(smtp, "alice@example.org", ["bob@[127.0.0.1]"], "through serve");

        var list = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--config", config);
        var show = await PosternProcess.RunCliAsync(directory.Path, "queue", "show", id, "--config", config);
        var delete = await PosternProcess.RunCliAsync(directory.Path, "queue", "delete", id, "--config", config);
        var after = await PosternProcess.RunCliAsync(directory.Path, "queue", "list", "--config", config);

        Assert.True(list.ExitCode == 0, list.Describe() + "\n" + serve.Describe());
        Assert.Contains($"{id}  ", list.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("    pending    bob@[127.0.0.1]\n", list.StandardOutput, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^-- 1 message, \d+ bytes in queue \(held", RegexOptions.Multiline), list.StandardOutput);
        Assert.True(show.ExitCode == 0, show.Describe());
        Assert.Contains("  connector   Loopback relay (Local)\n", show.StandardOutput, StringComparison.Ordinal);
        Assert.True(delete.ExitCode == 0, delete.Describe());
        Assert.Equal("Mail queue is empty (held: gateway.queue.hold is true, nothing is delivered)\n", after.StandardOutput);
        Assert.Empty(Directory.GetFiles(directory.Combine("var", "spool", "queue")));
        Assert.Equal(0, await serve.StopAsync());
        Assert.Contains("Admin endpoint listening on " + admin, serve.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>A configuration whose only purpose is to name the admin endpoint of <paramref name="gateway"/>.</summary>
    private static string WriteConfig(TempDirectory directory, TestGateway gateway) =>
        WriteConfig(directory, gateway.Gateway.AdminEndpoint!.Address);

    private static string WriteConfig(TempDirectory directory, string adminEndpoint, string name = "postern.json")
    {
        string path = directory.Combine(name);
        File.WriteAllText(path, $$"""
            { "gateway": { "listeners": [ { "endpoint": "127.0.0.1:2525", "security": "None" } ], "admin": { "endpoint": "{{adminEndpoint}}" } } }
            """);
        return path;
    }

    private static bool Accepts(IPEndPoint endpoint)
    {
        using var probe = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Connect(endpoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Hosting;
using Postern.Tests.Support;
using static Postern.Tests.Hosting.AdminTestSupport;

namespace Postern.Tests.Hosting;

/// <summary>The admin endpoint of an in-process gateway, asked over real HTTP: the JSON a client gets.</summary>
public sealed class AdminEndpointTests
{
    [Fact(Timeout = 60_000)]
    public async Task Without_gateway_admin_no_endpoint_is_started()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();

        Assert.Null(gateway.Gateway.AdminEndpoint);
    }

    [Fact(Timeout = 60_000)]
    public async Task An_empty_held_queue_lists_no_messages()
    {
        await using TestGateway gateway = await StartAsync();
        using HttpClient client = Client(gateway);

        var (status, json, text) = await RequestAsync(client, HttpMethod.Get, "/queue");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(json.GetProperty("held").GetBoolean(), text);
        Assert.Equal(0, json.GetProperty("count").GetInt32());
        Assert.Equal(0, json.GetProperty("messages").GetArrayLength());
        var bound = Assert.IsType<IPEndPoint>(gateway.Gateway.AdminEndpoint!.LocalEndPoint);
        Assert.Equal(IPAddress.Loopback, bound.Address);
        Assert.NotEqual(0, bound.Port);
    }

    [Fact(Timeout = 60_000)]
    public async Task The_list_gives_id_sender_recipients_size_arrival_and_state()
    {
        await using TestGateway gateway = await StartAsync();
        using HttpClient client = Client(gateway);
        DateTimeOffset before = DateTimeOffset.UtcNow.AddSeconds(-1);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test", "carol@partner.test"], "admin list");
        string nullSender = await SendAsync(gateway.Plain, "", ["dave@partner.test"], "a report");

        var (status, json, text) = await RequestAsync(client, HttpMethod.Get, "/queue");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, json.GetProperty("count").GetInt32());
        JsonElement[] messages = [.. json.GetProperty("messages").EnumerateArray()];
        JsonElement first = messages.Single(m => m.GetProperty("id").GetString() == id);
        Assert.Equal("alice@example.org", first.GetProperty("sender").GetString());
        Assert.Equal("Held", first.GetProperty("state").GetString());
        Assert.Equal(0, first.GetProperty("attempts").GetInt32());
        using (var message = gateway.Gateway.Spool.Open(id))
            Assert.Equal(message.ContentLength, first.GetProperty("size").GetInt64());
        Assert.InRange(first.GetProperty("receivedAt").GetDateTimeOffset(), before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.InRange(first.GetProperty("ageSeconds").GetInt64(), 0, 60);
        Assert.Equal(["bob@partner.test", "carol@partner.test"], first.GetProperty("recipients").EnumerateArray().Select(r => r.GetProperty("address").GetString()));
        Assert.All(first.GetProperty("recipients").EnumerateArray(), r => Assert.Equal("Pending", r.GetProperty("status").GetString()));
        Assert.Equal("", messages.Single(m => m.GetProperty("id").GetString() == nullSender).GetProperty("sender").GetString());
        Assert.Equal(messages.Sum(m => m.GetProperty("size").GetInt64()), json.GetProperty("totalSize").GetInt64());
        Assert.DoesNotContain("Envelope", text, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task Show_gives_the_envelope_with_client_HELO_TLS_and_connector_and_the_headers_only()
    {
        await using TestGateway gateway = await StartAsync();
        using HttpClient client = Client(gateway);
        string id = await SendAsync(gateway.StartTls, "alice@example.org", ["bob@partner.test"], "shown over TLS", startTls: true);

        var (status, json, text) = await RequestAsync(client, HttpMethod.Get, $"/queue/{id}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(id, json.GetProperty("id").GetString());
        JsonElement envelope = json.GetProperty("envelope");
        Assert.Equal("127.0.0.1", envelope.GetProperty("clientAddress").GetString());
        Assert.Equal("client.test", envelope.GetProperty("heloName").GetString());
        Assert.Equal("ESMTPS", envelope.GetProperty("protocol").GetString());
        Assert.Equal("Loopback", envelope.GetProperty("connector").GetString());
        Assert.Equal("Fabrikam", envelope.GetProperty("organization").GetString());
        Assert.StartsWith("TLSv1.", envelope.GetProperty("tls").GetProperty("protocol").GetString());
        Assert.Equal("mx.gateway.test", envelope.GetProperty("tls").GetProperty("serverName").GetString());
        string headers = json.GetProperty("headers").GetString()!;
        Assert.StartsWith("Received: from client.test", headers, StringComparison.Ordinal);
        Assert.Contains("Subject: shown over TLS\r\n", headers, StringComparison.Ordinal);
        Assert.DoesNotContain("The body is not a header", headers, StringComparison.Ordinal);
        Assert.False(json.TryGetProperty("headersTruncated", out JsonElement truncated) && truncated.GetBoolean(), text);
        Assert.Equal("Pending", json.GetProperty("recipients")[0].GetProperty("status").GetString());
    }

    [Theory(Timeout = 60_000)]
    [InlineData("GET", "/queue/0NOSUCHMESSAGE")]
    [InlineData("GET", "/queue/..%2F..%2Fetc%2Fpasswd")]
    [InlineData("GET", "/queue/lower")]
    [InlineData("POST", "/queue/0NOSUCHMESSAGE/retry")]
    [InlineData("DELETE", "/queue/0NOSUCHMESSAGE")]
    [InlineData("GET", "/no/such/endpoint")]
    public async Task Unknown_ids_and_paths_are_404_with_a_JSON_error(string method, string path)
    {
        await using TestGateway gateway = await StartAsync();
        using HttpClient client = Client(gateway);

        var (status, json, _) = await RequestAsync(client, new HttpMethod(method), path);

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.False(string.IsNullOrEmpty(json.GetProperty("error").GetString()));
        if (path.StartsWith("/queue/0NOSUCH", StringComparison.Ordinal))
            Assert.Equal("no message 0NOSUCHMESSAGE in the queue", json.GetProperty("error").GetString());
    }

    [Fact(Timeout = 60_000)]
    public async Task Retry_while_the_queue_is_held_is_409_and_changes_nothing()
    {
        await using TestGateway gateway = await StartAsync();
        using HttpClient client = Client(gateway);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "held");

        var one = await RequestAsync(client, HttpMethod.Post, $"/queue/{id}/retry");
        var all = await RequestAsync(client, HttpMethod.Post, "/queue/retry");

        Assert.Equal(HttpStatusCode.Conflict, one.Status);
        Assert.Contains("gateway.queue.hold", one.Json.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, all.Status);
        Assert.Equal([id], gateway.QueueIds());
    }

    [Fact(Timeout = 60_000)]
    public async Task Delete_on_a_held_queue_removes_the_entry_and_its_state()
    {
        await using TestGateway gateway = await StartAsync();
        using HttpClient client = Client(gateway);
        string keep = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "kept");
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "deleted");

        var deleted = await RequestAsync(client, HttpMethod.Delete, $"/queue/{id}");
        var again = await RequestAsync(client, HttpMethod.Delete, $"/queue/{id}");
        var shown = await RequestAsync(client, HttpMethod.Get, $"/queue/{id}");

        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        Assert.Equal(1, deleted.Json.GetProperty("deleted").GetInt32());
        Assert.Equal([keep], gateway.QueueIds());
        Assert.False(File.Exists(Path.Combine(gateway.Gateway.Spool.DeliveryStates.Directory, id)));
        Assert.Equal(HttpStatusCode.NotFound, again.Status);
        Assert.Equal(HttpStatusCode.NotFound, shown.Status);
    }

    [Fact(Timeout = 90_000)]
    public async Task A_refused_delivery_shows_attempts_next_attempt_connector_and_reason_and_can_be_retried_and_deleted()
    {
        await using TestGateway gateway = await StartDeferringAsync();
        using HttpClient client = Client(gateway);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "to be deferred");

        // The state is saved with the attempt before the scheduler files the message as waiting.
        JsonElement listing = await WaitForListingAsync(client, j =>
            j.GetProperty("messages").EnumerateArray().Any(m => m.GetProperty("attempts").GetInt32() >= 1 && m.GetProperty("state").GetString() == "Waiting"));

        Assert.False(listing.GetProperty("held").GetBoolean());
        JsonElement message = Assert.Single(listing.GetProperty("messages").EnumerateArray());
        Assert.Equal(id, message.GetProperty("id").GetString());
        Assert.Equal("Waiting", message.GetProperty("state").GetString());
        JsonElement recipient = Assert.Single(message.GetProperty("recipients").EnumerateArray());
        Assert.Equal("Deferred", recipient.GetProperty("status").GetString());
        Assert.Equal(1, recipient.GetProperty("attempts").GetInt32());
        Assert.Equal("To Partner", recipient.GetProperty("connector").GetString());
        DateTimeOffset next = recipient.GetProperty("nextAttemptAt").GetDateTimeOffset();
        Assert.True(next > DateTimeOffset.UtcNow, $"next attempt {next:O} should be in the future");
        Assert.Equal(next, message.GetProperty("nextAttemptAt").GetDateTimeOffset());
        JsonElement reply = recipient.GetProperty("lastReply");
        Assert.Equal(4, reply.GetProperty("code").GetInt32() / 100);
        Assert.Contains("refused", reply.GetProperty("text").GetString(), StringComparison.OrdinalIgnoreCase);

        var retried = await RequestAsync(client, HttpMethod.Post, $"/queue/{id}/retry");
        Assert.Equal(HttpStatusCode.OK, retried.Status);
        Assert.Equal(1, retried.Json.GetProperty("retried").GetInt32());
        var all = await RequestAsync(client, HttpMethod.Post, "/queue/retry");
        Assert.Equal(HttpStatusCode.OK, all.Status);
        Assert.Equal(1, all.Json.GetProperty("retried").GetInt32());

        var deleted = await RequestAsync(client, HttpMethod.Delete, $"/queue/{id}");
        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        await WaitForListingAsync(client, j => j.GetProperty("count").GetInt32() == 0);
        Assert.Empty(gateway.QueueIds());
    }

    [Fact(Timeout = 90_000)]
    public async Task Retry_attempts_a_deferred_recipient_again_at_once()
    {
        await using TestGateway gateway = await StartDeferringAsync();
        using HttpClient client = Client(gateway);
        string id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "retried");
        await WaitForListingAsync(client, j => j.GetProperty("messages").EnumerateArray().Any(m => m.GetProperty("attempts").GetInt32() == 1));

        var retried = await RequestAsync(client, HttpMethod.Post, $"/queue/{id}/retry");

        Assert.Equal(HttpStatusCode.OK, retried.Status);
        await WaitForListingAsync(client, j => j.GetProperty("messages").EnumerateArray().Any(m => m.GetProperty("attempts").GetInt32() == 2), TimeSpan.FromSeconds(20));
    }

    [Fact(Timeout = 60_000)]
    public async Task Serves_on_a_Unix_socket_and_removes_it_when_stopped()
    {
        using var directory = new TempDirectory("postern-admin");
        string socket = directory.Combine("admin.sock");
        string id;
        await using (TestGateway gateway = await StartAsync($"unix:{socket}"))
        {
            using HttpClient client = Client(new UnixDomainSocketEndPoint(socket));
            id = await SendAsync(gateway.Plain, "alice@example.org", ["bob@partner.test"], "over a socket");

            var (status, json, _) = await RequestAsync(client, HttpMethod.Get, $"/queue/{id}");

            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(id, json.GetProperty("id").GetString());
            Assert.Equal($"unix:{socket}", gateway.Gateway.AdminEndpoint!.Address);
        }
        Assert.False(File.Exists(socket), "the socket file is left behind");
    }

    [Fact(Timeout = 60_000)]
    public async Task A_stale_socket_file_is_replaced_but_a_regular_file_is_never_removed()
    {
        using var directory = new TempDirectory("postern-admin");
        string stale = directory.Combine("stale.sock");
        // Bound but not listening: what a killed gateway leaves behind answers with "connection refused".
        using (var leftover = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            leftover.Bind(new UnixDomainSocketEndPoint(stale));
            await using AdminEndpoint endpoint = await AdminEndpoint.StartAsync($"unix:{stale}", [], NullLoggerFactory.Instance);
            using HttpClient client = Client(new UnixDomainSocketEndPoint(stale));
            var (status, _, _) = await RequestAsync(client, HttpMethod.Get, "/anything");
            Assert.Equal(HttpStatusCode.NotFound, status);
        }

        string regular = directory.Combine("notes.txt");
        await File.WriteAllTextAsync(regular, "keep me");
        var refused = await Assert.ThrowsAsync<IOException>(() => AdminEndpoint.StartAsync($"unix:{regular}", [], NullLoggerFactory.Instance));
        Assert.Contains("not a socket", refused.Message, StringComparison.Ordinal);
        Assert.Equal("keep me", await File.ReadAllTextAsync(regular));
    }

    [Theory]
    [InlineData("0.0.0.0:8025")]
    [InlineData("[::]:8025")]
    [InlineData("192.0.2.10:8025")]
    [InlineData("[2001:db8::1]:8025")]
    [InlineData("mail.example:8025")]
    [InlineData("8025")]
    [InlineData("unix:relative/admin.sock")]
    public async Task Anything_but_loopback_or_a_Unix_socket_is_refused_even_without_the_validator(string endpoint)
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => AdminEndpoint.StartAsync(endpoint, [], NullLoggerFactory.Instance));

        Assert.Contains(endpoint, refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:8025", "127.0.0.1:8025")]
    [InlineData("127.0.0.2:8025", "127.0.0.2:8025")]
    [InlineData("[::1]:8025", "[::1]:8025")]
    [InlineData("localhost:8025", "127.0.0.1:8025")]
    [InlineData("unix:/run/postern/admin.sock", "unix:/run/postern/admin.sock")]
    public void Loopback_and_Unix_socket_endpoints_are_accepted(string endpoint, string expected)
    {
        Assert.Equal(expected, AdminEndpoint.Describe(AdminEndpoint.ParseEndPoint(endpoint)));
    }
}

using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Postern.Tests.Interop;
using Postern.Tests.Receiving;
using Postern.Tests.Support;

namespace Postern.Tests.Hosting;

/// <summary>A configuration reload takes effect without a restart; a broken one changes nothing.</summary>
public sealed class ConfigurationReloadTests
{
    private static object Configuration(string directory, int port, bool requireTls) => new
    {
        gateway = new
        {
            hostName = "mx.gateway.test",
            dataDirectory = Path.Combine(directory, "var"),
            listeners = new[] { new { endpoint = $"127.0.0.1:{port}", security = "StartTls" } },
            queue = new { hold = true },
        },
        organizations = new[]
        {
            new
            {
                name = "Fabrikam",
                acceptedDomains = new[] { "fabrikam.test" },
                inboundConnectors = new[]
                {
                    new { name = "From Contoso", connectorType = "Partner", senderDomains = new[] { "contoso.test" }, requireTls },
                },
            },
        },
    };

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> MailFromContosoAsync(IPEndPoint endpoint)
    {
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(endpoint);
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO mail.contoso.test");
        return await client.CommandAsync("MAIL FROM:<alice@contoso.test>");
    }

    private static async Task<string> WaitForReplyAsync(IPEndPoint endpoint, string prefix)
    {
        string reply = "";
        for (int i = 0; i < 100; i++)
        {
            reply = await MailFromContosoAsync(endpoint);
            if (reply.StartsWith(prefix, StringComparison.Ordinal)) return reply;
            await Task.Delay(100);
        }
        return reply;
    }

    [Fact]
    public async Task Reload_applies_a_changed_connector_to_new_sessions_and_a_broken_file_changes_nothing()
    {
        using var directory = new TempDirectory("postern-reload");
        string file = directory.Combine("postern.json");
        int port = FreePort();
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Configuration(directory.Path, port, requireTls: false)));
        var loaded = Postern.Configuration.ConfigurationLoader.Load(file);
        Assert.True(loaded.IsValid);
        await using var gateway = await Postern.Hosting.PosternGateway.StartAsync(loaded.Configuration!, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);

        // A session that started before the reload keeps its rules.
        await using RawSmtpClient before = await RawSmtpClient.ConnectAsync(endpoint);
        await before.ReadReplyAsync();
        await before.CommandAsync("EHLO mail.contoso.test");

        Assert.StartsWith("250 2.1.0", await MailFromContosoAsync(endpoint));
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Configuration(directory.Path, port, requireTls: true)));
        Assert.True((await gateway.ReloadAsync(file)).IsValid);
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await MailFromContosoAsync(endpoint));
        Assert.StartsWith("250 2.1.0", await before.CommandAsync("MAIL FROM:<alice@contoso.test>"));

        await File.WriteAllTextAsync(file, "{ \"gateway\": { \"listeners\": [ { \"endpoint\": \"nonsense\" } ] }, \"bogus\": 1 }");
        var rejected = await gateway.ReloadAsync(file);
        Assert.False(rejected.IsValid);
        Assert.Contains(rejected.Errors, e => e.Path == "$.bogus");
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await MailFromContosoAsync(endpoint));
    }

    [Fact]
    public async Task The_serve_process_reloads_on_a_file_change_and_on_sighup_and_keeps_the_last_good_configuration()
    {
        using var directory = new TempDirectory("postern-reload-process");
        string file = directory.Combine("postern.json");
        int port = FreePort();
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Configuration(directory.Path, port, requireTls: false)));
        await using PosternProcess gateway = await PosternProcess.StartWithFileAsync(file, directory.Path, endpoint);
        Assert.StartsWith("250 2.1.0", await MailFromContosoAsync(endpoint));

        // The file changes: the watcher picks it up.
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Configuration(directory.Path, port, requireTls: true)));
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await WaitForReplyAsync(endpoint, "530"));

        // A broken file is refused, logged, and the last good configuration stays.
        await File.WriteAllTextAsync(file, "{ \"gateway\": { \"hostName\": 5 } }");
        await gateway.WaitForOutputAsync(new Regex("reload .* rejected"), TimeSpan.FromSeconds(20));
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await MailFromContosoAsync(endpoint));

        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Configuration(directory.Path, port, requireTls: false)));
        Assert.StartsWith("250 2.1.0", await WaitForReplyAsync(endpoint, "250"));

        // SIGHUP reloads too, with the file unchanged: one more reload is logged and the process lives on.
        int reloads = Regex.Count(gateway.StandardOutput, "Configuration reloaded");
        await ExternalProcess.RunAsync("kill", ["-HUP", gateway.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        for (int i = 0; i < 100 && Regex.Count(gateway.StandardOutput, "Configuration reloaded") == reloads; i++) await Task.Delay(100);
        Assert.Equal(reloads + 1, Regex.Count(gateway.StandardOutput, "Configuration reloaded"));
        Assert.StartsWith("250 2.1.0", await MailFromContosoAsync(endpoint));
        Assert.False(gateway.HasExited, gateway.Describe());
        Assert.Equal(0, await gateway.StopAsync());
    }
}

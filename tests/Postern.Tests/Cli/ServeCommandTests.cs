using System.Net;
using System.Net.Sockets;
using Postern.Tests.Interop;
using Postern.Tests.Support;

namespace Postern.Tests.Cli;

/// <summary><c>postern serve</c> as a real process: the embedded default, bad configurations, SIGTERM.</summary>
public sealed class ServeCommandTests
{
    private static readonly IPEndPoint DefaultEndpoint = IPEndPoint.Parse("127.0.0.1:2525");

    [Fact(Timeout = 120_000)]
    public async Task Serve_without_a_config_runs_the_local_relay_on_2525_and_stops_with_exit_0_on_SIGTERM()
    {
        InteropTools.Require("swaks");
        if (Accepts(DefaultEndpoint))
        {
            Assert.Fail($"{DefaultEndpoint} is in use by another process; the embedded default listens there, so this test needs it free");
        }

        using var directory = new TempDirectory("postern-serve");
        await using var gateway = await PosternProcess.StartWithFileAsync(null, directory.Path, DefaultEndpoint);

        Assert.True(File.Exists(directory.Combine("var", "tls", "selfsigned.pem")), gateway.Describe());
        var sent = await Swaks.SendAsync("127.0.0.1", DefaultEndpoint.Port, "me@example.org", "someone@[127.0.0.1]", SwaksTls.StartTls);
        // An address literal: delivery (which starts at once) needs no DNS, and nothing answers on 127.0.0.1:25, so the message waits in the queue.
        Assert.True(sent.Succeeded, sent.Transcript + "\n" + gateway.Describe());
        var stored = Assert.Single(SpoolFiles.ReadQueue(directory.Combine("var")));
        Assert.Equal(["someone@[127.0.0.1]"], stored.Recipients);
        Assert.Equal("ESMTPS", stored.Protocol);
        Assert.Matches(@"\(using TLSv1\.[23] with cipher \S+", stored.ReceivedHeader);

        int exitCode = await gateway.StopAsync();

        Assert.True(exitCode == 0, gateway.Describe());
        Assert.False(Accepts(DefaultEndpoint), "something still accepts on the port after the exit");
    }

    [Fact(Timeout = 120_000)]
    public async Task Serve_with_an_invalid_config_exits_non_zero_with_the_errors_and_no_stack_trace()
    {
        using var directory = new TempDirectory("postern-serve");
        string config = directory.Combine("bad.json");
        await File.WriteAllTextAsync(config, """{ "gateway": { "listeners": [ { "endpoint": "127.0.0.1:2598", "securty": "None" } ] } }""");

        var result = await PosternProcess.RunCliAsync(directory.Path, "serve", "--config", config);

        Assert.True(result.ExitCode != 0 && !result.TimedOut, result.Describe());
        Assert.Contains("$.gateway.listeners[0].securty: unknown key", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.CombinedOutput, StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory.Combine("var")), "an invalid configuration must not start anything");
    }

    [Fact(Timeout = 120_000)]
    public async Task Serve_on_an_address_in_use_exits_non_zero_with_a_clear_message_and_no_stack_trace()
    {
        using var directory = new TempDirectory("postern-serve");
        using var occupier = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupier.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupier.Listen();
        var taken = (IPEndPoint)occupier.LocalEndPoint!;
        string config = directory.Combine("postern.json");
        await File.WriteAllTextAsync(config, $$"""{ "gateway": { "hostName": "mx.gateway.test", "listeners": [ { "endpoint": "{{taken}}", "security": "None" } ] } }""");

        var result = await PosternProcess.RunCliAsync(directory.Path, "serve", "--config", config);

        Assert.True(result.ExitCode != 0 && !result.TimedOut, result.Describe());
        Assert.Contains("cannot start", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("Another process is listening on that address", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StandardError, StringComparison.Ordinal);
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

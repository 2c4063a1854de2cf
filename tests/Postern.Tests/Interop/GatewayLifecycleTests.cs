using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Postern.Tests.Receiving;

namespace Postern.Tests.Interop;

/// <summary>
/// The gateway process under the events a spool exists for: <c>kill -9</c>, SIGTERM with sessions
/// in flight, a full disk. What was acknowledged with 250 must be there, byte for byte.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class GatewayLifecycleTests(InteropEnvironment environment)
{
    private static readonly Regex QueuedAs = new(@"^250 2\.0\.0 Ok: queued as ([0-9A-Z]{18})$");

    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task Kill_9_while_sending_loses_no_acknowledged_message_and_leaves_no_partial_entry()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        var sent = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        var allBodies = new ConcurrentBag<byte[]>();

        await using (var client = await ConnectAsync(InteropGateway.Plain))
        {
            for (int i = 0; i < 50; i++)
            {
                byte[] body = MakeMessage($"before {i}", 4096 + (i * 97));
                allBodies.Add(body);
                sent[await SendAsync(client, body)] = body;
            }
        }

        // Four sessions keep sending larger messages; the kill lands while they do.
        using var stop = new CancellationTokenSource();
        int acknowledgedDuringLoad = 0;
        var senders = Enumerable.Range(0, 4).Select(n => Task.Run(async () =>
        {
            try
            {
                await using var client = await ConnectAsync(InteropGateway.Plain);
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    byte[] body = MakeMessage($"during {n}.{i}", 65_536 + (i * 131));
                    allBodies.Add(body);
                    sent[await SendAsync(client, body)] = body;
                    Interlocked.Increment(ref acknowledgedDuringLoad);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or OperationCanceledException)
            {
                // The gateway died under us: whatever was not acknowledged may be lost.
            }
        })).ToList();

        await WaitUntilAsync(() => Volatile.Read(ref acknowledgedDuringLoad) >= 20 || senders.Any(s => s.IsCompleted), TimeSpan.FromSeconds(60));
        Assert.False(senders.Any(s => s.IsCompleted), "a sender stopped before the kill\n" + gateway.Running.Describe());
        gateway.Running.Kill();
        await stop.CancelAsync();
        await Task.WhenAll(senders);
        Assert.Equal(137, gateway.Running.ExitCode);

        await gateway.StartAgainAsync();

        // Every acknowledged message is there, exactly as sent.
        var stored = gateway.ReadSpool().ToDictionary(m => m.QueueId, StringComparer.Ordinal);
        Assert.All(sent, pair =>
        {
            Assert.True(stored.TryGetValue(pair.Key, out var message), $"acknowledged {pair.Key} is missing after kill -9");
            Assert.Equal(pair.Value, message!.ClientBytes);
        });

        // Anything else listed is a whole message that was sent (its 250 lost with the connection), never a fragment.
        var known = allBodies.Select(Convert.ToHexString).ToHashSet(StringComparer.Ordinal);
        Assert.All(stored.Values, m => Assert.Contains(Convert.ToHexString(m.ClientBytes), known));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(gateway.DataDirectory, "spool", "tmp")));
        Assert.Empty(Directory.Exists(Path.Combine(gateway.DataDirectory, "spool", "corrupt"))
            ? Directory.EnumerateFileSystemEntries(Path.Combine(gateway.DataDirectory, "spool", "corrupt"))
            : []);

        // And the restarted gateway takes new mail.
        await using var after = await ConnectAsync(InteropGateway.Plain);
        byte[] last = MakeMessage("after restart", 1000);
        string lastId = await SendAsync(after, last);
        Assert.Equal(last, gateway.ReadSpool(lastId).ClientBytes);
    }

    [InteropFact]
    public async Task SIGTERM_lets_a_message_in_DATA_finish_tells_idle_sessions_421_and_exits_0()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki, limits: new { shutdownGraceSeconds = 20 });
        await using var busy = await ConnectAsync(InteropGateway.Plain);
        await using var idle = await ConnectAsync(InteropGateway.StartTls);
        byte[] message = MakeMessage("in flight", 20_000);
        int half = message.Length / 2;
        Assert.StartsWith("250", await busy.CommandAsync("MAIL FROM:<sender@contoso.example>"));
        Assert.StartsWith("250", await busy.CommandAsync("RCPT TO:<user@fabrikam.example>"));
        Assert.StartsWith("354", await busy.CommandAsync("DATA"));
        await busy.SendAsync(message[..half]);

        gateway.Running.Terminate();

        Assert.StartsWith("421 4.3.2", await idle.ReadReplyAsync(TimeSpan.FromSeconds(15)));
        Assert.True(await idle.IsClosedAsync(TimeSpan.FromSeconds(10)), "the idle session stayed open after its 421");
        await WaitUntilAsync(() => !Accepts(InteropGateway.Plain), TimeSpan.FromSeconds(10));

        // Past System.CommandLine's default 2 s termination timeout, well within the grace period.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(gateway.Running.HasExited, "exited with a session still in DATA\n" + gateway.Running.Describe());
        await busy.SendAsync([.. message[half..], .. ".\r\n"u8.ToArray()]);
        var queued = QueuedAs.Match(await busy.ReadReplyAsync());
        Assert.True(queued.Success, gateway.Running.Describe());

        int exitCode = await gateway.Running.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, gateway.Running.Describe());
        Assert.Equal(message, gateway.ReadSpool(queued.Groups[1].Value).ClientBytes);
    }

    [InteropFact]
    public async Task SIGTERM_with_a_stalled_session_exits_0_after_the_grace_period()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki, limits: new { shutdownGraceSeconds = 3 });
        await using var stalled = await ConnectAsync(InteropGateway.Plain);
        Assert.StartsWith("250", await stalled.CommandAsync("MAIL FROM:<sender@contoso.example>"));
        Assert.StartsWith("250", await stalled.CommandAsync("RCPT TO:<user@fabrikam.example>"));
        Assert.StartsWith("354", await stalled.CommandAsync("DATA"));
        await stalled.SendAsync(MakeMessage("never finished", 5000));
        var clock = Stopwatch.StartNew();

        int exitCode = await gateway.Running.StopAsync(TimeSpan.FromSeconds(30));

        Assert.True(exitCode == 0, gateway.Running.Describe());
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.5), $"exited after {clock.Elapsed.TotalSeconds:0.0}s, before the 3 s grace period");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"exited after {clock.Elapsed.TotalSeconds:0.0}s");
        Assert.StartsWith("421 4.3.2", await stalled.ReadReplyAsync(TimeSpan.FromSeconds(5)));
        Assert.True(await stalled.IsClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.Empty(gateway.ReadSpool());
    }

    [InteropFact]
    public async Task Full_disk_answers_452_keeps_what_was_acknowledged_and_recovers_when_space_returns()
    {
        string mount = Directory.CreateTempSubdirectory("postern-fulldisk-").FullName;
        ExternalProcess.Run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount).EnsureSuccess();
        try
        {
            string dataDirectory = Path.Combine(mount, "var");
            await using var gateway = await InteropGateway.StartAsync(Pki, dataDirectory: dataDirectory);
            await using var client = await ConnectAsync(InteropGateway.Plain);
            var acknowledged = new Dictionary<string, byte[]>();
            for (int i = 0; i < 2; i++)
            {
                byte[] small = MakeMessage($"fits {i}", 2000);
                acknowledged[await SendAsync(client, small)] = small;
            }

            // Leave about 100 KB free, then send 300 KB.
            string filler = Path.Combine(mount, "filler");
            long free = new DriveInfo(mount).AvailableFreeSpace;
            await using (var stream = File.Create(filler))
            {
                stream.SetLength(0);
                byte[] block = new byte[64 * 1024];
                for (long written = 0; written < free - (100 * 1024); written += block.Length)
                {
                    await stream.WriteAsync(block);
                }
            }

            byte[] large = MakeMessage("too large for the disk", 300_000);
            string refused = await SendRawAsync(client, large);
            Assert.True(refused.StartsWith("452 4.3.1", StringComparison.Ordinal), refused + "\n" + gateway.Running.Describe());

            Assert.Equal(acknowledged.Keys.Order(StringComparer.Ordinal), SpoolFiles.ListQueue(dataDirectory));
            Assert.All(acknowledged, pair => Assert.Equal(pair.Value, gateway.ReadSpool(pair.Key).ClientBytes));
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(dataDirectory, "spool", "tmp")));

            File.Delete(filler);
            string accepted = await SendAsync(client, large);
            Assert.Equal(large, gateway.ReadSpool(accepted).ClientBytes);
            Assert.False(gateway.Running.HasExited);
        }
        finally
        {
            var unmount = ExternalProcess.Run("umount", mount);
            if (unmount.ExitCode != 0)
            {
                ExternalProcess.Run("umount", "-l", mount);
            }

            Directory.Delete(mount, recursive: true);
        }
    }

    private static async Task<RawSmtpClient> ConnectAsync(System.Net.IPEndPoint endpoint)
    {
        var client = await RawSmtpClient.ConnectAsync(endpoint);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.contoso.example"));
        return client;
    }

    /// <summary>One transaction; returns the queue id of the 250 (fails on any other reply).</summary>
    private static async Task<string> SendAsync(RawSmtpClient client, byte[] message)
    {
        string reply = await SendRawAsync(client, message);
        var match = QueuedAs.Match(reply);
        Assert.True(match.Success, reply);
        return match.Groups[1].Value;
    }

    /// <summary>One transaction; returns the reply to the end of data.</summary>
    private static async Task<string> SendRawAsync(RawSmtpClient client, byte[] message)
    {
        await client.SendAsync("MAIL FROM:<sender@contoso.example>\r\nRCPT TO:<user@fabrikam.example>\r\nDATA\r\n");
        Assert.StartsWith("250", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.ReadReplyAsync());
        Assert.StartsWith("354", await client.ReadReplyAsync());
        await client.SendAsync([.. message, .. ".\r\n"u8.ToArray()]);
        return await client.ReadReplyAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>A message of about <paramref name="size"/> bytes, CRLF lines, none starting with a dot.</summary>
    private static byte[] MakeMessage(string subject, int size)
    {
        var text = new StringBuilder($"Subject: {subject}\r\nMessage-Id: <{Guid.NewGuid():N}@contoso.example>\r\n\r\n");
        var random = new Random(subject.GetHashCode(StringComparison.Ordinal));
        byte[] line = new byte[57];
        while (text.Length < size)
        {
            random.NextBytes(line);
            text.Append(Convert.ToBase64String(line)).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static bool Accepts(System.Net.IPEndPoint endpoint)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(endpoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"condition not met within {timeout.TotalSeconds:0}s");
            }

            await Task.Delay(20);
        }
    }
}

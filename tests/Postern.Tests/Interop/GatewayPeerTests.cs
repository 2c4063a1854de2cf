using System.Globalization;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>Real mail software sending into the gateway process: Postfix as a relay, smtp-source for load.</summary>
[Collection(InteropCollection.Name)]
public sealed class GatewayPeerTests(InteropEnvironment environment)
{
    private const string PostfixAddress = "127.0.0.4";
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task Postfix_relays_into_the_gateway_over_verified_STARTTLS_with_its_client_certificate()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        var clientCert = Pki.Issue("relay.fabrikam.example", [], TestKeyType.Ecdsa, TestCertificateUsage.ServerAndClient);
        string gatewayEndpoint = $"[{InteropGateway.StartTls.Address}]:{InteropGateway.StartTls.Port}";
        using var relay = PostfixInstance.StartNew(new PostfixOptions("to-postern", PostfixAddress)
        {
            Hostname = "relay.fabrikam.example",
            RelayHost = gatewayEndpoint,
            ClientTls = new PostfixClientTls
            {
                SecurityLevel = "secure",
                CAfile = Pki.RootCertificatePath,
                CertFile = clientCert.FullChainPath,
                KeyFile = clientCert.KeyPath,
                PolicyMapEntries = [$"{gatewayEndpoint} secure match={InteropGateway.HostName}"],
            },
        });
        string token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(PostfixAddress, 25, "sender@fabrikam.example", ["user@fabrikam.example"])
        {
            Headers = [$"Subject: via postfix {token}"],
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        var stored = Assert.Single(await SpoolFiles.WaitForMessagesAsync(gateway.DataDirectory, 1, DeliveryTimeout));
        Assert.Contains($"Subject: via postfix {token}", stored.Text, StringComparison.Ordinal);
        Assert.Equal("ESMTPS", stored.Protocol);
        Assert.Equal("sender@fabrikam.example", stored.Sender);
        Assert.Matches(
            @"^Received: from relay\.fabrikam\.example \(unknown \[127\.0\.0\.\d+\]\) \(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\) " +
            @"\(Client CN ""relay\.fabrikam\.example"", Issuer ""Postern Test Intermediate CA"" \(verified OK\)\) by mx\.gateway\.test \(Postern\) with ESMTPS id ",
            stored.ReceivedHeader);
        // Postfix's own trace header follows ours: the message is what Postfix sent, untouched.
        Assert.Contains("by relay.fabrikam.example (Postfix) with ESMTP", stored.Text, StringComparison.Ordinal);
        await relay.WaitForMaillogAsync(
            new Regex($@"Verified TLS connection established to {Regex.Escape(InteropGateway.StartTls.Address.ToString())}\[[^\]]+\]:25"), DeliveryTimeout);
        await relay.WaitForMaillogAsync(new Regex(@"status=sent \(250 2\.0\.0 Ok: queued as " + stored.QueueId + @"\)"), DeliveryTimeout);
    }

    [InteropFact]
    public async Task Smtp_source_200_messages_over_10_sessions_all_land_in_the_spool()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        const int messages = 200;

        var load = await ExternalProcess.RunAsync(
            InteropTools.Require("smtp-source"),
            ["-s", "10", "-m", messages.ToString(CultureInfo.InvariantCulture), "-l", "2048", "-d",
             "-f", "load@contoso.example", "-t", "user@fabrikam.example", "-M", "load.contoso.example",
             $"{InteropGateway.Plain.Address}:{InteropGateway.Plain.Port}"],
            timeout: TimeSpan.FromSeconds(90));

        Assert.True(load.ExitCode == 0 && !load.TimedOut, load.Describe());
        var stored = gateway.ReadSpool();
        Assert.Equal(messages, stored.Count);
        Assert.All(stored, m =>
        {
            Assert.Equal("load@contoso.example", m.Sender);
            Assert.Equal(["user@fabrikam.example"], m.Recipients);
            Assert.True(m.ClientBytes.Length >= 2048, $"{m.QueueId}: {m.ClientBytes.Length} bytes");
        });
        Assert.Equal(messages, stored.Select(m => m.QueueId).Distinct().Count());

        // Still healthy: running, and a new session is served at once.
        Assert.False(gateway.Running.HasExited, gateway.Running.Describe());
        var after = await Swaks.SendAsync(InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, "sender@contoso.example", "user@fabrikam.example", SwaksTls.StartTls);
        Assert.True(after.Succeeded, after.Transcript);
        Assert.Equal(messages + 1, SpoolFiles.ListQueue(gateway.DataDirectory).Count);
        Assert.DoesNotContain("Exception", gateway.Running.StandardOutput + gateway.Running.StandardError, StringComparison.Ordinal);
    }
}

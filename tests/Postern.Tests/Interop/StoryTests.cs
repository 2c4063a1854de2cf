using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>
/// The product story end to end on loopback: Contoso's Postfix (127.0.0.9) sends to Fabrikam,
/// whose MX is the gateway (127.0.0.10); the gateway delivers to Fabrikam's own Postfix
/// (127.0.0.11), through which Fabrikam's outbound mail also leaves. Every peer has its own
/// certificate from the run's test CA.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class StoryTests(InteropEnvironment environment)
{
    private const string ContosoAddress = "127.0.0.9";
    private const string GatewayAddress = "127.0.0.10";
    private const string FabrikamAddress = "127.0.0.11";
    private const string StrangerAddress = "127.0.0.12";
    private const string GatewayName = "mx.gateway.example";
    private const string FabrikamName = "mail.fabrikam.example";
    private const string ContosoName = "mail.contoso.example";
    private const string GatewayRelayHost = $"[{GatewayAddress}]:25";
    private static readonly IPEndPoint Gateway = IPEndPoint.Parse($"{GatewayAddress}:25");
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(45);

    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task A_mail_from_Contoso_reaches_Fabrikams_mailbox_over_TLS_on_both_legs_byte_for_byte()
    {
        await using var story = await Story.StartAsync(Pki);
        var fabrikam = story.StartFabrikam(story.FabrikamCertificate);
        var contoso = story.StartContoso($"{GatewayRelayHost} secure match={GatewayName}");
        string token = Guid.NewGuid().ToString("N");
        string original =
            "From: Alice <alice@contoso.example>\r\n" +
            "To: Bob <bob@fabrikam.example>\r\n" +
            $"Subject: story {token}\r\n" +
            "Date: Sun, 29 Nov 2026 03:00:00 +0000\r\n" +
            $"Message-ID: <{token}@contoso.example>\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=us-ascii\r\n" +
            "\r\n" +
            "Hello Bob,\r\n" +
            ".a line that starts with a dot\r\n" +
            "trailing spaces   \r\n" +
            "\ttab and a long line " + new string('x', 200) + "\r\n" +
            "\r\n" +
            "-- \r\n" +
            "Alice\r\n";

        // swaks ends the data with CRLF "." itself, so the last CRLF is left to it.
        var sent = await Swaks.SendAsync(new SwaksOptions(ContosoAddress, 25, "alice@contoso.example", ["bob@fabrikam.example"]) { Data = original[..^2] });

        Assert.True(sent.Succeeded, sent.Transcript);
        string delivered = Assert.Single(await fabrikam.WaitForMaildirMessagesAsync(1, DeliveryTimeout));
        string expected = original.Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.True(delivered.EndsWith(expected, StringComparison.Ordinal), $"the delivered message does not end with what Contoso's user sent:\n{delivered}");
        string trace = delivered[..^expected.Length];

        // Newest first: Fabrikam's Postfix received from the gateway over TLS, the gateway from
        // Contoso's Postfix over TLS with its client certificate, Contoso's Postfix from swaks.
        var fabrikamHop = Regex.Match(trace, @"Received: from mx\.gateway\.example \(unknown \[127\.0\.0\.\d+\]\)\s+\(using TLSv1\.[23] with cipher [^\n]*(\n\s[^\n]*)*?\s+by mail\.fabrikam\.example \(Postfix\) with ESMTPS id");
        var gatewayHop = Regex.Match(trace, @"Received: from mail\.contoso\.example \(unknown \[127\.0\.0\.9\]\)\s+\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)\s+\(Client CN ""mail\.contoso\.example"", Issuer ""Postern Test Intermediate CA"" \(verified OK\)\)\s+by mx\.gateway\.example \(Postern\) with ESMTPS id");
        var contosoHop = Regex.Match(trace, @"Received: from [^\n]*\n(\s[^\n]*\n)*?\s+by mail\.contoso\.example \(Postfix\) with ESMTP id");
        Assert.True(fabrikamHop.Success, $"no TLS Received of Fabrikam's Postfix:\n{trace}");
        Assert.True(gatewayHop.Success, $"no TLS Received of the gateway naming Contoso's certificate:\n{trace}");
        Assert.True(contosoHop.Success, $"no Received of Contoso's Postfix:\n{trace}");
        Assert.True(fabrikamHop.Index < gatewayHop.Index && gatewayHop.Index < contosoHop.Index, trace);
        Assert.Equal(3, Regex.Matches(trace, "^Received: ", RegexOptions.Multiline).Count);

        await contoso.WaitForMaillogAsync(new Regex(@"Verified TLS connection established to 127\.0\.0\.10\[127\.0\.0\.10\]:25"), DeliveryTimeout);
        await contoso.WaitForMaillogAsync(new Regex(@"to=<bob@fabrikam\.example>.*status=sent \(250 "), DeliveryTimeout);
        await WaitForEmptyQueueAsync(story);

        // The gateway attributes the message to the Partner connector and delivers it by the OnPremises one.
        await story.Postern.WaitForOutputAsync(new Regex(@"queued from=alice@contoso\.example .*connector=""From Contoso"""), TimeSpan.FromSeconds(5));
        await story.Postern.WaitForOutputAsync(new Regex(@"to=<bob@fabrikam\.example>, .*status=sent \(250 .*\), connector=""To Fabrikam servers"""), TimeSpan.FromSeconds(5));
    }

    [InteropFact]
    public async Task B_Contoso_pinning_mail_fabrikam_example_gets_Fabrikams_certificate_by_SNI_and_nothing_without_it()
    {
        await using var story = await Story.StartAsync(Pki);
        var fabrikam = story.StartFabrikam(story.FabrikamCertificate);

        // Pinned name sent as SNI: the gateway presents Fabrikam's uploaded certificate.
        using (var contoso = story.StartContoso($"{GatewayRelayHost} secure match={FabrikamName} servername={FabrikamName}"))
        {
            var sent = await Swaks.SendAsync(ContosoAddress, 25, "alice@contoso.example", "bob@fabrikam.example");
            Assert.True(sent.Succeeded, sent.Transcript);
            await contoso.WaitForMaillogAsync(new Regex(@"Verified TLS connection established to 127\.0\.0\.10\[127\.0\.0\.10\]:25"), DeliveryTimeout);
            await contoso.WaitForMaillogAsync(new Regex(@"to=<bob@fabrikam\.example>.*status=sent \(250 "), DeliveryTimeout);
            Assert.Single(await fabrikam.WaitForMaildirMessagesAsync(1, DeliveryTimeout));
        }

        await WaitForEmptyQueueAsync(story);

        // The gateway's own name as SNI, or no SNI: the gateway certificate, which the pin refuses.
        foreach (string policy in new[]
                 {
                     $"{GatewayRelayHost} secure match={FabrikamName} servername={GatewayName}",
                     $"{GatewayRelayHost} secure match={FabrikamName}",
                 })
        {
            using var contoso = story.StartContoso(policy);
            var sent = await Swaks.SendAsync(ContosoAddress, 25, "alice@contoso.example", "bob@fabrikam.example");
            Assert.True(sent.Succeeded, sent.Transcript);
            await contoso.WaitForMaillogAsync(new Regex(@"status=deferred \(Server certificate not verified\)"), DeliveryTimeout);
            Assert.Contains("server certificate verification failed for 127.0.0.10[127.0.0.10]:25", contoso.ReadMaillog(), StringComparison.Ordinal);
            Assert.Equal(1, contoso.QueuedMessageCount());
            Assert.Empty(SpoolFiles.ListQueue(story.DataDirectory));
            Assert.Single(fabrikam.ReadMaildirMessages());
        }
    }

    [InteropFact]
    public async Task C_the_Partner_connector_refuses_contoso_mail_without_the_certificate_or_without_TLS()
    {
        await using var story = await Story.StartAsync(Pki);

        var noCertificate = await Swaks.SendAsync(GatewayAddress, 25, "alice@contoso.example", "bob@fabrikam.example", SwaksTls.StartTls);
        var plain = await Swaks.SendAsync(GatewayAddress, 25, "alice@contoso.example", "bob@fabrikam.example");

        Assert.False(noCertificate.Succeeded, noCertificate.Transcript);
        string refusal = Reply(noCertificate, "550 5.7.1 ");
        Assert.Contains("From Contoso", refusal, StringComparison.Ordinal);
        Assert.Contains(ContosoName, refusal, StringComparison.Ordinal);

        Assert.False(plain.Succeeded, plain.Transcript);
        Reply(plain, "530 5.7.0 Must issue a STARTTLS command first");

        // The same mail with the certificate is accepted in scenario A (swaks cannot send the
        // intermediate with its certificate, Postfix can).
        Assert.Empty(SpoolFiles.ListQueue(story.DataDirectory));
    }

    [InteropFact]
    public async Task D_a_bad_Fabrikam_certificate_keeps_the_message_queued_with_the_reason_until_the_right_one_delivers_it()
    {
        await using var story = await Story.StartAsync(Pki);
        var fabrikam = story.StartFabrikam(Pki.IssueServer("wrong.fabrikam.example"));

        var sent = await Swaks.SendAsync(GatewayAddress, 25, "someone@example.net", "bob@fabrikam.example", SwaksTls.StartTls);
        Assert.True(sent.Succeeded, sent.Transcript);
        string queueId = Assert.Single(SpoolFiles.ListQueue(story.DataDirectory));

        await WaitForDeferralAsync(story, queueId, "certificate names [wrong.fabrikam.example] do not match mail.fabrikam.example");

        story.ReplaceCertificate(fabrikam, Pki.IssueExpired(FabrikamName));
        await WaitForDeferralAsync(story, queueId, "certificate expired");

        story.ReplaceCertificate(fabrikam, Pki.IssueFromRogueCa(FabrikamName));
        await WaitForDeferralAsync(story, queueId, "chain does not reach a trusted root");
        Assert.Empty(fabrikam.ReadMaildirMessages());

        story.ReplaceCertificate(fabrikam, story.FabrikamCertificate);
        string delivered = Assert.Single(await fabrikam.WaitForMaildirMessagesAsync(1, DeliveryTimeout));
        Assert.Contains("by mail.fabrikam.example (Postfix) with ESMTPS", delivered, StringComparison.Ordinal);
        await WaitForEmptyQueueAsync(story);
    }

    [InteropFact]
    public async Task E_Fabrikams_server_relays_outbound_through_its_OnPremises_connector_and_a_stranger_cannot_relay()
    {
        await using var story = await Story.StartAsync(Pki);
        story.StartFabrikam(story.FabrikamCertificate, relayThroughGateway: true);
        var contoso = story.StartContoso($"{GatewayRelayHost} secure match={GatewayName}");
        LoopbackAddresses.Ensure(StrangerAddress);
        string token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(FabrikamAddress, 25, "bob@fabrikam.example", ["alice@contoso.example"])
        {
            Headers = [$"Subject: outbound {token}"],
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        string delivered = Assert.Single(await contoso.WaitForMaildirMessagesAsync(1, DeliveryTimeout));
        Assert.Contains($"Subject: outbound {token}", delivered, StringComparison.Ordinal);
        Assert.Matches(@"Received: from mail\.fabrikam\.example \(unknown \[127\.0\.0\.11\]\)[\s\S]*?by mx\.gateway\.example \(Postern\) with ESMTPS id", delivered);
        Assert.Matches(@"Received: from mx\.gateway\.example \(unknown \[127\.0\.0\.\d+\]\)\s+\(using TLSv1\.[23][\s\S]*?by mail\.contoso\.example \(Postfix\) with ESMTPS id", delivered);
        await WaitForEmptyQueueAsync(story);
        await story.Postern.WaitForOutputAsync(new Regex(@"queued from=bob@fabrikam\.example .*connector=""From Fabrikam servers"""), TimeSpan.FromSeconds(5));
        await story.Postern.WaitForOutputAsync(new Regex(@"to=<alice@contoso\.example>, .*status=sent \(250 .*\), connector=""To Contoso"""), TimeSpan.FromSeconds(5));

        var stranger = await Swaks.SendAsync(new SwaksOptions(GatewayAddress, 25, "eve@stranger.example", ["alice@contoso.example"])
        {
            ExtraArguments = ["--local-interface", StrangerAddress],
        });

        Assert.False(stranger.Succeeded, stranger.Transcript);
        Reply(stranger, "550 5.7.1 Relay access denied");
        Assert.Empty(SpoolFiles.ListQueue(story.DataDirectory));
    }

    [InteropFact]
    public async Task F_a_reload_changes_a_connector_without_restart_and_a_broken_file_changes_nothing()
    {
        await using var story = await Story.StartAsync(Pki);
        var postern = story.Postern;
        string configPath = Assert.IsType<string>(postern.ConfigPath);

        var strict = await Swaks.SendAsync(GatewayAddress, 25, "alice@contoso.example", "bob@fabrikam.example");
        Reply(strict, "530 5.7.0 ");

        ReplaceFile(configPath, "{ \"gateway\": { \"hostName\": ");
        await postern.WaitForOutputAsync(new Regex(@"reload from \S+ rejected"), TimeSpan.FromSeconds(20));
        var afterBroken = await Swaks.SendAsync(GatewayAddress, 25, "alice@contoso.example", "bob@fabrikam.example");
        Assert.False(afterBroken.Succeeded, afterBroken.Transcript);
        Reply(afterBroken, "530 5.7.0 ");

        ReplaceFile(configPath, JsonSerializer.Serialize(story.Configuration(strictContoso: false), PosternProcess.JsonOptions));
        await postern.WaitForOutputAsync(new Regex("Configuration reloaded from"), TimeSpan.FromSeconds(20));
        var relaxed = await Swaks.SendAsync(GatewayAddress, 25, "alice@contoso.example", "bob@fabrikam.example");

        Assert.True(relaxed.Succeeded, relaxed.Transcript + postern.Describe());
        Assert.False(postern.HasExited, postern.Describe());
        Assert.Same(postern, story.Postern);
        var stored = Assert.Single(SpoolFiles.ReadQueue(story.DataDirectory));
        Assert.Equal("ESMTP", stored.Protocol);
        Assert.Equal("From Contoso", stored.Envelope.GetProperty("connector").GetString());
    }

    /// <summary>
    /// The server line starting with <paramref name="prefix"/>; fails with the transcript when there is none.
    /// Reads the transcript itself: swaks marks replies it takes as errors <c>&lt;**</c> (plain) and
    /// <c>&lt;~*</c> (TLS), which <see cref="SwaksResult.ServerLines"/> leaves out or keeps with the star.
    /// </summary>
    private static string Reply(SwaksResult result, string prefix) =>
        result.Transcript.Split('\n')
            .Select(l => l.TrimEnd('\r').TrimStart())
            .Where(l => l.StartsWith("<-", StringComparison.Ordinal) || l.StartsWith("<~", StringComparison.Ordinal) || l.StartsWith("<*", StringComparison.Ordinal))
            .Select(l => l[2..].TrimStart('*').TrimStart())
            .FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no reply starting with '{prefix}':\n{result.Transcript}");

    private static void ReplaceFile(string path, string text)
    {
        string temporary = path + ".new";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }

    private static async Task WaitForDeferralAsync(Story story, string queueId, string reason)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        string last = "(no state yet)";
        while (DateTime.UtcNow < deadline)
        {
            if (story.ReadRecipientState(queueId) is { } recipient)
            {
                last = recipient.ToString();
                if (recipient.TryGetProperty("lastReply", out var reply) &&
                    reply.GetProperty("text").GetString() is { } text && text.Contains(reason, StringComparison.Ordinal))
                {
                    Assert.Equal("Deferred", recipient.GetProperty("status").GetString());
                    Assert.Equal("4.7.5", reply.GetProperty("enhancedStatus").GetString());
                    Assert.Equal("To Fabrikam servers", recipient.GetProperty("connector").GetString());
                    Assert.Contains(queueId, SpoolFiles.ListQueue(story.DataDirectory));
                    return;
                }
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"no deferral with '{reason}' for {queueId} within {DeliveryTimeout.TotalSeconds:0}s; last state: {last}\n{story.Postern.Describe()}");
    }

    private static async Task WaitForEmptyQueueAsync(Story story)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (SpoolFiles.ListQueue(story.DataDirectory).Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the gateway's queue is not empty\n{story.Postern.Describe()}");
            await Task.Delay(200);
        }
    }

    /// <summary>The gateway process, its certificates and the Postfix peers of one scenario; disposing stops them all.</summary>
    private sealed class Story : IAsyncDisposable
    {
        private readonly List<PostfixInstance> _peers = [];
        private readonly TestPki _pki;
        private PosternProcess? _postern;

        private Story(TestPki pki)
        {
            _pki = pki;
            LoopbackAddresses.Ensure(ContosoAddress, GatewayAddress, FabrikamAddress);
            GatewayCertificate = pki.IssueServer(GatewayName, GatewayName, "*.gateway.example");
            FabrikamCertificate = pki.IssueServer(FabrikamName);
            ContosoCertificate = pki.Issue(ContosoName, [], TestKeyType.Rsa, TestCertificateUsage.ServerAndClient);
            Directory = System.IO.Directory.CreateTempSubdirectory("postern-story-").FullName;
        }

        public IssuedCertificate GatewayCertificate { get; }

        public IssuedCertificate FabrikamCertificate { get; }

        public IssuedCertificate ContosoCertificate { get; }

        public string Directory { get; }

        public string DataDirectory => Path.Combine(Directory, "var");

        public PosternProcess Postern => _postern ?? throw new InvalidOperationException("the gateway is not running");

        public static async Task<Story> StartAsync(TestPki pki)
        {
            var story = new Story(pki);
            try
            {
                story._postern = await PosternProcess.StartAsync(story.Configuration(strictContoso: true), story.Directory, Gateway);
                return story;
            }
            catch
            {
                await story.DisposeAsync();
                throw;
            }
        }

        public object Configuration(bool strictContoso) => new
        {
            gateway = new
            {
                hostName = GatewayName,
                dataDirectory = "var",
                listeners = new[] { new { endpoint = Gateway.ToString(), security = "StartTls", requestClientCertificate = true } },
                certificates = new[] { new { certificateFile = GatewayCertificate.FullChainPath, keyFile = GatewayCertificate.KeyPath } },
                trust = new { useSystemStore = false, additionalRoots = new[] { _pki.RootCertificatePath } },
                // Smart hosts are addresses: nothing is resolved, and nothing may reach the system resolver.
                dns = new { servers = new[] { "127.0.0.1:9" } },
                limits = new { shutdownGraceSeconds = 5 },
                queue = new { hold = false, minimumBackoffSeconds = 2, maximumBackoffSeconds = 4 },
            },
            organizations = new[]
            {
                new
                {
                    name = "Fabrikam",
                    acceptedDomains = new[] { "fabrikam.example" },
                    certificates = new[] { new { certificateFile = FabrikamCertificate.FullChainPath, keyFile = FabrikamCertificate.KeyPath } },
                    inboundConnectors = new object[]
                    {
                        strictContoso
                            ? new
                            {
                                name = "From Contoso",
                                connectorType = "Partner",
                                senderDomains = new[] { "contoso.example" },
                                requireTls = true,
                                tlsSenderCertificateName = ContosoName,
                                restrictDomainsToCertificate = true,
                            }
                            : new
                            {
                                name = "From Contoso",
                                connectorType = "Partner",
                                senderDomains = new[] { "contoso.example" },
                                requireTls = false,
                                tlsSenderCertificateName = ContosoName,
                                restrictDomainsToCertificate = false,
                            },
                        new { name = "From Fabrikam servers", connectorType = "OnPremises", senderIPAddresses = new[] { FabrikamAddress } },
                    },
                    outboundConnectors = new object[]
                    {
                        new
                        {
                            name = "To Fabrikam servers",
                            connectorType = "OnPremises",
                            allAcceptedDomains = true,
                            useMxRecord = false,
                            smartHosts = new[] { $"[{FabrikamAddress}]:25" },
                            tlsSettings = "DomainValidation",
                            tlsDomain = FabrikamName,
                        },
                        new
                        {
                            name = "To Contoso",
                            connectorType = "Partner",
                            recipientDomains = new[] { "contoso.example" },
                            useMxRecord = false,
                            smartHosts = new[] { $"[{ContosoAddress}]:25" },
                            tlsSettings = "DomainValidation",
                            tlsDomain = ContosoName,
                        },
                    },
                },
            },
        };

        /// <summary>Fabrikam's on-premises Postfix: a Maildir for fabrikam.example, serving <paramref name="certificate"/>.</summary>
        public PostfixInstance StartFabrikam(IssuedCertificate certificate, bool relayThroughGateway = false) =>
            Track(PostfixInstance.StartNew(new PostfixOptions("fabrikam", FabrikamAddress)
            {
                Hostname = FabrikamName,
                MaildirDomains = ["fabrikam.example"],
                ServerTls = PostfixServerTls.For(certificate),
                RelayHost = relayThroughGateway ? GatewayRelayHost : null,
                ClientTls = relayThroughGateway
                    ? new PostfixClientTls
                    {
                        SecurityLevel = "secure",
                        CAfile = _pki.RootCertificatePath,
                        PolicyMapEntries = [$"{GatewayRelayHost} secure match={GatewayName}"],
                    }
                    : null,
            }));

        /// <summary>Contoso's Postfix: relays through the gateway presenting its client certificate under <paramref name="policy"/>; a Maildir for contoso.example.</summary>
        public PostfixInstance StartContoso(string policy) =>
            Track(PostfixInstance.StartNew(new PostfixOptions("contoso", ContosoAddress)
            {
                Hostname = ContosoName,
                MaildirDomains = ["contoso.example"],
                RelayHost = GatewayRelayHost,
                ServerTls = PostfixServerTls.For(ContosoCertificate),
                ClientTls = new PostfixClientTls
                {
                    SecurityLevel = "secure",
                    CAfile = _pki.RootCertificatePath,
                    CertFile = ContosoCertificate.FullChainPath,
                    KeyFile = ContosoCertificate.KeyPath,
                    PolicyMapEntries = [policy],
                },
            }));

        /// <summary>Restarts <paramref name="peer"/> serving <paramref name="certificate"/>.</summary>
        public void ReplaceCertificate(PostfixInstance peer, IssuedCertificate certificate)
        {
            peer.Stop();
            peer.Postconf("-e", $"smtpd_tls_chain_files = {certificate.KeyPath}, {certificate.FullChainPath}").EnsureSuccess();
            peer.Start();
        }

        /// <summary>The first recipient's entry of <c>spool/state/&lt;id&gt;</c>, or null while there is none.</summary>
        public JsonElement? ReadRecipientState(string queueId)
        {
            string path = Path.Combine(DataDirectory, "spool", "state", queueId);
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (FileNotFoundException)
            {
                return null;
            }

            const string header = "POSTERN-STATE 1\n";
            Assert.Equal(header, Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, header.Length)));
            using var document = JsonDocument.Parse(bytes.AsMemory(header.Length));
            return document.RootElement.GetProperty("recipients")[0].Clone();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var peer in _peers)
            {
                try
                {
                    peer.Dispose();
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException)
                {
                    // The next peer and the gateway are still stopped.
                }
            }

            if (_postern is not null)
            {
                await _postern.DisposeAsync();
            }

            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        private PostfixInstance Track(PostfixInstance peer)
        {
            _peers.Add(peer);
            return peer;
        }
    }
}

using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>
/// The delivering side against real Postfix servers: verified STARTTLS with the organization's
/// client certificate, a Postfix → Postern → Postfix round trip, a bad certificate that keeps the
/// message queued until it is fixed, <c>kill -9</c> in the middle of a delivery, and MX delivery
/// through a real unbound.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class DeliveryPostfixTests(InteropEnvironment environment)
{
    private const string ReceiverAddress = "127.0.0.6";
    private const string SenderAddress = "127.0.0.7";
    private const string ReceiverName = "exchange.fabrikam.example";
    private const string PartnerDomain = "partner.example";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(45);

    private TestPki Pki => environment.Pki;

    private static string SmartHost => $"[{ReceiverAddress}]:25";

    /// <summary>Everything for Fabrikam's accepted domain goes to its own server under DomainValidation.</summary>
    private static object ToFabrikamServers(string tlsDomain = ReceiverName) => new
    {
        name = "To Fabrikam servers",
        connectorType = "OnPremises",
        allAcceptedDomains = true,
        useMxRecord = false,
        smartHosts = new[] { SmartHost },
        tlsSettings = "DomainValidation",
        tlsDomain,
    };

    private PostfixInstance StartReceiver(IssuedCertificate certificate, IReadOnlyDictionary<string, string>? mainCf = null) =>
        PostfixInstance.StartNew(new PostfixOptions("delivery-receiver", ReceiverAddress)
        {
            Hostname = ReceiverName,
            MaildirDomains = [DeliveryGateway.AcceptedDomain, PartnerDomain, "partner.test"],
            ServerTls = PostfixServerTls.For(certificate),
            MainCf = mainCf ?? new Dictionary<string, string>(),
        });

    private static string Unfold(string headerBlock) => Regex.Replace(headerBlock, @"\r?\n[ \t]+", " ");

    /// <summary>The first header field named <paramref name="name"/>, unfolded.</summary>
    private static string Header(string message, string name)
    {
        var match = Regex.Match(message, $@"^{Regex.Escape(name)}:.*(?:\r?\n[ \t].*)*", RegexOptions.Multiline);
        Assert.True(match.Success, $"no {name} header in\n{message}");
        return Unfold(match.Value);
    }

    [InteropFact]
    public async Task Delivers_to_Postfix_over_verified_STARTTLS_presenting_the_organization_certificate()
    {
        var receiverCertificate = Pki.IssueServer(ReceiverName);
        using var receiver = StartReceiver(receiverCertificate);
        await using var gateway = await DeliveryGateway.StartAsync(Pki, [ToFabrikamServers()]);
        string token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(DeliveryGateway.Endpoint.Address.ToString(), 25, "partner@contoso.example", ["user@fabrikam.example"])
        {
            Tls = SwaksTls.StartTls,
            Headers = [$"Subject: to postfix {token}"],
        });
        Assert.True(sent.Succeeded, sent.Transcript);

        string delivered = Assert.Single(await WaitForDeliveredAsync(receiver, gateway, 1));
        Assert.Contains($"Subject: to postfix {token}", delivered, StringComparison.Ordinal);
        // The first Received is Postfix's: the TLS clause, then Postern's client certificate, verified against the TestPki root.
        string received = Header(delivered, "Received");
        Assert.Matches(
            @"^Received: from mx\.gateway\.test \(unknown \[127\.0\.0\.\d+\]\) \(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)(?:[^()]|\([^()]*\))*\) " +
            @"\(Client CN ""mail\.fabrikam\.example"", Issuer ""Postern Test Intermediate CA"" \(verified OK\)\) " +
            @"by exchange\.fabrikam\.example \(Postfix\) with ESMTPS id \S+",
            received);
        await gateway.WaitForLogAsync(new Regex(@"Verified TLS connection established to \S*\[127\.0\.0\.6\]:25: TLSv1\.[23] with cipher \S+"), Timeout);
        await gateway.WaitForLogAsync(new Regex(@"to=<user@fabrikam\.example>, relay=\S*\[127\.0\.0\.6\]:25, delay=\d+\.\d, dsn=2\.\d\.\d, status=sent \(250 .*\), connector=""To Fabrikam servers"""), Timeout);
        await gateway.WaitForEmptyQueueAsync(Timeout);
        await receiver.WaitForMaillogAsync(new Regex(@"(Trusted|Verified) TLS connection established from unknown\[127\.0\.0\.\d+\]"), Timeout);
    }

    [InteropFact]
    public async Task Postfix_to_Postern_to_Postfix_round_trip_keeps_the_message_byte_for_byte()
    {
        var receiverCertificate = Pki.IssueServer(ReceiverName);
        using var receiver = StartReceiver(receiverCertificate);
        await using var gateway = await DeliveryGateway.StartAsync(Pki,
        [
            new
            {
                name = "To Partner",
                recipientDomains = new[] { PartnerDomain },
                smartHosts = new[] { SmartHost },
                tlsSettings = "DomainValidation",
                tlsDomain = ReceiverName,
            },
        ]);
        var senderCertificate = Pki.Issue("relay.fabrikam.example", [], TestKeyType.Ecdsa, TestCertificateUsage.ServerAndClient);
        string gatewayEndpoint = $"[{DeliveryGateway.Endpoint.Address}]:25";
        using var sender = PostfixInstance.StartNew(new PostfixOptions("delivery-sender", SenderAddress)
        {
            Hostname = "relay.fabrikam.example",
            RelayHost = gatewayEndpoint,
            ClientTls = new PostfixClientTls
            {
                SecurityLevel = "secure",
                CAfile = Pki.RootCertificatePath,
                CertFile = senderCertificate.FullChainPath,
                KeyFile = senderCertificate.KeyPath,
                PolicyMapEntries = [$"{gatewayEndpoint} secure match={DeliveryGateway.HostName}"],
            },
        });
        string token = Guid.NewGuid().ToString("N");
        byte[] original = Encoding.UTF8.GetBytes(RoundTripMessage(token));

        await SubmitAsync(SenderAddress, "author@fabrikam.example", $"someone@{PartnerDomain}", original);

        var files = await WaitForMaildirFilesAsync(receiver, gateway, 1);
        byte[] delivered = await File.ReadAllBytesAsync(Assert.Single(files));
        // The virtual delivery agent stores LF line ends; everything from the first header the
        // author wrote to the end must be the submitted bytes.
        byte[] expected = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(original).Replace("\r\n", "\n", StringComparison.Ordinal));
        int start = delivered.AsSpan().IndexOf("DKIM-Signature:"u8);
        Assert.True(start > 0, Encoding.UTF8.GetString(delivered));
        string trace = Encoding.UTF8.GetString(delivered, 0, start);
        Assert.True(
            delivered.AsSpan(start).SequenceEqual(expected),
            $"delivered body differs\n--- expected ---\n{Encoding.UTF8.GetString(expected)}\n--- delivered ---\n{Encoding.UTF8.GetString(delivered)}");
        // Only trace fields were added in front: the receiver's, Postern's (with TLS and the sender's certificate) and the sender's.
        Assert.All(
            Regex.Split(Unfold(trace).TrimEnd('\n'), "\n"),
            line => Assert.Matches("^(Return-Path|X-Original-To|Delivered-To|Received): ", line));
        Assert.Matches(
            @"Received: from relay\.fabrikam\.example \(unknown \[127\.0\.0\.7\]\) \(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\) " +
            @"\(Client CN ""relay\.fabrikam\.example"", Issuer ""Postern Test Intermediate CA"" \(verified OK\)\) by mx\.gateway\.test \(Postern\) with ESMTPS",
            Unfold(trace));
        Assert.Matches(@"Received: from mx\.gateway\.test \(unknown \[127\.0\.0\.\d+\]\) \(using TLSv1\.[23] ", Unfold(trace));
        await sender.WaitForMaillogAsync(new Regex(@"Verified TLS connection established to 127\.0\.0\.8\[127\.0\.0\.8\]:25"), Timeout);
        await gateway.WaitForLogAsync(new Regex(@"Verified TLS connection established to \S*\[127\.0\.0\.6\]:25"), Timeout);
    }

    [InteropFact]
    public async Task An_untrusted_certificate_keeps_the_message_queued_with_the_reason_until_the_certificate_is_fixed()
    {
        var rogue = Pki.IssueFromRogueCa(ReceiverName);
        using var receiver = StartReceiver(rogue);
        await using var gateway = await DeliveryGateway.StartAsync(Pki, [ToFabrikamServers()]);
        string token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(DeliveryGateway.Endpoint.Address.ToString(), 25, "partner@contoso.example", ["user@fabrikam.example"])
        {
            Tls = SwaksTls.StartTls,
            Headers = [$"Subject: wait {token}"],
        });
        Assert.True(sent.Succeeded, sent.Transcript);
        string queueId = await gateway.WaitForSingleQueuedAsync(Timeout);

        // The first attempt is refused by policy: state Deferred with a 4.7.5 naming the rogue issuer.
        JsonElement recipient = await WaitForRecipientStateAsync(gateway, queueId, r => r.GetProperty("status").GetString() == "Deferred");
        JsonElement reply = recipient.GetProperty("lastReply");
        Assert.Equal("4.7.5", reply.GetProperty("enhancedStatus").GetString());
        Assert.True(reply.GetProperty("isLocal").GetBoolean());
        string reason = reply.GetProperty("text").GetString()!;
        Assert.Contains("Rogue", reason, StringComparison.Ordinal);
        Assert.Contains("To Fabrikam servers", reason, StringComparison.Ordinal);
        await gateway.WaitForLogAsync(new Regex(queueId + @": TLS policy refused \S*\[127\.0\.0\.6\]:25 \(connector ""To Fabrikam servers""\): .*Rogue.*; nothing sent"), Timeout);
        Assert.Empty(receiver.ReadMaildirMessages());
        Assert.DoesNotMatch(@"client=unknown\[", receiver.ReadMaillog());

        // The administrator fixes the certificate; the next retry (short backoff) delivers.
        receiver.Stop();
        var good = Pki.IssueServer(ReceiverName);
        receiver.Postconf("-e", $"smtpd_tls_chain_files = {good.KeyPath}, {good.FullChainPath}", $"smtpd_tls_CAfile = {good.RootPath}").EnsureSuccess();
        receiver.Start();

        string delivered = Assert.Single(await WaitForDeliveredAsync(receiver, gateway, 1));
        Assert.Contains($"Subject: wait {token}", delivered, StringComparison.Ordinal);
        await gateway.WaitForEmptyQueueAsync(Timeout);
        Assert.Null(gateway.ReadState(queueId));
        string received = Header(delivered, "Received");
        Assert.True(
            Regex.IsMatch(received, @"\(Client CN ""mail\.fabrikam\.example"", Issuer ""Postern Test Intermediate CA"" \(verified OK\)\)"),
            $"{received}\n--- gateway ---\n{gateway.Running.Describe()}");
    }

    [InteropFact]
    public async Task Kill_9_during_a_delivery_loses_nothing()
    {
        var receiverCertificate = Pki.IssueServer(ReceiverName);
        // Postfix answers DATA only after 4 s: long enough to kill the gateway in the middle.
        using var receiver = StartReceiver(receiverCertificate, new Dictionary<string, string> { ["smtpd_data_restrictions"] = "sleep 4" });
        await using var gateway = await DeliveryGateway.StartAsync(Pki, [ToFabrikamServers()]);
        string token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(DeliveryGateway.Endpoint.Address.ToString(), 25, "partner@contoso.example", ["user@fabrikam.example"])
        {
            Tls = SwaksTls.StartTls,
            Headers = [$"Subject: survives {token}"],
        });
        Assert.True(sent.Succeeded, sent.Transcript);
        string queueId = await gateway.WaitForSingleQueuedAsync(Timeout);

        // Postfix has taken MAIL and RCPT (a queue file exists for the client): the delivery is in flight.
        await receiver.WaitForMaillogAsync(new Regex(@"client=unknown\[127\.0\.0\.\d+\]"), Timeout);
        gateway.Running.Kill();
        Assert.Equal([queueId], gateway.QueueIds);
        Assert.Empty(receiver.ReadMaildirMessages());

        await gateway.StartAgainAsync();
        var delivered = await WaitForDeliveredAsync(receiver, gateway, 1);
        Assert.All(delivered, m => Assert.Contains($"Subject: survives {token}", m, StringComparison.Ordinal));
        await gateway.WaitForEmptyQueueAsync(Timeout);
        await gateway.WaitForLogAsync(new Regex(queueId + @": to=<user@fabrikam\.example>, .* status=sent \(250 "), Timeout);
    }

    [InteropFact]
    public async Task Delivers_by_MX_record_from_a_real_DNS_server()
    {
        var receiverCertificate = Pki.IssueServer("mx.partner.test");
        using var receiver = StartReceiver(receiverCertificate);
        using var dns = await UnboundServer.StartAsync(
        [
            "partner.test. MX 10 mx.partner.test.",
            "partner.test. MX 20 mx-backup.partner.test.",
            $"mx.partner.test. A {ReceiverAddress}",
        ]);
        // No tlsDomain: DomainValidation checks the MX host name.
        await using var gateway = await DeliveryGateway.StartAsync(Pki,
        [
            new { name = "To Partner by MX", recipientDomains = new[] { "partner.test" }, useMxRecord = true, tlsSettings = "DomainValidation" },
        ], dnsServer: dns.Server);
        string token = Guid.NewGuid().ToString("N");

        var sent = await Swaks.SendAsync(new SwaksOptions(DeliveryGateway.Endpoint.Address.ToString(), 25, "author@fabrikam.example", ["someone@partner.test"])
        {
            Tls = SwaksTls.StartTls,
            Headers = [$"Subject: by mx {token}"],
        });
        Assert.True(sent.Succeeded, sent.Transcript);

        string delivered = Assert.Single(await WaitForDeliveredAsync(receiver, gateway, 1));
        Assert.Contains($"Subject: by mx {token}", delivered, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: someone@partner.test", delivered, StringComparison.Ordinal);
        await gateway.WaitForLogAsync(new Regex(@"Verified TLS connection established to mx\.partner\.test\[127\.0\.0\.6\]:25"), Timeout);
        await gateway.WaitForLogAsync(new Regex(@"to=<someone@partner\.test>, relay=mx\.partner\.test\[127\.0\.0\.6\]:25, delay=\d+\.\d, dsn=2\.\d\.\d, status=sent \(250 .*\), connector=""To Partner by MX"""), Timeout);
        await gateway.WaitForEmptyQueueAsync(Timeout);
    }

    /// <summary>Waits for the receiver's Maildir; a timeout also shows the gateway's log.</summary>
    private static async Task<IReadOnlyList<string>> WaitForDeliveredAsync(PostfixInstance receiver, DeliveryGateway gateway, int count)
    {
        try
        {
            return await receiver.WaitForMaildirMessagesAsync(count, Timeout);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n--- gateway ---\n{gateway.EarlierOutput}{gateway.Running.Describe()}", e);
        }
    }

    private static async Task<JsonElement> WaitForRecipientStateAsync(DeliveryGateway gateway, string queueId, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            if (gateway.ReadState(queueId) is { } state)
            {
                JsonElement recipient = Assert.Single(state.GetProperty("recipients").EnumerateArray().ToList());
                if (condition(recipient))
                {
                    return recipient;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"state of {queueId}: {gateway.ReadState(queueId)}\n{gateway.Running.Describe()}");
            }

            await Task.Delay(50);
        }
    }

    private static async Task<IReadOnlyList<string>> WaitForMaildirFilesAsync(PostfixInstance receiver, DeliveryGateway gateway, int count)
    {
        await WaitForDeliveredAsync(receiver, gateway, count);
        return new[] { "new", "cur" }
            .Select(d => Path.Combine(receiver.MaildirPath, d))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateFiles)
            .ToList();
    }

    /// <summary>
    /// A message as a DKIM signer would leave it: a long unfolded header line and folded ones,
    /// an 8-bit UTF-8 body, lines that start with dots (one is a lone dot), trailing spaces and
    /// a line of 900 characters. CRLF line ends.
    /// </summary>
    private static string RoundTripMessage(string token)
    {
        string signature = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=fabrikam.example; s=sel2026; t=1767225600; " +
            "h=from:to:subject:date:message-id:mime-version:content-type:content-transfer-encoding; bh=" +
            Convert.ToBase64String(Encoding.ASCII.GetBytes(token + token)) + "; b=" +
            string.Concat(Enumerable.Repeat(Convert.ToBase64String(Encoding.ASCII.GetBytes(token)), 6));
        var lines = new List<string>
        {
            signature,
            "From: Author <author@fabrikam.example>",
            $"To: someone@{PartnerDomain}",
            $"Subject: round trip {token}",
            "Date: Thu, 01 Jan 2026 00:00:00 +0000",
            $"Message-ID: <{token}@fabrikam.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8;",
            "\tformat=flowed",
            "Content-Transfer-Encoding: 8bit",
            "X-Long: " + string.Concat(Enumerable.Repeat("abcdefghij", 90)),
            "",
            "Grüße aus Köln — naïve café, 日本語のテキスト.",
            ".a line that starts with a dot",
            "..two dots",
            ".",
            "trailing spaces   ",
            "\ttab first",
            string.Concat(Enumerable.Repeat("0123456789", 90)),
            "",
            "-- ",
            "end",
        };
        return string.Join("\r\n", lines) + "\r\n";
    }

    /// <summary>Plain SMTP submission of exact bytes (dot-stuffed on the wire) with BODY=8BITMIME.</summary>
    private static async Task SubmitAsync(string server, string from, string to, byte[] message)
    {
        using var client = new TcpClient();
        using var cts = new CancellationTokenSource(Timeout);
        await client.ConnectAsync(server, 25, cts.Token);
        await using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII, false, 1024, leaveOpen: true);
        var transcript = new StringBuilder();

        async Task<string> ReplyAsync(string expectedCode)
        {
            string? line;
            var reply = new StringBuilder();
            do
            {
                line = await reader.ReadLineAsync(cts.Token) ?? throw new IOException($"connection closed\n{transcript}");
                reply.AppendLine(line);
            }
            while (line.Length > 3 && line[3] == '-');
            transcript.Append("S: ").Append(reply);
            Assert.True(line.StartsWith(expectedCode, StringComparison.Ordinal), transcript.ToString());
            return reply.ToString();
        }

        async Task CommandAsync(string command, string expectedCode)
        {
            transcript.Append("C: ").AppendLine(command);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), cts.Token);
            await ReplyAsync(expectedCode);
        }

        await ReplyAsync("220");
        await CommandAsync("EHLO submitter.fabrikam.example", "250");
        await CommandAsync($"MAIL FROM:<{from}> BODY=8BITMIME", "250");
        await CommandAsync($"RCPT TO:<{to}>", "250");
        await CommandAsync("DATA", "354");
        using var data = new MemoryStream();
        bool lineStart = true;
        foreach (byte b in message)
        {
            if (lineStart && b == (byte)'.')
            {
                data.WriteByte((byte)'.');
            }

            data.WriteByte(b);
            lineStart = b == (byte)'\n';
        }

        data.Write(".\r\n"u8);
        await stream.WriteAsync(data.ToArray(), cts.Token);
        await ReplyAsync("250");
        await CommandAsync("QUIT", "221");
    }
}

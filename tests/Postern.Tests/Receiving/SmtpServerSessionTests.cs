using System.Text;
using Postern.Configuration;
using Postern.Tests.Support;

namespace Postern.Tests.Receiving;

/// <summary>The server session over real sockets and real TLS on loopback, with a real spool.</summary>
public sealed class SmtpServerSessionTests
{
    private const string Body = "Subject: test\r\nMessage-ID: <1@contoso.test>\r\n\r\nHello.\r\n";

    private static async Task<RawSmtpClient> ConnectAndGreetAsync(TestGateway gateway, bool tls = true, string? serverName = "mx.gateway.test")
    {
        RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        Assert.StartsWith("220 mx.gateway.test ESMTP", await client.ReadReplyAsync());
        Assert.StartsWith("250-mx.gateway.test", await client.CommandAsync("EHLO client.test"));
        if (tls)
        {
            Assert.StartsWith("220 2.0.0 Ready to start TLS", await client.CommandAsync("STARTTLS"));
            await client.StartTlsAsync(serverName);
            Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"));
        }
        return client;
    }

    [Fact]
    public async Task Ehlo_advertises_the_extensions_and_starttls_only_before_tls()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        string ehlo = await client.CommandAsync("EHLO client.test");
        foreach (string extension in new[] { "PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS", "CHUNKING", "DSN" })
            Assert.Contains("250-" + extension, ehlo.Replace("250 ", "250-"));
        await client.CommandAsync("STARTTLS");
        await client.StartTlsAsync("mx.gateway.test");
        string afterTls = await client.CommandAsync("EHLO client.test");
        Assert.DoesNotContain("STARTTLS", afterTls);
        Assert.Contains("PIPELINING", afterTls);
    }

    [Fact]
    public async Task A_message_over_starttls_is_spooled_exactly_with_a_received_header_carrying_the_tls_clause()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway);
        Assert.StartsWith("250 2.1.0", await client.CommandAsync("MAIL FROM:<alice@contoso.test> SIZE=100 RET=HDRS ENVID=abc+2Bdef"));
        Assert.StartsWith("250 2.1.5", await client.CommandAsync("RCPT TO:<bob@fabrikam.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@fabrikam.test"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        string reply = await client.CommandAsync(Body.Replace("Hello.", "..leading dot") + ".");
        Assert.StartsWith("250 2.0.0 Ok: queued as ", reply);
        string queueId = reply["250 2.0.0 Ok: queued as ".Length..].Trim();

        Assert.Equal([queueId], gateway.QueueIds());
        string stored = Encoding.UTF8.GetString(gateway.ReadMessage(queueId));
        string received = stored[..stored.IndexOf("Subject:", StringComparison.Ordinal)];
        Assert.StartsWith("Received: from client.test (unknown [127.0.0.1])\r\n", received);
        Assert.Matches(@"\(using TLSv1\.[23] with cipher TLS_\w+", received);
        Assert.Contains($"by mx.gateway.test (Postern) with ESMTPS id {queueId}", received);
        Assert.Contains("for <bob@fabrikam.test>;", received);
        Assert.EndsWith(Body.Replace("Hello.", ".leading dot"), stored);

        using var message = gateway.Gateway.Spool.Open(queueId);
        Assert.Equal("alice@contoso.test", message.Envelope.Sender);
        Assert.Equal("bob@fabrikam.test", Assert.Single(message.Envelope.Recipients).Address);
        Assert.Equal(Postern.Spool.DsnNotify.Success | Postern.Spool.DsnNotify.Failure, message.Envelope.Recipients[0].Notify);
        Assert.Equal("rfc822;bob@fabrikam.test", message.Envelope.Recipients[0].OriginalRecipient);
        Assert.Equal(Postern.Spool.DsnReturn.Headers, message.Envelope.Return);
        Assert.Equal("abc+def", message.Envelope.EnvelopeId);
        Assert.Equal(100, message.Envelope.DeclaredSize);
        Assert.Equal("client.test", message.Envelope.HeloName);
        Assert.Equal("ESMTPS", message.Envelope.Protocol);
        Assert.NotNull(message.Envelope.Tls);
        Assert.Equal("mx.gateway.test", message.Envelope.Tls!.ServerName);
    }

    [Fact]
    public async Task Starttls_discards_plaintext_pipelined_after_it_and_forgets_the_earlier_dialogue()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO client.test");
        // CVE-2011-0411 class: commands injected in the same packet as STARTTLS.
        await client.SendAsync("STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<bob@fabrikam.test>\r\n");
        Assert.StartsWith("220 2.0.0", await client.ReadReplyAsync());
        await client.StartTlsAsync("mx.gateway.test");
        // The first reply after the handshake answers the first command sent over TLS.
        Assert.StartsWith("503 5.5.1 Error: send HELO/EHLO first", await client.CommandAsync("RCPT TO:<bob@fabrikam.test>"));
        Assert.StartsWith("250-mx.gateway.test", await client.CommandAsync("EHLO client.test"));
        Assert.StartsWith("503 5.5.1 Error: need MAIL", await client.CommandAsync("RCPT TO:<bob@fabrikam.test>"));
        Assert.StartsWith("503 5.5.1 Error: TLS already active", await client.CommandAsync("STARTTLS"));
    }

    public static TheoryData<string> SmugglingVariants => new()
    {
        "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r\n", "\n.\r", "\r\n\x00.\r\n",
    };

    [Theory]
    [MemberData(nameof(SmugglingVariants))]
    public async Task Smuggling_variants_never_end_the_message_and_never_yield_a_second_message(string variant)
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway, tls: false);
        await client.CommandAsync("MAIL FROM:<alice@contoso.test>");
        await client.CommandAsync("RCPT TO:<bob@fabrikam.test>");
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        string smuggled = "Subject: first\r\n\r\nfirst" + variant +
            "MAIL FROM:<admin@fabrikam.test>\r\nRCPT TO:<victim@fabrikam.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n";
        await client.SendAsync(smuggled);
        string reply = await client.ReadReplyAsync();
        if (variant == "\r\n\x00.\r\n")
        {
            // NUL is data: the message is one message, ended by the real terminator.
            Assert.StartsWith("250 2.0.0 Ok: queued as", reply);
            string stored = Encoding.UTF8.GetString(gateway.ReadMessage(Assert.Single(gateway.QueueIds())));
            Assert.Contains("Subject: smuggled", stored);
        }
        else
        {
            Assert.StartsWith("550 5.6.0", reply);
            Assert.Empty(gateway.QueueIds());
        }
        // Nothing more was answered: the smuggled commands were data, not commands.
        Assert.StartsWith("250 2.0.0", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Pipelined_transaction_gets_every_reply_in_order()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway);
        await client.SendAsync("MAIL FROM:<a@contoso.test>\r\nRCPT TO:<b@fabrikam.test>\r\nRCPT TO:<c@fabrikam.test>\r\nRCPT TO:<bad address>\r\nDATA\r\n");
        Assert.StartsWith("250 2.1.0", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith("501 5.1.3", await client.ReadReplyAsync());
        Assert.StartsWith("354", await client.ReadReplyAsync());
        await client.SendAsync(Body + ".\r\nQUIT\r\n");
        Assert.StartsWith("250 2.0.0 Ok: queued", await client.ReadReplyAsync());
        Assert.StartsWith("221 2.0.0", await client.ReadReplyAsync());
        using var message = gateway.Gateway.Spool.Open(Assert.Single(gateway.QueueIds()));
        Assert.Equal(["b@fabrikam.test", "c@fabrikam.test"], message.Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public async Task Bdat_chunks_are_stored_exactly()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway);
        await client.CommandAsync("MAIL FROM:<a@contoso.test> BODY=8BITMIME");
        await client.CommandAsync("RCPT TO:<b@fabrikam.test>");
        byte[] part1 = Encoding.UTF8.GetBytes("Subject: chunks\r\n\r\n.a line starting with a dot\r\n");
        byte[] part2 = Encoding.UTF8.GetBytes("caf\u00e9 8-bit\r\n.\r\n");
        await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {part1.Length}\r\n"), .. part1]);
        Assert.Equal($"250 2.0.0 {part1.Length} octets received", await client.ReadReplyAsync());
        await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {part2.Length} LAST\r\n"), .. part2]);
        Assert.StartsWith("250 2.0.0 Ok: queued as", await client.ReadReplyAsync());
        byte[] stored = gateway.ReadMessage(Assert.Single(gateway.QueueIds()));
        Assert.EndsWith(Convert.ToHexString([.. part1, .. part2]), Convert.ToHexString(stored));
    }

    [Fact]
    public async Task Bdat_with_a_bare_line_feed_is_refused()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway, tls: false);
        await client.CommandAsync("MAIL FROM:<a@contoso.test>");
        await client.CommandAsync("RCPT TO:<b@fabrikam.test>");
        byte[] chunk = Encoding.ASCII.GetBytes("Subject: x\r\n\r\nbare\n.\nlf\r\n");
        await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {chunk.Length} LAST\r\n"), .. chunk]);
        Assert.StartsWith("550 5.6.0", await client.ReadReplyAsync());
        Assert.Empty(gateway.QueueIds());
    }

    [Fact]
    public async Task Relay_to_a_foreign_domain_is_denied_without_an_onpremises_connector_and_accepted_domains_are_open()
    {
        await using TestGateway gateway = await TestGateway.StartAsync(loopbackRelay: false);
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway);
        await client.CommandAsync("MAIL FROM:<a@contoso.test>");
        Assert.Equal("550 5.7.1 Relay access denied", await client.CommandAsync("RCPT TO:<someone@elsewhere.test>"));
        Assert.StartsWith("250 2.1.5", await client.CommandAsync("RCPT TO:<bob@FABRIKAM.test>"));
        Assert.StartsWith("250 2.1.5", await client.CommandAsync("RCPT TO:<postmaster>"));
    }

    [Fact]
    public async Task Limits_on_size_recipients_line_length_and_errors_are_enforced()
    {
        await using TestGateway gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with { Limits = c.Gateway.Limits with { MaxRecipientsPerMessage = 2, MaxMessageSize = 1000, MaxBadCommands = 5, MaxCommandLineLength = 100 } },
        });
        await using RawSmtpClient client = await ConnectAndGreetAsync(gateway, tls: false);
        Assert.StartsWith("552 5.3.4", await client.CommandAsync("MAIL FROM:<a@contoso.test> SIZE=1001"));
        await client.CommandAsync("MAIL FROM:<a@contoso.test> SIZE=999");
        await client.CommandAsync("RCPT TO:<b1@fabrikam.test>");
        await client.CommandAsync("RCPT TO:<b2@fabrikam.test>");
        Assert.StartsWith("452 4.5.3", await client.CommandAsync("RCPT TO:<b3@fabrikam.test>"));
        await client.CommandAsync("DATA");
        Assert.StartsWith("552 5.3.4", await client.CommandAsync(new string('x', 998) + "\r\n" + new string('y', 500) + "\r\n."));
        Assert.Empty(gateway.QueueIds());
        Assert.StartsWith("500 5.5.2", await client.CommandAsync("NOOP " + new string('z', 200)));
        Assert.StartsWith("502 5.5.2", await client.CommandAsync("FOO"));
        Assert.StartsWith("502 5.5.2", await client.CommandAsync("BAR"));
        Assert.StartsWith("502 5.5.2", await client.CommandAsync("BAZ"));
        Assert.StartsWith("421 4.7.0", await client.CommandAsync("QUX"));
        Assert.True(await client.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task An_idle_client_is_timed_out_with_421()
    {
        await using TestGateway gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with { Limits = c.Gateway.Limits with { CommandTimeoutSeconds = 1 } },
        });
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        Assert.StartsWith("421 4.4.2", await client.ReadReplyAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await client.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_client_that_talks_before_the_greeting_is_refused()
    {
        await using TestGateway gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with { Limits = c.Gateway.Limits with { GreetingDelayMilliseconds = 500 } },
        });
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.SendAsync("EHLO eager.test\r\nMAIL FROM:<a@contoso.test>\r\n");
        Assert.StartsWith("554 5.5.0", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Connections_over_the_per_client_limit_get_421()
    {
        await using TestGateway gateway = await TestGateway.StartAsync(customize: c => c with
        {
            Gateway = c.Gateway with { Limits = c.Gateway.Limits with { MaxConnectionsPerClient = 2 } },
        });
        await using RawSmtpClient first = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        Assert.StartsWith("220", await first.ReadReplyAsync());
        await using RawSmtpClient second = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        Assert.StartsWith("220", await second.ReadReplyAsync());
        await using RawSmtpClient third = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        Assert.StartsWith("421 4.7.0", await third.ReadReplyAsync());
    }

    [Fact]
    public async Task Sni_picks_the_organization_certificate_and_no_sni_gets_the_default()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using (RawSmtpClient client = await ConnectAndGreetAsync(gateway, serverName: "mail.fabrikam.test"))
            Assert.Contains("CN=mail.fabrikam.test", client.Tls!.RemoteCertificate!.Subject);
        await using (RawSmtpClient client = await ConnectAndGreetAsync(gateway, serverName: null))
            Assert.Contains("CN=mx.gateway.test", client.Tls!.RemoteCertificate!.Subject);
        await using (RawSmtpClient client = await ConnectAndGreetAsync(gateway, serverName: "unknown.example"))
            Assert.Contains("CN=mx.gateway.test", client.Tls!.RemoteCertificate!.Subject);
    }

    [Fact]
    public async Task Implicit_tls_listener_greets_after_the_handshake()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.ImplicitTls);
        await client.StartTlsAsync("mx.gateway.test");
        Assert.StartsWith("220 mx.gateway.test ESMTP", await client.ReadReplyAsync());
        string ehlo = await client.CommandAsync("EHLO client.test");
        Assert.DoesNotContain("STARTTLS", ehlo);
    }

    [Fact]
    public async Task Plain_listener_does_not_offer_starttls()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.Plain);
        await client.ReadReplyAsync();
        Assert.DoesNotContain("STARTTLS", await client.CommandAsync("EHLO client.test"));
        Assert.StartsWith("502 5.5.1", await client.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task A_client_certificate_is_recorded_in_the_envelope_and_the_received_header()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        IssuedCertificate clientCertificate = gateway.Authority.Issue("client", "mail.contoso.test", ["mail.contoso.test"], server: false, client: true);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        await client.CommandAsync("EHLO mail.contoso.test");
        await client.CommandAsync("STARTTLS");
        await client.StartTlsAsync("mx.gateway.test", clientCertificate.Certificate, clientChain: [gateway.Authority.Intermediate]);
        await client.CommandAsync("EHLO mail.contoso.test");
        await client.CommandAsync("MAIL FROM:<a@contoso.test>");
        await client.CommandAsync("RCPT TO:<b@fabrikam.test>");
        await client.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await client.CommandAsync(Body + "."));
        string id = Assert.Single(gateway.QueueIds());
        string stored = Encoding.UTF8.GetString(gateway.ReadMessage(id));
        Assert.True(stored.Contains("(Client CN \"mail.contoso.test\", Issuer \"Postern Test Root Intermediate\" (verified OK))"), stored);
        using var message = gateway.Gateway.Spool.Open(id);
        Assert.Contains("mail.contoso.test", message.Envelope.Tls!.PeerCertificateSubject);
    }

    [Fact]
    public async Task Stopping_tells_idle_sessions_421_and_lets_a_transaction_in_progress_finish()
    {
        TestGateway gateway = await TestGateway.StartAsync();
        try
        {
            await using RawSmtpClient idle = await ConnectAndGreetAsync(gateway, tls: false);
            await using RawSmtpClient busy = await ConnectAndGreetAsync(gateway, tls: false);
            await busy.CommandAsync("MAIL FROM:<a@contoso.test>");
            await busy.CommandAsync("RCPT TO:<b@fabrikam.test>");
            await busy.CommandAsync("DATA");
            await busy.SendAsync("Subject: in flight\r\n\r\n");

            Task stopping = gateway.Gateway.StopAsync();
            Assert.StartsWith("421 4.3.2", await idle.ReadReplyAsync());
            await busy.SendAsync("the end\r\n.\r\n");
            Assert.StartsWith("250 2.0.0 Ok: queued", await busy.ReadReplyAsync());
            await stopping;
            Assert.Single(gateway.QueueIds());
            await Assert.ThrowsAnyAsync<Exception>(() => RawSmtpClient.ConnectAsync(gateway.StartTls));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Requests_before_helo_and_out_of_order_get_503()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
        await client.ReadReplyAsync();
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("MAIL FROM:<a@contoso.test>"));
        await client.CommandAsync("HELO client.test");
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("RCPT TO:<b@fabrikam.test>"));
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("DATA"));
        await client.CommandAsync("MAIL FROM:<>");
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("MAIL FROM:<a@contoso.test>"));
        Assert.StartsWith("554 5.5.1", await client.CommandAsync("DATA"));
        Assert.StartsWith("252", await client.CommandAsync("VRFY bob"));
        Assert.StartsWith("214", await client.CommandAsync("HELP"));
        Assert.StartsWith("250 2.0.0", await client.CommandAsync("RSET"));
        Assert.StartsWith("221 2.0.0", await client.CommandAsync("QUIT"));
    }

    [Fact]
    public async Task A_conversation_sent_one_byte_at_a_time_gets_the_same_replies_as_sent_whole()
    {
        await using TestGateway gateway = await TestGateway.StartAsync();
        string conversation = "EHLO client.test\r\nMAIL FROM:<a@contoso.test>\r\nRCPT TO:<b@fabrikam.test>\r\nDATA\r\n" +
            Body + ".\r\nMAIL FROM:<a@contoso.test>\r\nRCPT TO:<c@fabrikam.test>\r\nBDAT 12 LAST\r\nSubject: x\r\nQUIT\r\n";
        var replies = new List<string>[2];
        for (int run = 0; run < 2; run++)
        {
            replies[run] = [];
            await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(gateway.StartTls);
            await client.ReadReplyAsync();
            byte[] bytes = Encoding.ASCII.GetBytes(conversation);
            if (run == 0) await client.SendAsync(bytes);
            else foreach (byte b in bytes) await client.SendAsync([b]);
            for (int i = 0; i < 9; i++)
            {
                string reply = await client.ReadReplyAsync();
                replies[run].Add(System.Text.RegularExpressions.Regex.Replace(reply, "queued as [0-9A-Z]+", "queued as ID"));
            }
        }
        Assert.Equal(replies[0], replies[1]);
        Assert.Equal(["250", "250", "250", "354", "250", "250", "250", "250", "221"], replies[1].Select(r => r[..3]));
        Assert.Equal(4, gateway.QueueIds().Count);
    }
}

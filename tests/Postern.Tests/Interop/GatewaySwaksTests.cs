using System.Text;
using System.Text.RegularExpressions;
using Postern.Tests.Receiving;

namespace Postern.Tests.Interop;

/// <summary>
/// swaks (and, for what swaks cannot send, a scripted client) against the real gateway process:
/// every way in ends as a spool entry with the right envelope and Received clause.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class GatewaySwaksTests(InteropEnvironment environment)
{
    private static readonly Regex QueuedAs = new(@"250 2\.0\.0 Ok: queued as ([0-9A-Z]{18})");

    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task Swaks_plain_message_is_stored_byte_exact_with_an_ESMTP_Received_header()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        string token = Guid.NewGuid().ToString("N");
        string data = $"From: sender@contoso.example\nTo: user@fabrikam.example\nSubject: plain {token}\n\nline one\n.leading dot\nlast line";

        var sent = await Swaks.SendAsync(new SwaksOptions(InteropGateway.Plain.Address.ToString(), InteropGateway.Plain.Port, "sender@contoso.example", ["user@fabrikam.example"])
        {
            Helo = "client.contoso.example",
            Data = data,
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        Assert.Contains(sent.ServerLines, l => l.StartsWith($"220 {InteropGateway.HostName} ", StringComparison.Ordinal));
        string queueId = QueuedId(sent);
        var stored = gateway.ReadSpool(queueId);
        Assert.Equal("sender@contoso.example", stored.Sender);
        Assert.Equal(["user@fabrikam.example"], stored.Recipients);
        Assert.Equal("ESMTP", stored.Protocol);
        // swaks ends the data with CRLF and sends the dot line itself.
        Assert.Equal(data.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n", Encoding.UTF8.GetString(stored.ClientBytes));
        Assert.Matches(
            $@"^Received: from client\.contoso\.example \(unknown \[127\.0\.0\.\d+\]\) by mx\.gateway\.test \(Postern\) with ESMTP id {queueId} for <user@fabrikam\.example>; ",
            stored.ReceivedHeader);
        Assert.DoesNotContain("using TLS", stored.ReceivedHeader, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Swaks_STARTTLS_message_is_stored_with_an_ESMTPS_Received_clause()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);

        var sent = await Swaks.SendAsync(new SwaksOptions(InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, "sender@contoso.example", ["user@fabrikam.example"])
        {
            Tls = SwaksTls.StartTls,
            TlsVerifyCAfile = Pki.RootCertificatePath,
            TlsSni = InteropGateway.HostName,
            Helo = "client.contoso.example",
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        Assert.Contains(sent.ServerLines, l => l == "220 2.0.0 Ready to start TLS");
        var stored = gateway.ReadSpool(QueuedId(sent));
        Assert.Equal("ESMTPS", stored.Protocol);
        Assert.Matches(
            @"^Received: from client\.contoso\.example \(unknown \[127\.0\.0\.\d+\]\) \(using TLSv1\.[23] with cipher TLS_\w+ \(\d+/\d+ bits\)\) \(No client certificate requested or presented\) by mx\.gateway\.test \(Postern\) with ESMTPS id ",
            stored.ReceivedHeader);
        var tls = stored.Envelope.GetProperty("tls");
        Assert.Equal(InteropGateway.HostName, tls.GetProperty("serverName").GetString());
    }

    [InteropFact]
    public async Task Swaks_implicit_TLS_on_the_ImplicitTls_listener_is_stored_as_ESMTPS()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);

        var sent = await Swaks.SendAsync(new SwaksOptions(InteropGateway.ImplicitTls.Address.ToString(), InteropGateway.ImplicitTls.Port, "sender@contoso.example", ["user@fabrikam.example"])
        {
            Tls = SwaksTls.Implicit,
            TlsVerifyCAfile = Pki.RootCertificatePath,
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        Assert.DoesNotContain(sent.ServerLines, l => l.Contains("Ready to start TLS", StringComparison.Ordinal));
        var stored = gateway.ReadSpool(QueuedId(sent));
        Assert.Equal("ESMTPS", stored.Protocol);
        Assert.Matches(@"\(using TLSv1\.[23] with cipher \S+ .* with ESMTPS id ", stored.ReceivedHeader);
    }

    [InteropFact]
    public async Task Swaks_client_certificate_appears_in_the_Received_clause()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        var client = Pki.IssueClient("relay.contoso.example");

        var sent = await Swaks.SendAsync(new SwaksOptions(InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, "sender@contoso.example", ["user@fabrikam.example"])
        {
            Tls = SwaksTls.StartTls,
            TlsCert = client.FullChainPath,
            TlsKey = client.KeyPath,
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        var stored = gateway.ReadSpool(QueuedId(sent));
        // swaks sends the leaf alone (SSL_CTX_use_certificate_file), so without the intermediate
        // the chain cannot be built: named, but not verified. Postfix sends the chain (see
        // GatewayPeerTests), which is verified.
        Assert.Contains(
            "(Client CN \"relay.contoso.example\", Issuer \"Postern Test Intermediate CA\" (not verified))", stored.ReceivedHeader, StringComparison.Ordinal);
        Assert.Equal("ESMTPS", stored.Protocol);
    }

    [InteropFact]
    public async Task Swaks_pipelined_transaction_is_accepted()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);

        var sent = await Swaks.SendAsync(new SwaksOptions(InteropGateway.StartTls.Address.ToString(), InteropGateway.StartTls.Port, "sender@contoso.example", ["a@fabrikam.example", "b@fabrikam.example"])
        {
            Tls = SwaksTls.StartTls,
            Pipeline = true,
        });

        Assert.True(sent.Succeeded, sent.Transcript);
        // swaks sent MAIL, both RCPTs and DATA before reading the first of their replies.
        var lines = sent.Transcript.Split('\n').Select(l => l.Trim()).ToList();
        int data = lines.FindIndex(l => l.EndsWith("DATA", StringComparison.Ordinal) && l.Contains('>', StringComparison.Ordinal));
        int senderOk = lines.FindIndex(l => l.Contains("250 2.1.0", StringComparison.Ordinal));
        Assert.True(data >= 0 && senderOk > data, sent.Transcript);
        var stored = gateway.ReadSpool(QueuedId(sent));
        Assert.Equal(["a@fabrikam.example", "b@fabrikam.example"], stored.Recipients);
    }

    [InteropFact]
    public async Task BDAT_chunks_over_STARTTLS_are_stored_as_sent_without_unstuffing()
    {
        // swaks (20201014) has no BDAT; a scripted client sends the chunks, pipelined.
        await using var gateway = await InteropGateway.StartAsync(Pki);
        await using var client = await RawSmtpClient.ConnectAsync(InteropGateway.StartTls);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        Assert.Contains("CHUNKING", await client.CommandAsync("EHLO client.contoso.example"), StringComparison.Ordinal);
        Assert.StartsWith("220 2.0.0", await client.CommandAsync("STARTTLS"));
        await client.StartTlsAsync(InteropGateway.HostName);
        Assert.Contains("CHUNKING", await client.CommandAsync("EHLO client.contoso.example"), StringComparison.Ordinal);
        byte[] first = Encoding.ASCII.GetBytes("Subject: chunked\r\n\r\n.a line with a dot\r\n");
        byte[] second = Encoding.ASCII.GetBytes("..two dots\r\n.\r\nafter a lone dot\r\n");

        await client.SendAsync(Concat(
            Encoding.ASCII.GetBytes($"MAIL FROM:<sender@contoso.example>\r\nRCPT TO:<user@fabrikam.example>\r\nBDAT {first.Length}\r\n"),
            first,
            Encoding.ASCII.GetBytes($"BDAT {second.Length} LAST\r\n"),
            second));

        Assert.StartsWith("250 2.1.0", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.1.5", await client.ReadReplyAsync());
        Assert.StartsWith($"250 2.0.0 {first.Length} octets", await client.ReadReplyAsync());
        string queued = await client.ReadReplyAsync();
        var id = Regex.Match(queued, @"^250 2\.0\.0 Ok: queued as (\S+)");
        Assert.True(id.Success, queued);
        var stored = gateway.ReadSpool(id.Groups[1].Value);
        Assert.Equal(Concat(first, second), stored.ClientBytes);
        Assert.Equal("ESMTPS", stored.Protocol);
        Assert.StartsWith("221", await client.CommandAsync("QUIT"));
    }

    [InteropFact]
    public async Task SMTPUTF8_address_and_8BITMIME_body_are_stored_byte_exact()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        await using var client = await RawSmtpClient.ConnectAsync(InteropGateway.Plain);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        string ehlo = await client.CommandAsync("EHLO client.contoso.example");
        Assert.Contains("8BITMIME", ehlo, StringComparison.Ordinal);
        Assert.Contains("SMTPUTF8", ehlo, StringComparison.Ordinal);
        const string sender = "jürgen@bücher.contoso.example";
        const string recipient = "użytkownik@fabrikam.example";
        byte[] body = Encoding.UTF8.GetBytes($"From: {sender}\r\nSubject: Grüße, 日本語\r\n\r\nÄÖÜ äöü ß — ✓\r\n");

        Assert.StartsWith("250 2.1.0", await client.CommandAsync($"MAIL FROM:<{sender}> BODY=8BITMIME SMTPUTF8"));
        Assert.StartsWith("250 2.1.5", await client.CommandAsync($"RCPT TO:<{recipient}>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        await client.SendAsync(Concat(body, ".\r\n"u8.ToArray()));
        string queued = await client.ReadReplyAsync();

        var id = Regex.Match(queued, @"^250 2\.0\.0 Ok: queued as (\S+)");
        Assert.True(id.Success, queued);
        var stored = gateway.ReadSpool(id.Groups[1].Value);
        Assert.Equal(sender, stored.Sender);
        Assert.Equal([recipient], stored.Recipients);
        Assert.True(stored.Envelope.GetProperty("smtpUtf8").GetBoolean());
        Assert.Equal("EightBitMime", stored.Envelope.GetProperty("body").GetString());
        Assert.Equal("UTF8SMTP", stored.Protocol);
        Assert.Equal(body, stored.ClientBytes);
        Assert.Contains($"for <{recipient}>", stored.ReceivedHeader, StringComparison.Ordinal);
    }

    private static string QueuedId(SwaksResult sent)
    {
        var match = sent.ServerLines.Select(l => QueuedAs.Match(l)).FirstOrDefault(m => m.Success);
        Assert.True(match is not null, "no queue id in the transcript:\n" + sent.Transcript);
        return match!.Groups[1].Value;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

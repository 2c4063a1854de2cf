using System.Text;
using Postern.Tests.Receiving;

namespace Postern.Tests.Interop;

/// <summary>
/// SMTP smuggling and STARTTLS command injection against the real gateway process, over a raw
/// socket so the bytes are exactly the attack's. Each would fail on a vulnerable server: it would
/// answer the smuggled commands and store a second message.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class GatewaySmtpAttackTests(InteropEnvironment environment)
{
    private const string SmuggledMessage =
        "MAIL FROM:<admin@fabrikam.example>\r\nRCPT TO:<victim@fabrikam.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n";

    private TestPki Pki => environment.Pki;

    [InteropFact]
    public async Task Smuggling_variants_never_yield_a_second_message()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        string[] bare = ["\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n"];
        const string nul = "\r\n\x00.\r\n";

        foreach (string variant in bare.Append(nul))
        {
            string name = Convert.ToHexString(Encoding.ASCII.GetBytes(variant));
            await using var client = await RawSmtpClient.ConnectAsync(InteropGateway.Plain);
            Assert.StartsWith("220 ", await client.ReadReplyAsync());
            Assert.StartsWith("250", await client.CommandAsync("EHLO attacker.example"));
            Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<alice@contoso.example>"));
            Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<bob@fabrikam.example>"));
            Assert.StartsWith("354", await client.CommandAsync("DATA"));

            await client.SendAsync("Subject: first\r\n\r\nfirst" + variant + SmuggledMessage);

            string reply = await client.ReadReplyAsync();
            if (variant == nul)
            {
                // NUL is data; the message ends only at the real <CRLF>.<CRLF>, smuggled text inside it.
                Assert.True(reply.StartsWith("250 2.0.0 Ok: queued as ", StringComparison.Ordinal), $"{name}: {reply}");
            }
            else
            {
                Assert.True(reply.StartsWith("550 5.6.0", StringComparison.Ordinal), $"{name}: {reply}");
            }

            // The next reply answers NOOP: the smuggled MAIL, RCPT and DATA were never commands.
            string next = await client.CommandAsync("NOOP");
            Assert.True(next.StartsWith("250 2.0.0", StringComparison.Ordinal), $"{name}: after the data, {next}");
            Assert.StartsWith("221", await client.CommandAsync("QUIT"));
        }

        var stored = Assert.Single(gateway.ReadSpool());
        Assert.Equal(["bob@fabrikam.example"], stored.Recipients);
        Assert.Contains("Subject: smuggled", stored.Text, StringComparison.Ordinal);
        Assert.Contains("first\r\n\0.\r\nMAIL FROM:<admin@fabrikam.example>", stored.Text, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Commands_injected_with_STARTTLS_are_discarded()
    {
        await using var gateway = await InteropGateway.StartAsync(Pki);
        await using var client = await RawSmtpClient.ConnectAsync(InteropGateway.StartTls);
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("EHLO attacker.example"));

        // CVE-2011-0411: plaintext commands in the same packet as STARTTLS.
        await client.SendAsync("STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<bob@fabrikam.example>\r\nDATA\r\n");
        Assert.StartsWith("220 2.0.0 Ready to start TLS", await client.ReadReplyAsync());
        await client.StartTlsAsync(InteropGateway.HostName);

        // Had the injected commands survived, this would be answered 250 / 354 by them.
        Assert.StartsWith("503 5.5.1 Error: send HELO/EHLO first", await client.CommandAsync("RCPT TO:<bob@fabrikam.example>"));
        Assert.StartsWith("250-mx.gateway.test", await client.CommandAsync("EHLO client.example"));
        Assert.StartsWith("503 5.5.1 Error: need MAIL", await client.CommandAsync("RCPT TO:<bob@fabrikam.example>"));
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("DATA"));
        Assert.StartsWith("221", await client.CommandAsync("QUIT"));
        Assert.Empty(gateway.ReadSpool());
    }
}

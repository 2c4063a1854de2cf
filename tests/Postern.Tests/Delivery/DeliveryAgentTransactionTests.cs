using System.Text;
using Postern.Configuration;
using Postern.Delivery;

namespace Postern.Tests.Delivery;

/// <summary>The mail transaction of the delivery client against a scripted peer.</summary>
public sealed class DeliveryAgentTransactionTests : IAsyncLifetime
{
    private readonly DeliveryAgentHarness _harness = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    private static DeliveryRoute Plain(FakeSmtpServer server) => DeliveryAgentHarness.Route(server, TlsLevel.Opportunistic);

    [Fact]
    public async Task A_pipelined_envelope_gives_each_recipient_its_own_outcome()
    {
        await using var server = new FakeSmtpServer(new FakeSmtpOptions
        {
            RecipientReply = address => address switch
            {
                "later@partner.test" => "450 4.2.1 mailbox busy",
                "nobody@partner.test" => "550 5.1.1 no such user",
                _ => null,
            },
        });
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), recipients: ["bob@partner.test", "later@partner.test", "nobody@partner.test"]);

        RecipientOutcome[] outcomes = [.. result.Outcomes.OrderBy(o => o.Index)];
        Assert.Equal([RecipientOutcomeKind.Delivered, RecipientOutcomeKind.Deferred, RecipientOutcomeKind.Failed], outcomes.Select(o => o.Kind));
        Assert.Equal("450 4.2.1 mailbox busy", outcomes[1].Reply.ToString());
        Assert.Equal("550 5.1.1 no such user", outcomes[2].Reply.ToString());
        Assert.False(outcomes[2].Reply.IsLocal);
        Assert.Equal($"127.0.0.1 [127.0.0.1]", outcomes[2].RemoteMta);
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.Equal(["bob@partner.test"], server.Transactions[0].Recipients);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA"], server.Commands.Take(6).Select(c => c.Split(' ')[0]));
    }

    [Fact]
    public async Task A_final_4xx_after_data_defers_the_accepted_recipients()
    {
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { DataReply = () => "451 4.3.0 try later" });
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), recipients: ["bob@partner.test", "carol@partner.test"]);
        Assert.All(result.Outcomes, o => Assert.Equal(RecipientOutcomeKind.Deferred, o.Kind));
        Assert.All(result.Outcomes, o => Assert.Equal("451 4.3.0 try later", o.Reply.ToString()));
    }

    [Fact]
    public async Task A_message_over_the_servers_size_limit_fails_with_5_3_4_before_mail()
    {
        byte[] content = DeliveryAgentHarness.Message(new string('x', 2000) + "\r\n");
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { SizeLimit = 1000 });
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), content);
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.Equal(RecipientOutcomeKind.Failed, outcome.Kind);
        Assert.Equal("5.3.4", outcome.Reply.EnhancedStatus);
        Assert.Equal($"message size {content.Length} exceeds the limit of 1000 of 127.0.0.1", outcome.Reply.Text);
        Assert.False(server.ReceivedMail);
    }

    [Fact]
    public async Task The_size_is_declared_on_mail_from_when_the_server_offers_size()
    {
        byte[] content = DeliveryAgentHarness.Message();
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { SizeLimit = 100_000 });
        await _harness.DeliverAsync(Plain(server), content);
        Assert.Contains($"MAIL FROM:<alice@fabrikam.test> SIZE={content.Length}", server.Commands);
    }

    [Fact]
    public async Task A_utf8_address_to_a_server_without_smtputf8_fails_with_5_6_7()
    {
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { SmtpUtf8 = false });
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), recipients: ["josé@partner.test"]);
        RecipientOutcome outcome = Assert.Single(result.Outcomes);
        Assert.Equal(RecipientOutcomeKind.Failed, outcome.Kind);
        Assert.Equal("5.6.7", outcome.Reply.EnhancedStatus);
        Assert.Equal("127.0.0.1 does not support SMTPUTF8, which this message needs", outcome.Reply.Text);
        Assert.False(server.ReceivedMail);
    }

    [Fact]
    public async Task A_utf8_address_goes_with_smtputf8_when_offered()
    {
        await using var server = new FakeSmtpServer();
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), recipients: ["josé@partner.test"]);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        Assert.Contains(server.Commands, c => c.StartsWith("MAIL FROM:<alice@fabrikam.test>", StringComparison.Ordinal) && c.EndsWith(" SMTPUTF8", StringComparison.Ordinal));
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.Equal(["josé@partner.test"], server.Transactions[0].Recipients);
    }

    [Fact]
    public async Task Chunking_sends_the_spooled_bytes_exactly_with_bdat()
    {
        // Lines that DATA would have to stuff, a bare CR, 8-bit bytes and no final CRLF: BDAT carries them as they are.
        byte[] content = [.. Encoding.ASCII.GetBytes("Subject: chunk\r\n\r\n.leading dot\r\n.\r\nbare\rcr\r\n"), 0xC3, 0xA9, 0x00, (byte)'e', (byte)'n', (byte)'d'];
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { Chunking = true });
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), content);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.True(server.Transactions[0].Chunked);
        Assert.Equal(content, server.Transactions[0].Content);
        Assert.Contains($"BDAT {content.Length} LAST", server.Commands);
        Assert.DoesNotContain("DATA", server.Commands);
    }

    [Fact]
    public async Task Data_dot_stuffing_round_trips_exactly()
    {
        byte[] content = Encoding.ASCII.GetBytes("Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n. space\r\n...\r\nlast line\r\n");
        await using var server = new FakeSmtpServer();
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), content);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(result.Outcomes).Kind);
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.False(server.Transactions[0].Chunked);
        Assert.Equal(content, server.Transactions[0].Content);
    }

    [Fact]
    public async Task Without_pipelining_commands_go_one_at_a_time()
    {
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { Pipelining = false, RecipientReply = a => a == "nobody@partner.test" ? "550 5.1.1 no such user" : null });
        DeliveryAttemptResult result = await _harness.DeliverAsync(Plain(server), recipients: ["bob@partner.test", "nobody@partner.test"]);
        Assert.Equal([RecipientOutcomeKind.Delivered, RecipientOutcomeKind.Failed], result.Outcomes.OrderBy(o => o.Index).Select(o => o.Kind));
        await server.WaitForAsync(s => s.Transactions.Count == 1);
        Assert.Equal(DeliveryAgentHarness.Message(), server.Transactions[0].Content);
    }

    [Fact]
    public async Task Two_messages_to_the_same_destination_share_one_connection()
    {
        await using var server = new FakeSmtpServer();
        DeliveryRoute route = Plain(server);
        DeliveryAttemptResult first = await _harness.DeliverAsync(route);
        DeliveryAttemptResult second = await _harness.DeliverAsync(route, recipients: ["carol@partner.test"]);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(first.Outcomes).Kind);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(second.Outcomes).Kind);
        await server.WaitForAsync(s => s.Transactions.Count == 2);
        Assert.Equal(1, server.Connections);
        Assert.Equal(server.Transactions[0].Connection, server.Transactions[1].Connection);
        Assert.Single(server.Commands, c => c.StartsWith("EHLO", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reused_connection_keeps_its_tls_session()
    {
        var authority = _harness.Authority;
        var certificate = authority.Issue("reuse", "mail.partner.test", ["mail.partner.test"]).Certificate;
        await using var server = new FakeSmtpServer(new FakeSmtpOptions { Certificate = certificate, Intermediates = [authority.Intermediate] });
        DeliveryRoute route = DeliveryAgentHarness.Route(server, TlsLevel.DomainValidation, "mail.partner.test");
        DeliveryAttemptResult first = await _harness.DeliverAsync(route);
        DeliveryAttemptResult second = await _harness.DeliverAsync(route);
        Assert.Equal(RecipientOutcomeKind.Delivered, Assert.Single(second.Outcomes).Kind);
        Assert.NotNull(second.Tls);
        await server.WaitForAsync(s => s.Transactions.Count == 2);
        Assert.Equal(1, server.Connections);
        Assert.All(server.Transactions, t => Assert.True(t.Encrypted));
        Assert.NotNull(first.Tls);
    }
}

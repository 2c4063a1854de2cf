using System.Buffers;
using System.Text;
using Postern.Smtp;
using static Postern.Tests.Smtp.Sequences;

namespace Postern.Tests.Smtp;

public class SmtpReplyParserTests
{
    private const string GmailEhlo =
        "250-mx.google.com at your service, [192.0.2.7]\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-STARTTLS\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";

    private const string PostfixEhlo =
        "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

    private const string ExchangeEhlo =
        "250-AM0PR01MB1234.eurprd01.prod.exchangelabs.com Hello [192.0.2.7]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n" +
        "250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";

    private static (SmtpReply Reply, long Consumed) Parse(ReadOnlySequence<byte> input, int maxLineLength = 4096, int maxLines = 128)
    {
        var reader = new SequenceReader<byte>(input);
        Assert.True(SmtpReplyParser.TryParse(ref reader, out SmtpReply? reply, maxLineLength, maxLines));
        return (reply!, reader.Consumed);
    }

    private static void AssertSameReply(SmtpReply expected, SmtpReply actual)
    {
        Assert.Equal(expected.Code, actual.Code);
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.Lines, actual.Lines);
    }

    private static void AssertThrows(byte[] input, int maxLineLength = 4096, int maxLines = 128)
    {
        Assert.Throws<SmtpProtocolException>(() =>
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input));
            SmtpReplyParser.TryParse(ref reader, out _, maxLineLength, maxLines);
        });
    }

    private static (SmtpReply Reply, long Consumed) Parse(string input) => Parse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(input)));

    [Theory]
    [InlineData("250 OK\r\n", 250, null, new[] { "OK" })]
    [InlineData("250\r\n", 250, null, new[] { "" })]
    [InlineData("250 \r\n", 250, null, new[] { "" })]
    [InlineData("220 mx.example.org ESMTP Postfix\r\n", 220, null, new[] { "mx.example.org ESMTP Postfix" })]
    [InlineData("250 2.1.0 Ok\r\n", 250, "2.1.0", new[] { "Ok" })]
    [InlineData("250 2.0.0\r\n", 250, "2.0.0", new[] { "" })]
    [InlineData("550 5.7.1 <a@b>: Relay access denied\r\n", 550, "5.7.1", new[] { "<a@b>: Relay access denied" })]
    [InlineData("451 4.3.0 Temporary failure\r\n", 451, "4.3.0", new[] { "Temporary failure" })]
    [InlineData("550 4.7.1 mismatched class\r\n", 550, null, new[] { "4.7.1 mismatched class" })]
    [InlineData("250 2.1.5.\r\n", 250, null, new[] { "2.1.5." })]
    [InlineData("354 End data with <CR><LF>.<CR><LF>\r\n", 354, null, new[] { "End data with <CR><LF>.<CR><LF>" })]
    [InlineData("421-4.7.0 Try again\r\n421 4.7.0 later\r\n", 421, "4.7.0", new[] { "Try again", "later" })]
    [InlineData("421-4.7.0 Try again\r\n421 please\r\n", 421, "4.7.0", new[] { "Try again", "please" })]
    [InlineData("250-first\r\n250-\r\n250 last\r\n", 250, null, new[] { "first", "", "last" })]
    [InlineData("220 lenient\n", 220, null, new[] { "lenient" })]
    [InlineData("250 caf\u00e9\r\n", 250, null, new[] { "caf\u00e9" })]
    public void Parses_a_reply(string input, int code, string? status, string[] lines)
    {
        var (reply, consumed) = Parse(input);
        Assert.Equal(code, reply.Code);
        Assert.Equal(status is null ? null : EnhancedStatusCode.Parse(status), reply.Status);
        Assert.Equal(lines, reply.Lines);
        Assert.Equal(Encoding.UTF8.GetByteCount(input), consumed);

        var (fragmented, fragmentedConsumed) = Parse(Fragmented(Encoding.UTF8.GetBytes(input)));
        AssertSameReply(reply, fragmented);
        Assert.Equal(consumed, fragmentedConsumed);
    }

    [Theory]
    [InlineData(GmailEhlo, 8, "mx.google.com at your service, [192.0.2.7]")]
    [InlineData(PostfixEhlo, 11, "mail.example.org")]
    [InlineData(ExchangeEhlo, 10, "AM0PR01MB1234.eurprd01.prod.exchangelabs.com Hello [192.0.2.7]")]
    public void Parses_real_ehlo_responses(string input, int lineCount, string greeting)
    {
        var (reply, consumed) = Parse(input + "250 2.1.0 Ok\r\n");
        Assert.Equal(250, reply.Code);
        Assert.Null(reply.Status);
        Assert.Equal(lineCount, reply.Lines.Count);
        Assert.Equal(greeting, reply.Lines[0]);
        Assert.Contains("ENHANCEDSTATUSCODES", reply.Lines);
        Assert.Contains(reply.Lines, line => line.StartsWith("SIZE ", StringComparison.Ordinal));
        Assert.Equal(input.Length, consumed);
    }

    [Theory]
    [InlineData(GmailEhlo)]
    [InlineData("250 OK\r\n")]
    [InlineData("421-4.7.0 a\r\n421 4.7.0 b\r\n")]
    [InlineData("250\r\n")]
    public void Every_incomplete_prefix_returns_false_and_consumes_nothing(string input)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(input);
        for (int n = 0; n < bytes.Length; n++)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, n));
            Assert.False(SmtpReplyParser.TryParse(ref reader, out SmtpReply? reply));
            Assert.Null(reply);
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(4096)]
    public void Pipelined_replies_fed_in_pieces_parse_as_whole(int pieceSize)
    {
        byte[] input = Encoding.UTF8.GetBytes("250 2.1.0 Ok\r\n" + PostfixEhlo + "354 go ahead\r\n");
        var replies = new List<string>();
        var pending = new List<byte>();
        foreach (byte[] piece in Chunks(input, pieceSize))
        {
            pending.AddRange(piece);
            while (true)
            {
                var reader = new SequenceReader<byte>(Fragmented(pending.ToArray()));
                bool parsed = SmtpReplyParser.TryParse(ref reader, out SmtpReply? reply);
                pending.RemoveRange(0, (int)reader.Consumed);
                if (!parsed) break;
                replies.Add(reply!.ToWireString());
            }
        }
        Assert.Empty(pending);
        Assert.Equal(["250 2.1.0 Ok\r\n", PostfixEhlo, "354 go ahead\r\n"], replies);
    }

    [Theory]
    [InlineData("HTTP/1.1 400 Bad Request\r\n")]
    [InlineData("abc\r\n")]
    [InlineData("25\r\n")]
    [InlineData("\r\n")]
    [InlineData("2500 x\r\n")]
    [InlineData("250x\r\n")]
    [InlineData("150 x\r\n")]
    [InlineData("650 x\r\n")]
    [InlineData("2a0 x\r\n")]
    [InlineData("250-a\r\n251 b\r\n")]
    [InlineData("250-a\r\n550 b\r\n")]
    [InlineData("250-a\r\nxyz\r\n")]
    public void Throws_on_what_is_not_a_reply(string input)
    {
        AssertThrows(Encoding.UTF8.GetBytes(input));
    }

    [Fact]
    public void Throws_on_a_line_over_the_limit_complete_or_not()
    {
        string line = "250 " + new string('x', 20);
        Assert.Equal(24, Parse(new ReadOnlySequence<byte>(Bytes(line + "\r\n")), maxLineLength: 24).Reply.Lines[0].Length + 4);
        AssertThrows(Bytes(line + "x\r\n"), maxLineLength: 24);
        AssertThrows(Bytes(line + "xx"), maxLineLength: 24);
        var waiting = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes(line + "\r")));
        Assert.False(SmtpReplyParser.TryParse(ref waiting, out _, maxLineLength: 24));
    }

    [Fact]
    public void Throws_on_more_lines_than_the_limit()
    {
        Assert.Equal(3, Parse(new ReadOnlySequence<byte>(Bytes("250-a\r\n250-b\r\n250 c\r\n")), maxLines: 3).Reply.Lines.Count);
        AssertThrows(Bytes("250-a\r\n250-b\r\n250-c\r\n250 d\r\n"), maxLines: 3);
    }

    [Theory]
    [InlineData(250, "2.1.0", new[] { "Ok" })]
    [InlineData(550, "5.7.1", new[] { "Policy", "says no" })]
    [InlineData(250, null, new[] { "mx.example.org", "PIPELINING", "SIZE 1000" })]
    [InlineData(354, null, new[] { "" })]
    public void Reads_back_what_smtp_reply_writes(int code, string? status, string[] lines)
    {
        var written = new SmtpReply(code, status is null ? null : EnhancedStatusCode.Parse(status), lines);
        var output = new ArrayBufferWriter<byte>();
        written.WriteTo(output);
        var (read, consumed) = Parse(new ReadOnlySequence<byte>(output.WrittenMemory));
        AssertSameReply(written, read);
        Assert.Equal(output.WrittenCount, consumed);
    }
}

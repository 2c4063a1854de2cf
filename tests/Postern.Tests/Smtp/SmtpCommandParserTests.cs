using System.Buffers;
using System.Text;
using Postern.Smtp;

namespace Postern.Tests.Smtp;

public class SmtpCommandParserTests
{
    [Theory]
    [InlineData("EHLO client.example", SmtpVerb.Ehlo, "EHLO", "client.example")]
    [InlineData("ehlo client.example", SmtpVerb.Ehlo, "ehlo", "client.example")]
    [InlineData("HeLo client", SmtpVerb.Helo, "HeLo", "client")]
    [InlineData("MAIL FROM:<a@b>", SmtpVerb.Mail, "MAIL", "FROM:<a@b>")]
    [InlineData("mail FROM:<a@b> SIZE=10   ", SmtpVerb.Mail, "mail", "FROM:<a@b> SIZE=10")]
    [InlineData("RCPT TO:<a@b>", SmtpVerb.Rcpt, "RCPT", "TO:<a@b>")]
    [InlineData("DATA", SmtpVerb.Data, "DATA", "")]
    [InlineData("DATA ", SmtpVerb.Data, "DATA", "")]
    [InlineData("BDAT 100 LAST", SmtpVerb.Bdat, "BDAT", "100 LAST")]
    [InlineData("RSET", SmtpVerb.Rset, "RSET", "")]
    [InlineData("NOOP anything", SmtpVerb.Noop, "NOOP", "anything")]
    [InlineData("QUIT", SmtpVerb.Quit, "QUIT", "")]
    [InlineData("VRFY user", SmtpVerb.Vrfy, "VRFY", "user")]
    [InlineData("EXPN list", SmtpVerb.Expn, "EXPN", "list")]
    [InlineData("HELP", SmtpVerb.Help, "HELP", "")]
    [InlineData("STARTTLS", SmtpVerb.StartTls, "STARTTLS", "")]
    [InlineData("StartTls", SmtpVerb.StartTls, "StartTls", "")]
    [InlineData("AUTH PLAIN AGJvYgBwdw==", SmtpVerb.Auth, "AUTH", "PLAIN AGJvYgBwdw==")]
    [InlineData("MAIL  FROM:<a@b>", SmtpVerb.Mail, "MAIL", " FROM:<a@b>")]
    [InlineData("MAIL\tFROM:<a@b>", SmtpVerb.Unknown, "MAIL\tFROM:<a@b>", "")]
    [InlineData("MAILFROM:<a@b>", SmtpVerb.Unknown, "MAILFROM:<a@b>", "")]
    [InlineData("GET / HTTP/1.1", SmtpVerb.Unknown, "GET", "/ HTTP/1.1")]
    [InlineData("", SmtpVerb.Unknown, "", "")]
    [InlineData("STARTTLSX", SmtpVerb.Unknown, "STARTTLSX", "")]
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXYZ x", SmtpVerb.Unknown, "ABCDEFGHIJKLMNOP", "x")]
    [InlineData("EHLO bücher.example", SmtpVerb.Ehlo, "EHLO", "bücher.example")]
    public void Splits_verb_and_argument(string line, SmtpVerb verb, string verbText, string argument)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line);
        Assert.True(SmtpCommandParser.TryParse(new ReadOnlySequence<byte>(bytes), out SmtpCommand command, out SmtpReply? error));
        Assert.Null(error);
        Assert.Equal(new SmtpCommand(verb, verbText, argument), command);

        Assert.True(SmtpCommandParser.TryParse(Sequences.Fragmented(bytes), out SmtpCommand fragmented, out _));
        Assert.Equal(command, fragmented);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'N', (byte)'O', (byte)'O', (byte)'P', 0 })]
    [InlineData(new byte[] { (byte)'N', (byte)'O', 0, (byte)'O', (byte)'P' })]
    [InlineData(new byte[] { (byte)'N', (byte)'O', (byte)'O', (byte)'P', (byte)' ', 0x1B, (byte)'[' })]
    [InlineData(new byte[] { (byte)'N', (byte)'O', (byte)'O', (byte)'P', (byte)'\r' })]
    [InlineData(new byte[] { (byte)'N', (byte)'O', (byte)'O', (byte)'P', (byte)'\n' })]
    [InlineData(new byte[] { 0x7, (byte)'N' })]
    [InlineData(new byte[] { (byte)'E', (byte)'H', (byte)'L', (byte)'O', (byte)' ', 0xC3, 0x28 })]
    [InlineData(new byte[] { (byte)'E', (byte)'H', (byte)'L', (byte)'O', (byte)' ', 0xFF })]
    [InlineData(new byte[] { (byte)'E', (byte)'H', (byte)'L', (byte)'O', (byte)' ', 0xC0, 0xAF })]
    [InlineData(new byte[] { (byte)'E', (byte)'H', (byte)'L', (byte)'O', (byte)' ', 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { (byte)'E', (byte)'H', (byte)'L', (byte)'O', (byte)' ', 0xE2, 0x82 })]
    public void Refuses_control_characters_and_invalid_utf8_with_500_5_5_2(byte[] line)
    {
        foreach (var sequence in new[] { new ReadOnlySequence<byte>(line), Sequences.Fragmented(line) })
        {
            Assert.False(SmtpCommandParser.TryParse(sequence, out _, out SmtpReply? error));
            Assert.NotNull(error);
            Assert.Equal(500, error.Code);
            Assert.Equal(new EnhancedStatusCode(5, 5, 2), error.Status);
        }
    }

    [Fact]
    public void A_tab_is_allowed()
    {
        Assert.True(SmtpCommandParser.TryParse(new ReadOnlySequence<byte>("NOOP a\tb"u8.ToArray()), out SmtpCommand command, out _));
        Assert.Equal("a\tb", command.Argument);
    }
}

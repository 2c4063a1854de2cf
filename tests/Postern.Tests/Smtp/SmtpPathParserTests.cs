using Postern.Smtp;
using Postern.Spool;

namespace Postern.Tests.Smtp;

public class SmtpPathParserTests
{
    private static readonly string Local64 = new('a', 64);
    private static readonly string Label63 = new('d', 63);

    [Theory]
    [InlineData("FROM:<a@b>", "a@b")]
    [InlineData("from:<a@b>", "a@b")]
    [InlineData("From:<user@example.com>", "user@example.com")]
    [InlineData("FROM: <a@b>", "a@b")]
    [InlineData("FROM:<>", "")]
    [InlineData("FROM: <>", "")]
    [InlineData("FROM:<first.last@sub.example.com>", "first.last@sub.example.com")]
    [InlineData("FROM:<a+tag@example.com>", "a+tag@example.com")]
    [InlineData("FROM:<!#$%&'*+-/=?^_`{|}~@example.com>", "!#$%&'*+-/=?^_`{|}~@example.com")]
    [InlineData("FROM:<\"john doe\"@example.com>", "\"john doe\"@example.com")]
    [InlineData("FROM:<\"a>b\"@example.com>", "\"a>b\"@example.com")]
    [InlineData("FROM:<\"a\\\"b\"@example.com>", "\"a\\\"b\"@example.com")]
    [InlineData("FROM:<\"a@b\"@example.com>", "\"a@b\"@example.com")]
    [InlineData("FROM:<\"\"@example.com>", "\"\"@example.com")]
    [InlineData("FROM:<@relay.example:a@b.example>", "a@b.example")]
    [InlineData("FROM:<@r1.example,@r2.example:a@b.example>", "a@b.example")]
    [InlineData("FROM:<@[192.0.2.1],@[IPv6:2001:db8::1]:a@b.example>", "a@b.example")]
    [InlineData("FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]")]
    [InlineData("FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]")]
    [InlineData("FROM:<a@[ipv6:::1]>", "a@[ipv6:::1]")]
    [InlineData("FROM:<a@[IPv6:::ffff:192.0.2.1]>", "a@[IPv6:::ffff:192.0.2.1]")]
    [InlineData("FROM:<a@localhost>", "a@localhost")]
    [InlineData("FROM:<a@x-y.3com.example>", "a@x-y.3com.example")]
    [InlineData("FROM:<A@EXAMPLE.COM>", "A@EXAMPLE.COM")]
    public void Parses_sender(string argument, string sender)
    {
        Assert.True(SmtpPathParser.TryParseMailFrom(argument, out MailFromCommand? command, out SmtpReply? error), error?.ToString());
        Assert.Equal(sender, command!.Sender);
        Assert.Null(command.Size);
        Assert.Equal(BodyType.Unspecified, command.Body);
        Assert.False(command.SmtpUtf8);
        Assert.Equal(DsnReturn.Unspecified, command.Return);
        Assert.Null(command.EnvelopeId);
    }

    [Fact]
    public void Parses_long_but_allowed_parts()
    {
        Assert.True(SmtpPathParser.TryParseMailFrom($"FROM:<{Local64}@{Label63}.example>", out var command, out _));
        Assert.Equal($"{Local64}@{Label63}.example", command!.Sender);
    }

    public static TheoryData<string, int, string> MailErrors() => new()
    {
        // Syntax: no FROM:, no brackets, nothing closing the path, junk after it.
        { "", 501, "5.5.4" },
        { "FROM:", 501, "5.5.4" },
        { "FROM:a@b", 501, "5.5.4" },
        { "FROM a@b", 501, "5.5.4" },
        { "TO:<a@b>", 501, "5.5.4" },
        { "FROM:<a@b", 501, "5.5.4" },
        { "FROM:<a@b>x", 501, "5.5.4" },
        { "FROM:<a@b>SIZE=1", 501, "5.5.4" },
        { "FROM:<\"a>@b", 501, "5.5.4" },
        { " FROM:<a@b>", 501, "5.5.4" },
        { "FROM <a@b>", 501, "5.5.4" },
        // Bad addresses.
        { "FROM:<a>", 501, "5.1.7" },
        { "FROM:<postmaster>", 501, "5.1.7" },
        { "FROM:<a@>", 501, "5.1.7" },
        { "FROM:<@b>", 501, "5.1.7" },
        { "FROM:<a@b@c>", 501, "5.1.7" },
        { "FROM:<a..b@c>", 501, "5.1.7" },
        { "FROM:<.a@c>", 501, "5.1.7" },
        { "FROM:<a.@c>", 501, "5.1.7" },
        { "FROM:<a b@c>", 501, "5.1.7" },
        { "FROM:<a(b)@c>", 501, "5.1.7" },
        { "FROM:<a,b@c>", 501, "5.1.7" },
        { "FROM:<\"a\"b@c>", 501, "5.1.7" },
        { "FROM:<\"a@c>", 501, "5.5.4" },
        { "FROM:<a@b..c>", 501, "5.1.7" },
        { "FROM:<a@.b>", 501, "5.1.7" },
        { "FROM:<a@b.>", 501, "5.1.7" },
        { "FROM:<a@-b.c>", 501, "5.1.7" },
        { "FROM:<a@b-.c>", 501, "5.1.7" },
        { "FROM:<a@b_c.d>", 501, "5.1.7" },
        { "FROM:<a@[192.0.2.256]>", 501, "5.1.7" },
        { "FROM:<a@[192.0.2]>", 501, "5.1.7" },
        { "FROM:<a@[1]>", 501, "5.1.7" },
        { "FROM:<a@[192.0.2.1.5]>", 501, "5.1.7" },
        { "FROM:<a@[IPv6:2001:db8::g]>", 501, "5.1.7" },
        { "FROM:<a@[IPv6:192.0.2.1]>", 501, "5.1.7" },
        { "FROM:<a@[IPv6:fe80::1%eth0]>", 501, "5.1.7" },
        { "FROM:<a@[x-tag:stuff]>", 501, "5.1.7" },
        { "FROM:<a@[192.0.2.1>", 501, "5.1.7" },
        { "FROM:<a@192.0.2.1]>", 501, "5.1.7" },
        { "FROM:<@relay:>", 501, "5.1.7" },
        { "FROM:<@relay a@b>", 501, "5.1.7" },
        { "FROM:<@relay,a@b>", 501, "5.1.7" },
        { "FROM:<@re_lay:a@b>", 501, "5.1.7" },
        { $"FROM:<a{Local64}@b>", 501, "5.1.7" },
        { $"FROM:<a@{Label63}d.example>", 501, "5.1.7" },
        { $"FROM:<a@{string.Join('.', Enumerable.Repeat(Label63, 4))}>", 501, "5.1.7" },
        { $"FROM:<{Local64}@{string.Join('.', Enumerable.Repeat(Label63, 3))}.ab>", 501, "5.1.7" },
        // Non-ASCII without SMTPUTF8.
        { "FROM:<ü@example.com>", 553, "5.6.7" },
        { "FROM:<a@bücher.example>", 553, "5.6.7" },
        { "FROM:<\"ü\"@example.com>", 553, "5.6.7" },
        // Parameters.
        { "FROM:<a@b> FOO", 555, "5.5.4" },
        { "FROM:<a@b> FOO=BAR", 555, "5.5.4" },
        { "FROM:<a@b> NOTIFY=NEVER", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=", 555, "5.5.4" },
        { "FROM:<a@b> SIZE", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=-1", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=+1", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=1k", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=123456789012345678901", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=1 SIZE=2", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=1 size=1", 555, "5.5.4" },
        { "FROM:<a@b> BODY=8BIT", 555, "5.5.4" },
        { "FROM:<a@b> BODY", 555, "5.5.4" },
        { "FROM:<a@b> BODY=7BIT BODY=7BIT", 555, "5.5.4" },
        { "FROM:<a@b> SMTPUTF8=YES", 555, "5.5.4" },
        { "FROM:<a@b> SMTPUTF8 SMTPUTF8", 555, "5.5.4" },
        { "FROM:<a@b> RET=ALL", 555, "5.5.4" },
        { "FROM:<a@b> RET", 555, "5.5.4" },
        { "FROM:<a@b> RET=FULL RET=HDRS", 555, "5.5.4" },
        { "FROM:<a@b> ENVID", 555, "5.5.4" },
        { "FROM:<a@b> ENVID=", 555, "5.5.4" },
        { "FROM:<a@b> ENVID=a+2", 555, "5.5.4" },
        { "FROM:<a@b> ENVID=a+0Ab", 555, "5.5.4" },
        { $"FROM:<a@b> ENVID={new string('x', 101)}", 555, "5.5.4" },
        { "FROM:<a@b> ENVID=x ENVID=y", 555, "5.5.4" },
        { "FROM:<a@b> =x", 555, "5.5.4" },
        { "FROM:<a@b> -X", 555, "5.5.4" },
        { "FROM:<a@b> SIZE=1=2", 555, "5.5.4" },
        { "FROM:<a@b> AUTH=<>", 555, "5.5.4" },
    };

    [Theory]
    [MemberData(nameof(MailErrors))]
    public void Refuses_mail_argument(string argument, int code, string status)
    {
        Assert.False(SmtpPathParser.TryParseMailFrom(argument, out MailFromCommand? command, out SmtpReply? error));
        Assert.Null(command);
        Assert.NotNull(error);
        Assert.Equal((code, EnhancedStatusCode.Parse(status)), (error.Code, error.Status!.Value));
    }

    [Theory]
    [InlineData("", "501 5.5.4 Syntax: MAIL FROM:<address>")]
    [InlineData("FROM:<a>", "501 5.1.7 Bad sender address syntax")]
    [InlineData("FROM:<a@b> XFOO=1", "555 5.5.4 Unsupported parameter: XFOO")]
    [InlineData("FROM:<a@b> SIZE=1 Size=2", "555 5.5.4 Duplicate parameter: SIZE")]
    [InlineData("FROM:<a@b> BODY=9BIT", "555 5.5.4 Invalid BODY value")]
    public void Mail_replies_say_what_is_wrong(string argument, string reply)
    {
        Assert.False(SmtpPathParser.TryParseMailFrom(argument, out _, out SmtpReply? error));
        Assert.Equal(reply, error!.ToString());
    }

    [Fact]
    public void A_non_ascii_address_without_smtputf8_says_smtputf8_is_required()
    {
        Assert.False(SmtpPathParser.TryParseMailFrom("FROM:<ü@example.com>", out _, out SmtpReply? error));
        Assert.Contains("SMTPUTF8", error!.Text);
        Assert.False(SmtpPathParser.TryParseRcptTo("TO:<ü@example.com>", false, out _, out error));
        Assert.Contains("SMTPUTF8", error!.Text);
    }

    [Fact]
    public void Parses_every_mail_parameter()
    {
        Assert.True(SmtpPathParser.TryParseMailFrom(
            "FROM:<ü@bücher.example> size=12345  Body=8bitmime smtputf8 RET=hdrs ENVID=QQ+2B314159", out var command, out var error), error?.ToString());
        Assert.Equal(new MailFromCommand
        {
            Sender = "ü@bücher.example",
            Size = 12345,
            Body = BodyType.EightBitMime,
            SmtpUtf8 = true,
            Return = DsnReturn.Headers,
            EnvelopeId = "QQ+314159",
        }, command);
    }

    [Theory]
    [InlineData("SIZE=0", 0L)]
    [InlineData("SIZE=10485760", 10485760L)]
    [InlineData("SIZE=9223372036854775807", long.MaxValue)]
    [InlineData("SIZE=99999999999999999999", long.MaxValue)]
    [InlineData("SIZE=007", 7L)]
    public void Parses_size(string parameter, long size)
    {
        Assert.True(SmtpPathParser.TryParseMailFrom("FROM:<a@b> " + parameter, out var command, out _));
        Assert.Equal(size, command!.Size);
    }

    [Theory]
    [InlineData("BODY=7BIT", BodyType.SevenBit)]
    [InlineData("BODY=8BITMIME", BodyType.EightBitMime)]
    [InlineData("BODY=BINARYMIME", BodyType.BinaryMime)]
    [InlineData("body=binarymime", BodyType.BinaryMime)]
    public void Parses_body(string parameter, BodyType body)
    {
        Assert.True(SmtpPathParser.TryParseMailFrom("FROM:<> " + parameter, out var command, out _));
        Assert.Equal(body, command!.Body);
    }

    [Theory]
    [InlineData("RET=FULL", DsnReturn.Full)]
    [InlineData("RET=HDRS", DsnReturn.Headers)]
    [InlineData("ret=Full", DsnReturn.Full)]
    public void Parses_ret(string parameter, DsnReturn ret)
    {
        Assert.True(SmtpPathParser.TryParseMailFrom("FROM:<a@b> " + parameter, out var command, out _));
        Assert.Equal(ret, command!.Return);
    }

    [Fact]
    public void Envelope_id_of_100_characters_is_accepted()
    {
        string id = new('x', 100);
        Assert.True(SmtpPathParser.TryParseMailFrom("FROM:<a@b> ENVID=" + id, out var command, out _));
        Assert.Equal(id, command!.EnvelopeId);
    }

    [Theory]
    [InlineData("TO:<a@b>", "a@b")]
    [InlineData("to:<a@b>", "a@b")]
    [InlineData("TO: <a@b>", "a@b")]
    [InlineData("TO:<postmaster>", "postmaster")]
    [InlineData("TO:<PostMaster>", "postmaster")]
    [InlineData("TO:<postmaster@example.com>", "postmaster@example.com")]
    [InlineData("TO:<@hop.example:user@example.com>", "user@example.com")]
    [InlineData("TO:<\"x y\"@example.com>", "\"x y\"@example.com")]
    [InlineData("TO:<user@[IPv6:2001:db8::25]>", "user@[IPv6:2001:db8::25]")]
    public void Parses_recipient(string argument, string recipient)
    {
        Assert.True(SmtpPathParser.TryParseRcptTo(argument, false, out RcptToCommand? command, out SmtpReply? error), error?.ToString());
        Assert.Equal(new RcptToCommand { Recipient = recipient }, command);
    }

    [Theory]
    [InlineData("TO:<ü@bücher.example>", "ü@bücher.example")]
    [InlineData("TO:<\"ü x\"@example.com>", "\"ü x\"@example.com")]
    [InlineData("TO:<用户@例子.广告>", "用户@例子.广告")]
    public void Parses_utf8_recipient_with_smtputf8(string argument, string recipient)
    {
        Assert.True(SmtpPathParser.TryParseRcptTo(argument, true, out RcptToCommand? command, out _));
        Assert.Equal(recipient, command!.Recipient);
    }

    public static TheoryData<string, bool, int, string> RcptErrors() => new()
    {
        { "", false, 501, "5.5.4" },
        { "TO:", false, 501, "5.5.4" },
        { "TO:a@b", false, 501, "5.5.4" },
        { "FROM:<a@b>", false, 501, "5.5.4" },
        { "TO:<a@b", false, 501, "5.5.4" },
        { "TO:<a@b>junk", false, 501, "5.5.4" },
        { "TO:<>", false, 501, "5.1.3" },
        { "TO:<a>", false, 501, "5.1.3" },
        { "TO:<postmaster@>", false, 501, "5.1.3" },
        { "TO:<a@b..c>", false, 501, "5.1.3" },
        { "TO:<a@[300.1.1.1]>", false, 501, "5.1.3" },
        { "TO:<a@bü!.example>", true, 501, "5.1.3" },
        { "TO:<a@b c>", false, 501, "5.1.3" },
        { "TO:<ü@example.com>", false, 553, "5.6.7" },
        { "TO:<a@bücher.example>", false, 553, "5.6.7" },
        { "TO:<a@b> SIZE=1", false, 555, "5.5.4" },
        { "TO:<a@b> XYZ", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=NEVER,SUCCESS", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=FAILURE,NEVER", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=SUCCESS,", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=,SUCCESS", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=SUCCESS,,DELAY", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=ALWAYS", false, 555, "5.5.4" },
        { "TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=a@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=;a@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=rfc822;", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=x400;a@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=rfc822;a+4", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=rfc822;a+0Db", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=utf-8;a+b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=utf-8;\\x{}@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=utf-8;\\x{D800}@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=utf-8;\\x{A}@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=utf-8;ü@b", false, 555, "5.5.4" },
        { "TO:<a@b> ORCPT=rfc822;a@b ORCPT=rfc822;a@b", false, 555, "5.5.4" },
    };

    [Theory]
    [MemberData(nameof(RcptErrors))]
    public void Refuses_rcpt_argument(string argument, bool smtpUtf8, int code, string status)
    {
        Assert.False(SmtpPathParser.TryParseRcptTo(argument, smtpUtf8, out RcptToCommand? command, out SmtpReply? error));
        Assert.Null(command);
        Assert.NotNull(error);
        Assert.Equal((code, EnhancedStatusCode.Parse(status)), (error.Code, error.Status!.Value));
    }

    [Theory]
    [InlineData("", "501 5.5.4 Syntax: RCPT TO:<address>")]
    [InlineData("TO:<a>", "501 5.1.3 Bad recipient address syntax")]
    [InlineData("TO:<a@b> ENVID=x", "555 5.5.4 Unsupported parameter: ENVID")]
    [InlineData("TO:<a@b> NOTIFY=NEVER,DELAY", "555 5.5.4 Invalid NOTIFY value")]
    [InlineData("TO:<a@b> notify=NEVER Notify=NEVER", "555 5.5.4 Duplicate parameter: NOTIFY")]
    public void Rcpt_replies_say_what_is_wrong(string argument, string reply)
    {
        Assert.False(SmtpPathParser.TryParseRcptTo(argument, false, out _, out SmtpReply? error));
        Assert.Equal(reply, error!.ToString());
    }

    [Theory]
    [InlineData("NOTIFY=NEVER", DsnNotify.Never)]
    [InlineData("NOTIFY=never", DsnNotify.Never)]
    [InlineData("NOTIFY=SUCCESS", DsnNotify.Success)]
    [InlineData("NOTIFY=FAILURE,DELAY", DsnNotify.Failure | DsnNotify.Delay)]
    [InlineData("NOTIFY=success,failure,delay", DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay)]
    [InlineData("NOTIFY=DELAY,SUCCESS", DsnNotify.Delay | DsnNotify.Success)]
    public void Parses_notify(string parameter, DsnNotify notify)
    {
        Assert.True(SmtpPathParser.TryParseRcptTo("TO:<a@b> " + parameter, false, out var command, out _));
        Assert.Equal(notify, command!.Notify);
    }

    [Theory]
    [InlineData("ORCPT=rfc822;user@example.com", false, "rfc822;user@example.com")]
    [InlineData("ORCPT=RFC822;a+2Bb@example.com", false, "rfc822;a+b@example.com")]
    [InlineData("ORCPT=rfc822;+22a+20b+22@example.com", false, "rfc822;\"a b\"@example.com")]
    [InlineData("ORCPT=utf-8;user@example.com", false, "utf-8;user@example.com")]
    [InlineData("ORCPT=UTF-8;\\x{FC}@example.com", false, "utf-8;ü@example.com")]
    [InlineData("ORCPT=utf-8;ü@bücher.example", true, "utf-8;ü@bücher.example")]
    public void Parses_original_recipient(string parameter, bool smtpUtf8, string original)
    {
        Assert.True(SmtpPathParser.TryParseRcptTo("TO:<a@b> " + parameter, smtpUtf8, out var command, out var error), error?.ToString());
        Assert.Equal(original, command!.OriginalRecipient);
    }

    [Fact]
    public void Parses_every_rcpt_parameter_together()
    {
        Assert.True(SmtpPathParser.TryParseRcptTo("TO:<user@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user@example.com", false, out var command, out _));
        Assert.Equal(new RcptToCommand
        {
            Recipient = "user@example.com",
            Notify = DsnNotify.Success | DsnNotify.Failure,
            OriginalRecipient = "rfc822;user@example.com",
        }, command);
    }

    [Theory]
    [InlineData("a@b", "b")]
    [InlineData("user@example.com", "example.com")]
    [InlineData("\"a@b\"@example.com", "example.com")]
    [InlineData("a@[192.0.2.1]", "[192.0.2.1]")]
    [InlineData("postmaster", null)]
    [InlineData("", null)]
    public void Domain_of_is_after_the_last_at(string address, string? domain)
    {
        Assert.Equal(domain, SmtpPathParser.DomainOf(address));
    }
}

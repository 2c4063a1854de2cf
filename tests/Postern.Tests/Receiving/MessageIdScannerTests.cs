using System.Text;
using Postern.Receiving;

namespace Postern.Tests.Receiving;

public sealed class MessageIdScannerTests
{
    public static TheoryData<string, string?> Headers => new()
    {
        { "Message-ID: <a@b.test>\r\n\r\nbody", "a@b.test" },
        { "From: x@y\r\nmessage-id:<a@b.test>\r\nTo: z@y\r\n\r\n", "a@b.test" },
        { "Subject: hi\r\nMESSAGE-ID:\r\n\t<folded@b.test>\r\n\r\n", "folded@b.test" },
        { "Message-ID: <first@b.test>\r\nMessage-ID: <second@b.test>\r\n\r\n", "first@b.test" },
        { "Message-ID: bare@b.test (comment-less)\r\n\r\n", "bare@b.test (comment-less)" },
        { "Subject: no id\r\n\r\nMessage-ID: <in-body@b.test>\r\n", null },
        { "Subject: x\r\n Message-ID: <continuation@b.test>\r\n\r\n", null },
        { "X-Message-ID: <other@b.test>\r\n\r\n", null },
        { "Message-Idx: <other@b.test>\r\n\r\n", null },
    };

    [Theory]
    [MemberData(nameof(Headers))]
    public void Finds_the_message_id_in_one_piece(string message, string? expected)
    {
        var scanner = new MessageIdScanner();
        scanner.Inspect(Encoding.UTF8.GetBytes(message));
        Assert.Equal(expected, scanner.MessageId);
    }

    [Theory]
    [MemberData(nameof(Headers))]
    public void Finds_the_message_id_fed_one_byte_at_a_time(string message, string? expected)
    {
        var scanner = new MessageIdScanner();
        foreach (byte b in Encoding.UTF8.GetBytes(message)) scanner.Inspect([b]);
        Assert.Equal(expected, scanner.MessageId);
    }

    [Fact]
    public void Stops_at_the_end_of_the_header_section_and_after_the_bound()
    {
        var scanner = new MessageIdScanner();
        scanner.Inspect("Subject: x\r\n\r\n"u8);
        Assert.True(scanner.IsDone);

        var bounded = new MessageIdScanner();
        byte[] filler = Encoding.ASCII.GetBytes("X-Filler: " + new string('a', 1000) + "\r\n");
        for (int i = 0; i * filler.Length < MessageIdScanner.MaxHeaderBytes + filler.Length; i++) bounded.Inspect(filler);
        Assert.True(bounded.IsDone);
        bounded.Inspect("Message-ID: <late@b.test>\r\n\r\n"u8);
        Assert.Null(bounded.MessageId);
    }
}

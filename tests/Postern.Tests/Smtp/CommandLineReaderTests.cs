using System.Buffers;
using Postern.Smtp;
using static Postern.Tests.Smtp.Sequences;

namespace Postern.Tests.Smtp;

public class CommandLineReaderTests
{
    private static (LineStatus Status, string Line, long Consumed) ReadOne(ReadOnlySequence<byte> input, int max = 20, CommandLineReader? lineReader = null)
    {
        lineReader ??= new CommandLineReader(max);
        var reader = new SequenceReader<byte>(input);
        LineStatus status = lineReader.TryRead(ref reader, out ReadOnlySequence<byte> line);
        return (status, Text(line.ToArray()), reader.Consumed);
    }

    [Theory]
    [InlineData("EHLO a\r\n", LineStatus.Complete, "EHLO a", 8)]
    [InlineData("\r\n", LineStatus.Complete, "", 2)]
    [InlineData("NOOP\r\nQUIT\r\n", LineStatus.Complete, "NOOP", 6)]
    [InlineData("12345678901234567890\r\n", LineStatus.Complete, "12345678901234567890", 22)]
    [InlineData("123456789012345678901\r\n", LineStatus.TooLong, "", 23)]
    [InlineData("NOOP\n", LineStatus.BareLineEnding, "", 5)]
    [InlineData("\n", LineStatus.BareLineEnding, "", 1)]
    [InlineData("NO\rOP\r\n", LineStatus.BareLineEnding, "", 7)]
    [InlineData("NOOP\r\r\n", LineStatus.BareLineEnding, "", 7)]
    [InlineData("\rNOOP\r\n", LineStatus.BareLineEnding, "", 7)]
    [InlineData("MAIL FROM:<a@b>\n.\r\n", LineStatus.BareLineEnding, "", 16)]
    [InlineData("NOOP", LineStatus.NeedMore, "", 0)]
    [InlineData("NOOP\r", LineStatus.NeedMore, "", 0)]
    [InlineData("", LineStatus.NeedMore, "", 0)]
    public void Reads_one_line(string input, LineStatus status, string line, long consumed)
    {
        var whole = ReadOne(new ReadOnlySequence<byte>(Bytes(input)));
        Assert.Equal((status, line, consumed), whole);
        var fragmented = ReadOne(Fragmented(Bytes(input)));
        Assert.Equal((status, line, consumed), fragmented);
    }

    [Theory]
    [InlineData("EHLO client.example\r\n")]
    [InlineData("MAIL FROM:<a@b>\r\n")]
    [InlineData("\r\n")]
    public void Every_incomplete_prefix_needs_more_and_consumes_nothing(string input)
    {
        byte[] bytes = Bytes(input);
        for (int n = 0; n < bytes.Length; n++)
        {
            var result = ReadOne(new ReadOnlySequence<byte>(bytes, 0, n), max: 512);
            Assert.Equal((LineStatus.NeedMore, "", 0L), result);
        }
    }

    [Fact]
    public void An_overlong_line_is_discarded_without_being_buffered_and_reported_at_its_end()
    {
        var lineReader = new CommandLineReader(10);
        // 12 bytes without LF: more than 10 + CR, so they are dropped at once.
        var first = ReadOne(new ReadOnlySequence<byte>(Bytes("ABCDEFGHIJKL")), lineReader: lineReader);
        Assert.Equal((LineStatus.NeedMore, "", 12L), first);
        var second = ReadOne(new ReadOnlySequence<byte>(Bytes("MNOP")), lineReader: lineReader);
        Assert.Equal((LineStatus.NeedMore, "", 4L), second);
        var third = ReadOne(new ReadOnlySequence<byte>(Bytes("QR\r\nNOOP\r\n")), lineReader: lineReader);
        Assert.Equal((LineStatus.TooLong, "", 4L), third);
        var fourth = ReadOne(new ReadOnlySequence<byte>(Bytes("NOOP\r\n")), lineReader: lineReader);
        Assert.Equal((LineStatus.Complete, "NOOP", 6L), fourth);
    }

    [Fact]
    public void A_line_of_exactly_the_limit_waiting_for_its_crlf_is_kept()
    {
        var lineReader = new CommandLineReader(4);
        Assert.Equal((LineStatus.NeedMore, "", 0L), ReadOne(new ReadOnlySequence<byte>(Bytes("NOOP\r")), lineReader: lineReader));
        Assert.Equal((LineStatus.Complete, "NOOP", 6L), ReadOne(new ReadOnlySequence<byte>(Bytes("NOOP\r\n")), lineReader: lineReader));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Pipelined_commands_fed_in_pieces_give_the_same_lines_as_whole(int pieceSize)
    {
        const string input = "EHLO x\r\nMAIL FROM:<a@b>\r\nTOO LONG LINE HERE FOR LIMIT\r\nBARE\nRC\rPT\r\n\r\nQUIT\r\n";
        var expected = new[]
        {
            (LineStatus.Complete, "EHLO x"), (LineStatus.Complete, "MAIL FROM:<a@b>"), (LineStatus.TooLong, ""),
            (LineStatus.BareLineEnding, ""), (LineStatus.BareLineEnding, ""), (LineStatus.Complete, ""), (LineStatus.Complete, "QUIT"),
        };
        Assert.Equal(expected, Feed(Bytes(input), pieceSize, 20));
    }

    /// <summary>Feeds the input as a pipe would, keeping unconsumed bytes, and collects the lines.</summary>
    private static List<(LineStatus, string)> Feed(byte[] input, int pieceSize, int max)
    {
        var lineReader = new CommandLineReader(max);
        var results = new List<(LineStatus, string)>();
        var pending = new List<byte>();
        foreach (byte[] piece in Chunks(input, pieceSize))
        {
            pending.AddRange(piece);
            while (true)
            {
                var reader = new SequenceReader<byte>(Fragmented(pending.ToArray()));
                LineStatus status = lineReader.TryRead(ref reader, out ReadOnlySequence<byte> line);
                string text = Text(line.ToArray());
                pending.RemoveRange(0, (int)reader.Consumed);
                if (status == LineStatus.NeedMore) break;
                results.Add((status, text));
            }
        }
        Assert.Empty(pending);
        return results;
    }
}

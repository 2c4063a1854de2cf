using System.Buffers;
using Postern.Smtp;
using static Postern.Tests.Smtp.Sequences;

namespace Postern.Tests.Smtp;

public class DotDataDecoderTests
{
    private sealed record Outcome(DataStatus Status, string Message, long Consumed, bool SawBareLineEnding, bool TooLarge, long Size);

    /// <summary>Feeds the pieces one call each, each piece as a sequence of one-byte segments.</summary>
    private static Outcome Decode(IEnumerable<byte[]> pieces, long maxSize = long.MaxValue)
    {
        var decoder = new DotDataDecoder(maxSize);
        var output = new ArrayBufferWriter<byte>();
        long consumed = 0;
        DataStatus status = DataStatus.NeedMore;
        foreach (byte[] piece in pieces)
        {
            var reader = new SequenceReader<byte>(Fragmented(piece));
            status = decoder.Decode(ref reader, output);
            consumed += reader.Consumed;
            if (status == DataStatus.Complete) break;
            Assert.Equal(piece.Length, reader.Consumed);
        }
        return new Outcome(status, Text(output.WrittenSpan), consumed, decoder.SawBareLineEnding, decoder.TooLarge, decoder.Size);
    }

    private static Outcome DecodeWhole(string input, long maxSize = long.MaxValue)
    {
        var decoder = new DotDataDecoder(maxSize);
        var output = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes(input)));
        DataStatus status = decoder.Decode(ref reader, output);
        return new Outcome(status, Text(output.WrittenSpan), reader.Consumed, decoder.SawBareLineEnding, decoder.TooLarge, decoder.Size);
    }

    /// <summary>Whole, one byte per call, and split in two at every position: the same outcome each time.</summary>
    private static Outcome DecodeEveryWay(string input, long maxSize = long.MaxValue)
    {
        Outcome whole = DecodeWhole(input, maxSize);
        byte[] bytes = Bytes(input);
        Assert.Equal(whole, Decode(Chunks(bytes, 1), maxSize));
        Assert.Equal(whole, Decode(Chunks(bytes, 3), maxSize));
        for (int split = 0; split <= bytes.Length; split++)
        {
            Assert.Equal(whole, Decode([bytes[..split], bytes[split..]], maxSize));
        }
        return whole;
    }

    [Theory]
    [InlineData(".\r\n", "")]
    [InlineData("a\r\n.\r\n", "a\r\n")]
    [InlineData("\r\n.\r\n", "\r\n")]
    [InlineData("\r\n\r\n.\r\n", "\r\n\r\n")]
    [InlineData("Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n")]
    [InlineData("..\r\n.\r\n", ".\r\n")]
    [InlineData("..a\r\n.\r\n", ".a\r\n")]
    [InlineData("a\r\n..\r\n.\r\n", "a\r\n.\r\n")]
    [InlineData("a\r\n...\r\n.\r\n", "a\r\n..\r\n")]
    [InlineData("a\r\n.b.c\r\n.\r\n", "a\r\nb.c\r\n")]
    [InlineData("a.\r\n.\r\n", "a.\r\n")]
    [InlineData("a\r\n. \r\n.\r\n", "a\r\n \r\n")]
    [InlineData("a\r\n..\r\n..\r\n.\r\n", "a\r\n.\r\n.\r\n")]
    [InlineData("a\tb\x00c\xff\r\n.\r\n", "a\tb\x00c\xff\r\n")]
    public void Removes_dot_stuffing_and_stops_at_crlf_dot_crlf(string input, string message)
    {
        Outcome outcome = DecodeEveryWay(input);
        Assert.Equal(new Outcome(DataStatus.Complete, message, input.Length, false, false, message.Length), outcome);
    }

    [Theory]
    [InlineData("a\r\n.\r\nQUIT\r\n", "a\r\n")]
    [InlineData(".\r\nMAIL FROM:<a@b>\r\n", "")]
    [InlineData("a\r\n.\r\n.\r\n", "a\r\n")]
    public void Leaves_what_follows_the_end_of_data_unconsumed(string input, string message)
    {
        Outcome outcome = DecodeEveryWay(input);
        Assert.Equal(DataStatus.Complete, outcome.Status);
        Assert.Equal(message, outcome.Message);
        Assert.Equal(input.IndexOf(".\r\n", StringComparison.Ordinal) + 3, outcome.Consumed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("a\r")]
    [InlineData("a\r\n")]
    [InlineData("a\r\n.")]
    [InlineData("a\r\n.\r")]
    [InlineData(".")]
    [InlineData(".\r")]
    [InlineData("a\r\n..\r\n")]
    public void Needs_more_before_the_end_of_data_and_consumes_what_it_was_given(string input)
    {
        Outcome outcome = DecodeWhole(input);
        Assert.Equal(DataStatus.NeedMore, outcome.Status);
        Assert.Equal(input.Length, outcome.Consumed);
    }

    [Fact]
    public void Every_prefix_of_a_message_needs_more()
    {
        const string input = "From: a@b\r\n\r\n..dots\r\n..\r\nline\r\n\r\n.\r\n";
        for (int n = 0; n < input.Length; n++)
        {
            Assert.Equal(DataStatus.NeedMore, DecodeWhole(input[..n]).Status);
        }
        Assert.Equal(DataStatus.Complete, DecodeWhole(input).Status);
    }

    // SMTP smuggling: each of these must not end the message; what follows stays in the same message.
    [Theory]
    [InlineData("A\n.\n", "A\n\n")]
    [InlineData("A\r.\r", "A\r.\r")]
    [InlineData("A\n.\r\n", "A\n\r\n")]
    [InlineData("A\r\n.\n", "A\r\n\n")]
    [InlineData("A\r\n.\r", "A\r\n\r")]
    [InlineData("A\r.\r\n", "A\r.\r\n")]
    [InlineData(".\n", "\n")]
    [InlineData("A\r\n.\n.\r\n", "A\r\n\n\r\n")]
    [InlineData("A\n\n.\r\n", "A\n\n\r\n")]
    [InlineData("A\r\r\n.\r\r\n", "A\r\r\n\r\r\n")]
    public void A_smuggled_end_of_data_does_not_end_the_message(string smuggled, string decodedPrefix)
    {
        const string injected = "MAIL FROM:<attacker@evil.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nforged\r\n";
        string input = smuggled + injected + ".\r\nQUIT\r\n";
        Outcome outcome = DecodeEveryWay(input);
        Assert.Equal(DataStatus.Complete, outcome.Status);
        Assert.True(outcome.SawBareLineEnding);
        Assert.Equal(decodedPrefix + injected, outcome.Message);
        Assert.Equal(input.Length - "QUIT\r\n".Length, outcome.Consumed);
    }

    [Fact]
    public void A_nul_before_the_dot_is_data_and_not_a_bare_line_ending()
    {
        const string input = "A\r\n\x00.\r\nMAIL FROM:<x@y>\r\n.\r\n";
        const string message = "A\r\n\x00.\r\nMAIL FROM:<x@y>\r\n";
        Outcome outcome = DecodeEveryWay(input);
        Assert.Equal(new Outcome(DataStatus.Complete, message, input.Length, false, false, message.Length), outcome);
    }

    [Theory]
    [InlineData("a\rb\r\n.\r\n", "a\rb\r\n")]
    [InlineData("a\nb\r\n.\r\n", "a\nb\r\n")]
    [InlineData("\n.\r\n.\r\n", "\n\r\n")]
    [InlineData("\r\r\n.\r\n", "\r\r\n")]
    [InlineData("a\r\n.\r.\r\n.\r\n", "a\r\n\r.\r\n")]
    public void Bare_line_endings_are_kept_as_data_and_recorded(string input, string message)
    {
        Outcome outcome = DecodeEveryWay(input);
        Assert.Equal(new Outcome(DataStatus.Complete, message, input.Length, true, false, message.Length), outcome);
    }

    [Fact]
    public void Over_the_limit_it_stops_writing_but_reads_on_to_the_real_end()
    {
        const string input = "0123456789\r\nabcdefghij\r\n..more\r\n.\r\nQUIT\r\n";
        Outcome outcome = DecodeEveryWay(input, maxSize: 15);
        Assert.Equal(DataStatus.Complete, outcome.Status);
        Assert.True(outcome.TooLarge);
        Assert.Equal(31, outcome.Size);
        Assert.Equal("0123456789\r\nabc", outcome.Message);
        Assert.Equal(input.Length - "QUIT\r\n".Length, outcome.Consumed);
    }

    [Fact]
    public void A_message_of_exactly_the_limit_is_not_too_large()
    {
        Outcome outcome = DecodeEveryWay("0123456789\r\n.\r\n", maxSize: 12);
        Assert.Equal(new Outcome(DataStatus.Complete, "0123456789\r\n", 15, false, false, 12), outcome);
        Assert.True(DecodeWhole("0123456789\r\n.\r\n", maxSize: 11).TooLarge);
    }

    [Fact]
    public void A_large_message_in_large_segments_is_copied_exactly()
    {
        var random = new Random(5321);
        var lines = new List<string>();
        for (int i = 0; i < 2000; i++) lines.Add(new string((char)('a' + random.Next(26)), random.Next(0, 100)));
        string message = string.Join("\r\n", lines) + "\r\n";
        byte[] bytes = Bytes(message + ".\r\n");
        var decoder = new DotDataDecoder(long.MaxValue);
        var output = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(Create([.. Chunks(bytes, 4096)]));
        Assert.Equal(DataStatus.Complete, decoder.Decode(ref reader, output));
        Assert.Equal(message, Text(output.WrittenSpan));
        Assert.Equal(bytes.Length, reader.Consumed);
    }
}

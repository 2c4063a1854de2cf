using System.Buffers;
using Postern.Smtp;
using static Postern.Tests.Smtp.Sequences;

namespace Postern.Tests.Smtp;

public class DotStufferTests
{
    private static string Stuff(params string[] chunks)
    {
        var stuffer = new DotStuffer();
        var output = new ArrayBufferWriter<byte>();
        foreach (string chunk in chunks) stuffer.Write(Bytes(chunk), output);
        stuffer.Complete(output);
        return Text(output.WrittenSpan);
    }

    [Theory]
    [InlineData(new[] { "" }, ".\r\n")]
    [InlineData(new string[0], ".\r\n")]
    [InlineData(new[] { "a\r\n" }, "a\r\n.\r\n")]
    [InlineData(new[] { "abc" }, "abc\r\n.\r\n")]
    [InlineData(new[] { ".a\r\n" }, "..a\r\n.\r\n")]
    [InlineData(new[] { ".\r\n" }, "..\r\n.\r\n")]
    [InlineData(new[] { "a\r\n.\r\n" }, "a\r\n..\r\n.\r\n")]
    [InlineData(new[] { "a\r\n..b\r\n...\r\n" }, "a\r\n...b\r\n....\r\n.\r\n")]
    [InlineData(new[] { "a.b\r\nc.\r\n" }, "a.b\r\nc.\r\n.\r\n")]
    [InlineData(new[] { "a\r", "\n.", "b\r\n" }, "a\r\n..b\r\n.\r\n")]
    [InlineData(new[] { "a\r\n", ".b" }, "a\r\n..b\r\n.\r\n")]
    [InlineData(new[] { "a\r\n", "", ".b\r\n" }, "a\r\n..b\r\n.\r\n")]
    [InlineData(new[] { "a\r", "\n" }, "a\r\n.\r\n")]
    [InlineData(new[] { "a", "\r", "\n" }, "a\r\n.\r\n")]
    [InlineData(new[] { "a\r" }, "a\r\r\n.\r\n")]
    [InlineData(new[] { "a\n" }, "a\n\r\n.\r\n")]
    [InlineData(new[] { "a\n.b\r\n" }, "a\n..b\r\n.\r\n")]
    [InlineData(new[] { "a\r.b\r\n" }, "a\r.b\r\n.\r\n")]
    public void Doubles_a_leading_dot_and_ends_with_crlf_dot_crlf(string[] chunks, string wire)
    {
        Assert.Equal(wire, Stuff(chunks));
    }

    [Fact]
    public void Is_ready_for_the_next_message_after_complete()
    {
        var stuffer = new DotStuffer();
        var output = new ArrayBufferWriter<byte>();
        stuffer.Write(Bytes("a"), output);
        stuffer.Complete(output);
        stuffer.Write(Bytes(".b\r\n"), output);
        stuffer.Complete(output);
        Assert.Equal("a\r\n.\r\n..b\r\n.\r\n", Text(output.WrittenSpan));
    }

    private static readonly string[] LineVocabulary = [".", "..", "...", ".x", "x.", "", "text", "a.b", " .", ".\t", "\x00."];
    private static readonly string[] EndingVocabulary = ["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r"];

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void Round_trips_through_the_decoder(int seed, bool withBareLineEndings)
    {
        var random = new Random(seed);
        for (int round = 0; round < 100; round++)
        {
            var builder = new System.Text.StringBuilder();
            int lines = random.Next(0, 12);
            for (int i = 0; i < lines; i++)
            {
                builder.Append(LineVocabulary[random.Next(LineVocabulary.Length)]);
                builder.Append(withBareLineEndings ? EndingVocabulary[random.Next(EndingVocabulary.Length)] : "\r\n");
            }
            if (random.Next(4) == 0) builder.Append(LineVocabulary[random.Next(LineVocabulary.Length)]);
            string message = builder.ToString();
            byte[] bytes = Bytes(message);

            var stuffer = new DotStuffer();
            var wire = new ArrayBufferWriter<byte>();
            foreach (byte[] piece in RandomPieces(bytes, random)) stuffer.Write(piece, wire);
            stuffer.Complete(wire);
            byte[] wireBytes = [.. wire.WrittenSpan, .. "QUIT\r\n"u8];

            var decoder = new DotDataDecoder(long.MaxValue);
            var decoded = new ArrayBufferWriter<byte>();
            DataStatus status = DataStatus.NeedMore;
            long consumed = 0;
            foreach (byte[] piece in RandomPieces(wireBytes, random))
            {
                var reader = new SequenceReader<byte>(Fragmented(piece));
                status = decoder.Decode(ref reader, decoded);
                consumed += reader.Consumed;
                if (status == DataStatus.Complete) break;
            }

            string expected = message.Length == 0 || message.EndsWith("\r\n", StringComparison.Ordinal) ? message : message + "\r\n";
            Assert.Equal(DataStatus.Complete, status);
            Assert.Equal(expected, Text(decoded.WrittenSpan));
            Assert.Equal(wire.WrittenCount, consumed);
            bool bare = expected.Replace("\r\n", "", StringComparison.Ordinal).AsSpan().IndexOfAny('\r', '\n') >= 0;
            Assert.Equal(bare, decoder.SawBareLineEnding);
        }
    }

    private static List<byte[]> RandomPieces(byte[] bytes, Random random)
    {
        var pieces = new List<byte[]>();
        for (int i = 0; i < bytes.Length;)
        {
            int size = Math.Min(bytes.Length - i, random.Next(1, 8));
            pieces.Add(bytes[i..(i + size)]);
            i += size;
        }
        return pieces;
    }
}

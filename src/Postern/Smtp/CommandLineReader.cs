using System.Buffers;

namespace Postern.Smtp;

/// <summary>
/// Reads CRLF-terminated command lines under a length limit. Stateful only to discard the rest of
/// an overlong line across reads without buffering it.
/// </summary>
/// <param name="maxLength">The longest line accepted, in bytes, not counting the CRLF (RFC 5321 4.5.3.1.4: 512 with it).</param>
public sealed class CommandLineReader(int maxLength)
{
    private bool _discarding;

    public int MaxLength { get; } = maxLength;

    /// <summary>
    /// Reads one line. On <see cref="LineStatus.NeedMore"/> the reader is left where it was, except
    /// that the bytes of an overlong line may be consumed (they are never needed).
    /// </summary>
    public LineStatus TryRead(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> line)
    {
        line = default;
        if (_discarding)
        {
            if (reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: true))
            {
                _discarding = false;
                return LineStatus.TooLong;
            }
            reader.AdvanceToEnd();
            return LineStatus.NeedMore;
        }

        SequenceReader<byte> probe = reader;
        if (!probe.TryReadTo(out ReadOnlySequence<byte> raw, (byte)'\n', advancePastDelimiter: true))
        {
            // Without an LF yet, the line holds at least Remaining - 1 bytes before its CRLF.
            if (reader.Remaining - 1 > MaxLength)
            {
                reader.AdvanceToEnd();
                _discarding = true;
            }
            return LineStatus.NeedMore;
        }

        reader = probe;
        long length = raw.Length;
        bool endsWithCr = length > 0 && LastByte(raw) == (byte)'\r';
        long contentLength = endsWithCr ? length - 1 : length;
        if (contentLength > MaxLength) return LineStatus.TooLong;
        ReadOnlySequence<byte> content = raw.Slice(0, contentLength);
        // RFC 5321 2.3.8: CR and LF only ever appear together, as the line ending.
        if (!endsWithCr || content.PositionOf((byte)'\r') is not null) return LineStatus.BareLineEnding;
        line = content;
        return LineStatus.Complete;
    }

    private static byte LastByte(ReadOnlySequence<byte> sequence) =>
        sequence.IsSingleSegment ? sequence.FirstSpan[^1] : sequence.Slice(sequence.Length - 1).FirstSpan[0];
}

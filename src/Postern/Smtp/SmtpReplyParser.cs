using System.Buffers;
using System.Text;

namespace Postern.Smtp;

/// <summary>Reads SMTP replies (RFC 5321 4.2, RFC 2034 enhanced status codes).</summary>
public static class SmtpReplyParser
{
    /// <summary>
    /// Reads one complete (possibly multi-line) reply. False, consuming nothing, when incomplete.
    /// Throws <see cref="SmtpProtocolException"/> for lines that are not replies, inconsistent codes,
    /// a line over <paramref name="maxLineLength"/> or more than <paramref name="maxLines"/> lines.
    /// Enhanced status codes are recognised when the text of the first line starts with one of the code's class.
    /// </summary>
    /// <remarks>
    /// A line may end in a bare LF (a CR before it is dropped). Text that is not UTF-8 is decoded with
    /// replacement characters. The enhanced code is removed from the text of every line that repeats it.
    /// </remarks>
    public static bool TryParse(ref SequenceReader<byte> reader, out SmtpReply? reply, int maxLineLength = 4096, int maxLines = 128)
    {
        reply = null;
        SequenceReader<byte> probe = reader;
        List<string>? lines = null;
        int code = 0;
        Span<byte> small = stackalloc byte[512];
        while (true)
        {
            if (!probe.TryReadTo(out ReadOnlySequence<byte> raw, (byte)'\n', advancePastDelimiter: true))
            {
                if (probe.Remaining - 1 > maxLineLength) throw new SmtpProtocolException("Reply line too long.");
                return false;
            }
            if (raw.Length > 0 && raw.Slice(raw.Length - 1).FirstSpan[0] == (byte)'\r') raw = raw.Slice(0, raw.Length - 1);
            if (raw.Length > maxLineLength) throw new SmtpProtocolException("Reply line too long.");

            int length = (int)raw.Length;
            byte[]? rented = null;
            Span<byte> line = length <= small.Length ? small[..length] : (rented = ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
            try
            {
                raw.CopyTo(line);
                int lineCode = ReadCode(line);
                if (lines is null) code = lineCode;
                else if (lineCode != code) throw new SmtpProtocolException($"Reply lines with different codes ({code}, {lineCode}).");

                bool last;
                if (line.Length == 3) last = true;
                else if (line[3] == (byte)' ') last = true;
                else if (line[3] == (byte)'-') last = false;
                else throw new SmtpProtocolException("Malformed reply line.");

                lines ??= [];
                if (lines.Count == maxLines) throw new SmtpProtocolException("Too many reply lines.");
                lines.Add(line.Length > 4 ? Encoding.UTF8.GetString(line[4..]) : "");
                if (last) break;
            }
            finally
            {
                if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
            }
        }

        reader = probe;
        reply = Build(code, lines);
        return true;
    }

    private static int ReadCode(ReadOnlySpan<byte> line)
    {
        // RFC 5321 4.2: three digits, the first 2..5 (1yz is not used).
        if (line.Length < 3 || line[0] is < (byte)'2' or > (byte)'5' || !char.IsAsciiDigit((char)line[1]) || !char.IsAsciiDigit((char)line[2]))
        {
            throw new SmtpProtocolException("Malformed reply line.");
        }
        return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    }

    private static SmtpReply Build(int code, List<string> lines)
    {
        string first = lines[0];
        int space = first.IndexOf(' ');
        string word = space < 0 ? first : first[..space];
        if (!EnhancedStatusCode.TryParse(word, out EnhancedStatusCode? status) || status.Value.Class != code / 100)
        {
            return new SmtpReply(code, null, lines);
        }
        for (int i = 0; i < lines.Count; i++)
        {
            string line = lines[i];
            if (line.StartsWith(word, StringComparison.Ordinal) && (line.Length == word.Length || line[word.Length] == ' '))
            {
                lines[i] = line.Length == word.Length ? "" : line[(word.Length + 1)..];
            }
        }
        return new SmtpReply(code, status, lines);
    }
}

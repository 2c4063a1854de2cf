using System.Buffers;
using System.Text;

namespace Postern.Smtp;

/// <summary>
/// An SMTP reply as a value: a three-digit code, an optional RFC 3463 enhanced status code and
/// one or more lines of text. The same type serves the server (replies it sends) and the client
/// (replies it parses).
/// </summary>
public sealed record SmtpReply
{
    public SmtpReply(int code, EnhancedStatusCode? status, IReadOnlyList<string> lines)
    {
        if (code is < 200 or > 599) throw new ArgumentOutOfRangeException(nameof(code), code, "An SMTP reply code is 2xx..5xx.");
        Code = code;
        Status = status;
        Lines = lines.Count == 0 ? [""] : lines;
    }

    public SmtpReply(int code, string status, string text)
        : this(code, EnhancedStatusCode.Parse(status), [text])
    {
    }

    public SmtpReply(int code, string text)
        : this(code, null, [text])
    {
    }

    public int Code { get; }

    public EnhancedStatusCode? Status { get; }

    public IReadOnlyList<string> Lines { get; }

    /// <summary>The text of all lines joined with a space (without codes).</summary>
    public string Text => Lines.Count == 1 ? Lines[0] : string.Join(" ", Lines);

    public bool IsPositive => Code < 400;

    public bool IsIntermediate => Code is >= 300 and < 400;

    public bool IsTransient => Code is >= 400 and < 500;

    public bool IsPermanent => Code >= 500;

    /// <summary>Writes the reply in wire form: every line but the last as "code-", the last as "code ".</summary>
    public void WriteTo(IBufferWriter<byte> output, bool enhancedStatusCodes = true)
    {
        for (int i = 0; i < Lines.Count; i++)
        {
            string line = FormatLine(i, enhancedStatusCodes);
            int max = Encoding.UTF8.GetMaxByteCount(line.Length);
            Span<byte> span = output.GetSpan(max);
            int written = Encoding.UTF8.GetBytes(line, span);
            output.Advance(written);
        }
    }

    /// <summary>The reply in wire form, CRLF after every line.</summary>
    public string ToWireString(bool enhancedStatusCodes = true)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < Lines.Count; i++) builder.Append(FormatLine(i, enhancedStatusCodes));
        return builder.ToString();
    }

    private string FormatLine(int index, bool enhancedStatusCodes)
    {
        char separator = index == Lines.Count - 1 ? ' ' : '-';
        string text = Lines[index];
        // RFC 2034: the enhanced code leads the text of every line of the reply.
        if (enhancedStatusCodes && Status is { } status)
            return text.Length == 0 ? $"{Code}{separator}{status}\r\n" : $"{Code}{separator}{status} {text}\r\n";
        return text.Length == 0 ? $"{Code}{separator}\r\n" : $"{Code}{separator}{text}\r\n";
    }

    /// <summary>The reply on one line as it would be logged, e.g. "550 5.7.1 Relay access denied".</summary>
    public override string ToString() => Status is { } s ? $"{Code} {s} {Text}" : $"{Code} {Text}";
}

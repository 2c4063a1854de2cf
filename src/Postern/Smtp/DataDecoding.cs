using System.Buffers;

namespace Postern.Smtp;

public enum DataStatus { NeedMore, Complete }

/// <summary>
/// Decodes the DATA phase (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing and finds the end of
/// data, which is only ever &lt;CRLF&gt;.&lt;CRLF&gt; (the CRLF before the dot belongs to the message;
/// at the very start of data a lone ".\r\n" ends an empty message). A bare CR or LF anywhere never
/// ends the message (SMTP smuggling); it is recorded in <see cref="SawBareLineEnding"/> and the
/// decoding goes on to the real end so the session stays in step.
/// </summary>
public sealed class DotDataDecoder(long maxSize)
{
    /// <summary>Decoded bytes (after the limit: counted, not written).</summary>
    public long Size => throw new NotImplementedException();
    public bool TooLarge => throw new NotImplementedException();
    public bool SawBareLineEnding => throw new NotImplementedException();
    public long MaxSize { get; } = maxSize;

    /// <summary>Consumes from reader, writes message bytes to output (none once TooLarge). Complete: reader is just past the final ".\r\n".</summary>
    public DataStatus Decode(ref SequenceReader<byte> reader, IBufferWriter<byte> output) => throw new NotImplementedException();
}

/// <summary>Finds bare CR or LF across the chunks of a BDAT transfer (line endings must be CRLF unless BINARYMIME).</summary>
public struct BareLineEndingDetector
{
    public readonly bool Found => throw new NotImplementedException();
    public void Inspect(ReadOnlySequence<byte> chunk) => throw new NotImplementedException();
    /// <summary>Call at the end: a trailing lone CR is bare.</summary>
    public void Complete() => throw new NotImplementedException();
}

/// <summary>Dot-stuffing for sending (the client side of RFC 5321 4.5.2).</summary>
public sealed class DotStuffer
{
    /// <summary>Writes the stuffed form of a chunk of message bytes, tracking line starts across calls.</summary>
    public void Write(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => throw new NotImplementedException();
    /// <summary>Writes the end of data: a CRLF first when the message did not end with one, then ".\r\n".</summary>
    public void Complete(IBufferWriter<byte> output) => throw new NotImplementedException();
}

public static class SmtpReplyParser
{
    /// <summary>
    /// Reads one complete (possibly multi-line) reply. False, consuming nothing, when incomplete.
    /// Throws <see cref="SmtpProtocolException"/> for lines that are not replies, inconsistent codes,
    /// a line over <paramref name="maxLineLength"/> or more than <paramref name="maxLines"/> lines.
    /// Enhanced status codes are recognised when the text of the first line starts with one of the code's class.
    /// </summary>
    public static bool TryParse(ref SequenceReader<byte> reader, out SmtpReply? reply, int maxLineLength = 4096, int maxLines = 128) => throw new NotImplementedException();
}

/// <summary>The peer broke the protocol in a way that ends the conversation.</summary>
public sealed class SmtpProtocolException(string message) : Exception(message);

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
/// <remarks>
/// The decoder keeps its place in a small state machine, so <see cref="Decode"/> consumes all the
/// input it is given until the end of data, even a CR or a dot whose meaning depends on bytes not
/// yet received; the caller never needs to present those bytes again. A leading dot is removed
/// after any LF (after a bare LF too, matching <see cref="DotStuffer"/>), but only a line that
/// follows a CRLF can end the data. A decoder serves one message.
/// </remarks>
public sealed class DotDataDecoder(long maxSize)
{
    private static ReadOnlySpan<byte> CrLf => "\r\n"u8;

    private State _state = State.LineStart;
    private bool _lineAfterBareLf;
    private bool _complete;

    /// <summary>Decoded bytes (after the limit: counted, not written; the output holds the first <see cref="MaxSize"/>).</summary>
    public long Size { get; private set; }

    /// <summary>The decoded size went over <see cref="MaxSize"/>; nothing more is written.</summary>
    public bool TooLarge { get; private set; }

    /// <summary>A CR without LF or an LF without CR was seen (RFC 5321 2.3.8).</summary>
    public bool SawBareLineEnding { get; private set; }

    public long MaxSize { get; } = maxSize;

    private enum State
    {
        /// <summary>At the start of a line.</summary>
        LineStart,
        /// <summary>A line started with a dot, which was removed.</summary>
        AfterDot,
        /// <summary>A line that so far is "." then CR.</summary>
        DotCr,
        /// <summary>Inside a line.</summary>
        Text,
        /// <summary>Inside a line, just after a CR.</summary>
        Cr,
    }

    /// <summary>Consumes from reader, writes message bytes to output (none once TooLarge). Complete: reader is just past the final ".\r\n".</summary>
    public DataStatus Decode(ref SequenceReader<byte> reader, IBufferWriter<byte> output)
    {
        if (_complete) throw new InvalidOperationException("The end of data was already decoded.");
        while (!reader.End)
        {
            ReadOnlySpan<byte> span = reader.UnreadSpan;
            int used = DecodeSpan(span, output);
            reader.Advance(used);
            if (_complete) return DataStatus.Complete;
        }
        return DataStatus.NeedMore;
    }

    /// <summary>Decodes as much of <paramref name="span"/> as possible; returns the bytes used (fewer only at the end of data).</summary>
    private int DecodeSpan(ReadOnlySpan<byte> span, IBufferWriter<byte> output)
    {
        int pos = 0;
        while (pos < span.Length)
        {
            byte b = span[pos];
            switch (_state)
            {
                case State.LineStart:
                    if (b == (byte)'.')
                    {
                        // RFC 5321 4.5.2: the first dot of a line is removed.
                        _state = State.AfterDot;
                        pos++;
                    }
                    else
                    {
                        _state = State.Text;
                    }
                    break;

                case State.AfterDot:
                    if (b == (byte)'\r')
                    {
                        _state = State.DotCr;
                        pos++;
                    }
                    else
                    {
                        _state = State.Text;
                    }
                    break;

                case State.DotCr:
                    if (b == (byte)'\n')
                    {
                        pos++;
                        if (!_lineAfterBareLf)
                        {
                            _complete = true;
                            return pos;
                        }
                        // "\n.\r\n" is not the end of data, only a line holding nothing after its dot.
                        Write(CrLf, output);
                        _lineAfterBareLf = false;
                        _state = State.LineStart;
                    }
                    else
                    {
                        BareCr(output);
                    }
                    break;

                case State.Cr:
                    if (b == (byte)'\n')
                    {
                        pos++;
                        Write(CrLf, output);
                        _lineAfterBareLf = false;
                        _state = State.LineStart;
                    }
                    else
                    {
                        BareCr(output);
                    }
                    break;

                default:
                    pos = DecodeText(span, pos, output);
                    break;
            }
        }
        return pos;
    }

    /// <summary>
    /// Copies a run of text in one write: through any CRLF not followed by a dot, up to the first
    /// CR or LF that needs the state machine.
    /// </summary>
    private int DecodeText(ReadOnlySpan<byte> span, int pos, IBufferWriter<byte> output)
    {
        int start = pos;
        int stop;
        while (true)
        {
            int found = span[pos..].IndexOfAny((byte)'\r', (byte)'\n');
            if (found < 0)
            {
                Write(span[start..], output);
                return span.Length;
            }
            stop = pos + found;
            if (span[stop] == (byte)'\r' && stop + 2 < span.Length && span[stop + 1] == (byte)'\n' && span[stop + 2] != (byte)'.')
            {
                pos = stop + 2;
                _lineAfterBareLf = false;
                continue;
            }
            break;
        }

        Write(span[start..stop], output);
        if (span[stop] == (byte)'\r')
        {
            _state = State.Cr;
        }
        else
        {
            SawBareLineEnding = true;
            Write("\n"u8, output);
            _lineAfterBareLf = true;
            _state = State.LineStart;
        }
        return stop + 1;
    }

    /// <summary>A CR not followed by LF: it is message data; the byte after it is decoded as text.</summary>
    private void BareCr(IBufferWriter<byte> output)
    {
        SawBareLineEnding = true;
        Write("\r"u8, output);
        _state = State.Text;
    }

    private void Write(ReadOnlySpan<byte> bytes, IBufferWriter<byte> output)
    {
        if (bytes.IsEmpty) return;
        long before = Size;
        Size += bytes.Length;
        if (TooLarge) return;
        if (Size > MaxSize)
        {
            // The output ends at exactly MaxSize bytes however the input was split.
            TooLarge = true;
            bytes = bytes[..(int)(MaxSize - before)];
        }
        output.Write(bytes);
    }
}

/// <summary>Finds bare CR or LF across the chunks of a BDAT transfer (line endings must be CRLF unless BINARYMIME).</summary>
public struct BareLineEndingDetector
{
    private bool _found;
    private bool _pendingCr;

    /// <summary>A CR without LF or an LF without CR was seen.</summary>
    public readonly bool Found => _found;

    /// <summary>Inspects the next chunk; a CRLF split between chunks is not bare.</summary>
    public void Inspect(ReadOnlySequence<byte> chunk)
    {
        foreach (ReadOnlyMemory<byte> segment in chunk)
        {
            if (_found) return;
            Inspect(segment.Span);
        }
    }

    /// <summary>Call at the end: a trailing lone CR is bare.</summary>
    public void Complete()
    {
        if (_pendingCr) _found = true;
        _pendingCr = false;
    }

    private void Inspect(ReadOnlySpan<byte> span)
    {
        if (span.IsEmpty) return;
        int pos = 0;
        if (_pendingCr)
        {
            _pendingCr = false;
            if (span[0] != (byte)'\n')
            {
                _found = true;
                return;
            }
            pos = 1;
        }
        while (pos < span.Length)
        {
            int found = span[pos..].IndexOfAny((byte)'\r', (byte)'\n');
            if (found < 0) return;
            int at = pos + found;
            if (span[at] == (byte)'\n')
            {
                _found = true;
                return;
            }
            if (at + 1 == span.Length)
            {
                _pendingCr = true;
                return;
            }
            if (span[at + 1] != (byte)'\n')
            {
                _found = true;
                return;
            }
            pos = at + 2;
        }
    }
}

/// <summary>Dot-stuffing for sending (the client side of RFC 5321 4.5.2).</summary>
/// <remarks>
/// A line starts after any LF, bare or not, so a dot after a bare LF is doubled too: a receiver
/// that takes a bare LF for a line ending never sees a lone dot line. After <see cref="Complete"/>
/// the stuffer is ready for the next message.
/// </remarks>
public sealed class DotStuffer
{
    private bool _atLineStart = true;
    private bool _empty = true;
    private bool _lastWasCr;
    private bool _endsWithCrLf;

    /// <summary>Writes the stuffed form of a chunk of message bytes, tracking line starts across calls.</summary>
    public void Write(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output)
    {
        if (chunk.IsEmpty) return;
        int start = 0;
        if (_atLineStart && chunk[0] == (byte)'.')
        {
            output.Write("."u8);
        }
        int pos = 0;
        while (true)
        {
            int found = chunk[pos..].IndexOf("\n."u8);
            if (found < 0) break;
            int afterDot = pos + found + 2;
            output.Write(chunk[start..afterDot]);
            output.Write("."u8);
            start = pos = afterDot;
        }
        output.Write(chunk[start..]);

        _endsWithCrLf = chunk.Length >= 2
            ? chunk[^2] == (byte)'\r' && chunk[^1] == (byte)'\n'
            : _lastWasCr && chunk[0] == (byte)'\n';
        _lastWasCr = chunk[^1] == (byte)'\r';
        _atLineStart = chunk[^1] == (byte)'\n';
        _empty = false;
    }

    /// <summary>Writes the end of data: a CRLF first when the message did not end with one, then ".\r\n".</summary>
    public void Complete(IBufferWriter<byte> output)
    {
        output.Write(_empty || _endsWithCrLf ? ".\r\n"u8 : "\r\n.\r\n"u8);
        _atLineStart = true;
        _empty = true;
        _lastWasCr = false;
        _endsWithCrLf = false;
    }
}

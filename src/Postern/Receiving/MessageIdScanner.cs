using System.Text;

namespace Postern.Receiving;

/// <summary>
/// Finds the Message-ID header (RFC 5322 3.6.4) in message data as it streams by, chunk by chunk,
/// without holding the message: lines of other headers are skipped with a search for the line
/// end, only the Message-ID field is kept (bounded, folded lines joined), and nothing is looked at
/// once the header section ends at its empty line or passes <see cref="MaxHeaderBytes"/>.
/// </summary>
internal sealed class MessageIdScanner
{
    /// <summary>As Postfix header_size_limit, 102400: a header section longer than this is not searched further.</summary>
    public const int MaxHeaderBytes = 102_400;

    /// <summary>RFC 5322 2.1.1: a line is at most 998 characters; a folded field may span a few.</summary>
    private const int MaxFieldBytes = 2048;

    private static ReadOnlySpan<byte> FieldName => "message-id:"u8;

    private enum State { LineStart, Name, Skip, Value, ValueLineStart, Done }

    private State _state = State.LineStart;
    private int _matched;
    private long _seen;
    private byte[]? _value;
    private int _valueLength;
    private string? _messageId;

    /// <summary>The Message-ID without angle brackets; null when there was none (or not yet).</summary>
    public string? MessageId => _messageId ?? (_state == State.Value || _state == State.ValueLineStart ? Finish() : null);

    public bool IsDone => _state == State.Done;

    public void Inspect(ReadOnlySpan<byte> data)
    {
        if (_state == State.Done) return;
        if (_seen + data.Length > MaxHeaderBytes) data = data[..(int)Math.Max(0, MaxHeaderBytes - _seen)];
        _seen += data.Length;
        int i = 0;
        while (i < data.Length && _state != State.Done)
        {
            byte b = data[i];
            switch (_state)
            {
                case State.LineStart:
                    if (b is (byte)'\r' or (byte)'\n')
                    {
                        // The empty line: the body starts (RFC 5322 2.1).
                        if (b == '\n') _state = State.Done;
                        i++;
                        break;
                    }
                    _matched = 0;
                    _state = State.Name;
                    break;
                case State.Name:
                    if (_matched < FieldName.Length && (b | 0x20) == FieldName[_matched] && _messageId is null)
                    {
                        _matched++;
                        i++;
                        if (_matched == FieldName.Length)
                        {
                            _value ??= new byte[MaxFieldBytes];
                            _valueLength = 0;
                            _state = State.Value;
                        }
                        break;
                    }
                    _state = State.Skip;
                    break;
                case State.Skip:
                    int end = data[i..].IndexOf((byte)'\n');
                    if (end < 0)
                    {
                        i = data.Length;
                        break;
                    }
                    i += end + 1;
                    _state = State.LineStart;
                    break;
                case State.Value:
                    if (b == '\n')
                    {
                        _state = State.ValueLineStart;
                    }
                    else if (b != '\r' && _valueLength < MaxFieldBytes)
                    {
                        _value![_valueLength++] = b;
                    }
                    i++;
                    break;
                case State.ValueLineStart:
                    if (b is (byte)' ' or (byte)'\t')
                    {
                        // A folded line continues the field (RFC 5322 2.2.3).
                        _state = State.Value;
                        break;
                    }
                    _messageId = Finish();
                    _state = State.LineStart;
                    break;
            }
        }
        if (_seen >= MaxHeaderBytes) _state = State.Done;
    }

    private string? Finish()
    {
        if (_value is null) return null;
        string text = Encoding.UTF8.GetString(_value, 0, _valueLength).Trim();
        int open = text.IndexOf('<', StringComparison.Ordinal);
        int close = open < 0 ? -1 : text.IndexOf('>', open + 1);
        if (open >= 0 && close > open) text = text[(open + 1)..close];
        text = text.Trim();
        return text.Length == 0 ? null : text;
    }
}

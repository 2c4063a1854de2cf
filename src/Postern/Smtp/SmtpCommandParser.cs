using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Postern.Smtp;

/// <summary>Splits a command line into its verb and argument (RFC 5321 4.1.1).</summary>
public static class SmtpCommandParser
{
    private const int MaxVerbText = 16;

    private static readonly SmtpReply InvalidUtf8 = new(500, "5.5.2", "Syntax error: invalid UTF-8");
    private static readonly SmtpReply ControlCharacter = new(500, "5.5.2", "Syntax error: control character in command");

    private static readonly (string Text, SmtpVerb Verb)[] Verbs =
    [
        ("HELO", SmtpVerb.Helo), ("EHLO", SmtpVerb.Ehlo), ("MAIL", SmtpVerb.Mail), ("RCPT", SmtpVerb.Rcpt),
        ("DATA", SmtpVerb.Data), ("BDAT", SmtpVerb.Bdat), ("RSET", SmtpVerb.Rset), ("NOOP", SmtpVerb.Noop),
        ("QUIT", SmtpVerb.Quit), ("VRFY", SmtpVerb.Vrfy), ("EXPN", SmtpVerb.Expn), ("HELP", SmtpVerb.Help),
        ("STARTTLS", SmtpVerb.StartTls), ("AUTH", SmtpVerb.Auth),
    ];

    /// <summary>Splits a line (without CRLF). Fails with 500 5.5.2 for invalid UTF-8 or control characters.</summary>
    /// <remarks>C0 controls other than TAB are refused: a NUL or a stray CR has no business in a command.</remarks>
    public static bool TryParse(ReadOnlySequence<byte> line, out SmtpCommand command, out SmtpReply? error)
    {
        command = default;
        error = null;
        byte[]? rented = null;
        int length = checked((int)line.Length);
        ReadOnlySpan<byte> bytes;
        if (line.IsSingleSegment)
        {
            bytes = line.FirstSpan;
        }
        else
        {
            rented = ArrayPool<byte>.Shared.Rent(length);
            line.CopyTo(rented);
            bytes = rented.AsSpan(0, length);
        }

        try
        {
            if (ContainsControl(bytes))
            {
                error = ControlCharacter;
                return false;
            }
            if (!Utf8.IsValid(bytes))
            {
                error = InvalidUtf8;
                return false;
            }
            command = Split(bytes);
            return true;
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool ContainsControl(ReadOnlySpan<byte> bytes) =>
        bytes.IndexOfAnyInRange((byte)0x00, (byte)0x08) >= 0 || bytes.IndexOfAnyInRange((byte)0x0A, (byte)0x1F) >= 0;

    private static SmtpCommand Split(ReadOnlySpan<byte> bytes)
    {
        int space = bytes.IndexOf((byte)' ');
        ReadOnlySpan<byte> verb = space < 0 ? bytes : bytes[..space];
        ReadOnlySpan<byte> argument = space < 0 ? [] : bytes[(space + 1)..].TrimEnd((byte)' ');

        SmtpVerb known = SmtpVerb.Unknown;
        string? verbText = null;
        foreach (var (text, value) in Verbs)
        {
            if (Ascii.EqualsIgnoreCase(verb, text))
            {
                known = value;
                // Reuse the literal for the usual upper-case spelling.
                if (Ascii.Equals(verb, text)) verbText = text;
                break;
            }
        }
        verbText ??= DecodeVerbText(verb);
        string argumentText = argument.IsEmpty ? "" : Encoding.UTF8.GetString(argument);
        return new SmtpCommand(known, verbText, argumentText);
    }

    private static string DecodeVerbText(ReadOnlySpan<byte> verb)
    {
        string text = Encoding.UTF8.GetString(verb[..Math.Min(verb.Length, MaxVerbText * 4)]);
        if (text.Length <= MaxVerbText) return text;
        int cut = MaxVerbText;
        if (char.IsHighSurrogate(text[cut - 1])) cut--;
        return text[..cut];
    }
}

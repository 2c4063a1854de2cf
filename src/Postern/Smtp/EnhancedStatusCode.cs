using System.Diagnostics.CodeAnalysis;

namespace Postern.Smtp;

/// <summary>An RFC 3463 enhanced status code: class.subject.detail, e.g. 5.7.1.</summary>
public readonly record struct EnhancedStatusCode(int Class, int Subject, int Detail)
{
    /// <summary>Parses "c.s.d" (class 2, 4 or 5; subject and detail 0..999).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, [NotNullWhen(true)] out EnhancedStatusCode? code)
    {
        code = null;
        int first = text.IndexOf('.');
        if (first <= 0) return false;
        int second = text[(first + 1)..].IndexOf('.');
        if (second <= 0) return false;
        second += first + 1;
        if (!int.TryParse(text[..first], System.Globalization.NumberStyles.None, null, out int c) || c is not (2 or 4 or 5)) return false;
        if (!TryParseComponent(text[(first + 1)..second], out int s)) return false;
        if (!TryParseComponent(text[(second + 1)..], out int d)) return false;
        code = new EnhancedStatusCode(c, s, d);
        return true;
    }

    public static EnhancedStatusCode Parse(string text) =>
        TryParse(text, out var code) ? code.Value : throw new FormatException($"'{text}' is not an enhanced status code.");

    private static bool TryParseComponent(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        if (text.Length is 0 or > 3) return false;
        return int.TryParse(text, System.Globalization.NumberStyles.None, null, out value);
    }

    public override string ToString() => $"{Class}.{Subject}.{Detail}";
}

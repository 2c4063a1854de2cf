using System.Text;

namespace Postern.Smtp;

/// <summary>RFC 3461 section 4 xtext: printable ASCII except "+" and "=", other octets as "+XX".</summary>
public static class XText
{
    /// <summary>
    /// Decodes xtext. False for characters outside "!".."~", for a raw "+" or "=", for "+" not followed
    /// by two hex digits, or when the decoded octets are not UTF-8. Lower-case hex digits are accepted.
    /// </summary>
    public static bool TryDecode(string xtext, out string decoded)
    {
        decoded = "";
        if (xtext.IndexOf('+') < 0)
        {
            foreach (char c in xtext)
            {
                if (!IsXChar(c)) return false;
            }
            decoded = xtext;
            return true;
        }

        var bytes = new byte[xtext.Length];
        int count = 0;
        for (int i = 0; i < xtext.Length; i++)
        {
            char c = xtext[i];
            if (c == '+')
            {
                if (i + 2 >= xtext.Length) return false;
                int high = HexValue(xtext[i + 1]);
                int low = HexValue(xtext[i + 2]);
                if (high < 0 || low < 0) return false;
                bytes[count++] = (byte)(high << 4 | low);
                i += 2;
            }
            else if (IsXChar(c))
            {
                bytes[count++] = (byte)c;
            }
            else
            {
                return false;
            }
        }
        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, count);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        return true;
    }

    /// <summary>Encodes the UTF-8 octets of <paramref name="text"/> as xtext, with upper-case hex.</summary>
    public static string Encode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var builder = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            if (IsXChar((char)b))
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('+').Append("0123456789ABCDEF"[b >> 4]).Append("0123456789ABCDEF"[b & 0xF]);
            }
        }
        return builder.ToString();
    }

    private static bool IsXChar(char c) => c is >= '!' and <= '~' and not '+' and not '=';

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'F' => c - 'A' + 10,
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => -1,
    };
}

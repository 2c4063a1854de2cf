using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Postern.Spool;

namespace Postern.Smtp;

/// <summary>
/// Parses the arguments of MAIL and RCPT: the path in angle brackets (RFC 5321 4.1.2) and the
/// ESMTP parameters the gateway supports (RFC 1870 SIZE, RFC 6152 / RFC 3030 BODY, RFC 6531
/// SMTPUTF8, RFC 3461 RET, ENVID, NOTIFY, ORCPT).
/// </summary>
public static class SmtpPathParser
{
    private const int MaxLocalPartOctets = 64;      // RFC 5321 4.5.3.1.1
    private const int MaxDomainOctets = 255;        // RFC 5321 4.5.3.1.2
    private const int MaxPathOctets = 256;          // RFC 5321 4.5.3.1.3, brackets included
    private const int MaxLabelOctets = 63;          // RFC 1035 2.3.4
    private const int MaxEnvelopeIdLength = 100;    // RFC 3461 4.4
    private const int MaxOriginalRecipientLength = 500; // RFC 3461 4.2
    private const int MaxSizeDigits = 20;           // RFC 1870 size-value = 1*20DIGIT
    private const int MaxEchoedKeyword = 32;

    private static readonly EnhancedStatusCode InvalidParameter = new(5, 5, 4);

    private static readonly SmtpReply MailSyntax = new(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    private static readonly SmtpReply RcptSyntax = new(501, "5.5.4", "Syntax: RCPT TO:<address>");
    private static readonly SmtpReply BadSender = new(501, "5.1.7", "Bad sender address syntax");
    private static readonly SmtpReply BadRecipient = new(501, "5.1.3", "Bad recipient address syntax");
    private static readonly SmtpReply NonAsciiAddress = new(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
    private static readonly SmtpReply BadParameterSyntax = new(555, "5.5.4", "Invalid parameter syntax");

    /// <summary>
    /// Parses the argument of MAIL ("FROM:&lt;a@b&gt; SIZE=10 BODY=8BITMIME ...").
    /// Errors: 501 5.5.4 syntax, 501 5.1.7 bad sender address, 555 5.5.4 unknown parameter or value.
    /// Non-ASCII in the address is allowed only with SMTPUTF8 (else 553 5.6.7).
    /// </summary>
    /// <remarks>A space after the colon is tolerated ("FROM: &lt;a@b&gt;"), as Postfix does. A SIZE
    /// over <see cref="long.MaxValue"/> reads as <see cref="long.MaxValue"/>, so that the size limit refuses it.</remarks>
    public static bool TryParseMailFrom(string argument, out MailFromCommand? command, out SmtpReply? error)
    {
        command = null;
        if (!TrySplitPath(argument, "FROM:", out ReadOnlySpan<char> path, out ReadOnlySpan<char> parameters))
        {
            error = MailSyntax;
            return false;
        }
        if (!TryParseAddress(path, isRecipient: false, out string? sender))
        {
            error = BadSender;
            return false;
        }

        long? size = null;
        BodyType body = BodyType.Unspecified;
        bool smtpUtf8 = false;
        DsnReturn ret = DsnReturn.Unspecified;
        string? envelopeId = null;
        MailParameters seen = MailParameters.None;
        foreach (Parameter parameter in new ParameterEnumerator(parameters))
        {
            if (!parameter.IsWellFormed)
            {
                error = BadParameterSyntax;
                return false;
            }
            ReadOnlySpan<char> keyword = parameter.Keyword;
            ReadOnlySpan<char> value = parameter.Value;
            MailParameters current;
            if (keyword.Equals("SIZE", StringComparison.OrdinalIgnoreCase))
            {
                current = MailParameters.Size;
                if (!TryParseSize(value, out long parsed)) return Invalid("SIZE", out error);
                size = parsed;
            }
            else if (keyword.Equals("BODY", StringComparison.OrdinalIgnoreCase))
            {
                current = MailParameters.Body;
                body = value.Equals("7BIT", StringComparison.OrdinalIgnoreCase) ? BodyType.SevenBit
                    : value.Equals("8BITMIME", StringComparison.OrdinalIgnoreCase) ? BodyType.EightBitMime
                    : value.Equals("BINARYMIME", StringComparison.OrdinalIgnoreCase) ? BodyType.BinaryMime
                    : BodyType.Unspecified;
                if (body == BodyType.Unspecified) return Invalid("BODY", out error);
            }
            else if (keyword.Equals("SMTPUTF8", StringComparison.OrdinalIgnoreCase))
            {
                current = MailParameters.SmtpUtf8;
                if (parameter.HasValue) return Invalid("SMTPUTF8", out error);
                smtpUtf8 = true;
            }
            else if (keyword.Equals("RET", StringComparison.OrdinalIgnoreCase))
            {
                current = MailParameters.Ret;
                ret = value.Equals("FULL", StringComparison.OrdinalIgnoreCase) ? DsnReturn.Full
                    : value.Equals("HDRS", StringComparison.OrdinalIgnoreCase) ? DsnReturn.Headers
                    : DsnReturn.Unspecified;
                if (ret == DsnReturn.Unspecified) return Invalid("RET", out error);
            }
            else if (keyword.Equals("ENVID", StringComparison.OrdinalIgnoreCase))
            {
                current = MailParameters.EnvId;
                if (value.Length > MaxEnvelopeIdLength
                    || !XText.TryDecode(value.ToString(), out string decoded) || decoded.Length == 0 || HasControl(decoded))
                {
                    return Invalid("ENVID", out error);
                }
                envelopeId = decoded;
            }
            else
            {
                return Unsupported(keyword, out error);
            }
            if ((seen & current) != 0) return Duplicate(keyword, out error);
            seen |= current;
        }

        if (!smtpUtf8 && !IsAscii(sender))
        {
            error = NonAsciiAddress;
            return false;
        }
        command = new MailFromCommand
        {
            Sender = sender,
            Size = size,
            Body = body,
            SmtpUtf8 = smtpUtf8,
            Return = ret,
            EnvelopeId = envelopeId,
        };
        error = null;
        return true;
    }

    /// <summary>
    /// Parses the argument of RCPT ("TO:&lt;a@b&gt; NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b").
    /// <paramref name="smtpUtf8"/> tells whether MAIL carried SMTPUTF8 (non-ASCII allowed).
    /// Errors: 501 5.5.4 syntax, 501 5.1.3 bad recipient address, 555 5.5.4 unknown parameter or value.
    /// </summary>
    /// <remarks>"&lt;postmaster&gt;" in any case yields "postmaster". The addr-type of ORCPT is given in lower case.</remarks>
    public static bool TryParseRcptTo(string argument, bool smtpUtf8, out RcptToCommand? command, out SmtpReply? error)
    {
        command = null;
        if (!TrySplitPath(argument, "TO:", out ReadOnlySpan<char> path, out ReadOnlySpan<char> parameters))
        {
            error = RcptSyntax;
            return false;
        }
        if (!TryParseAddress(path, isRecipient: true, out string? recipient))
        {
            error = BadRecipient;
            return false;
        }

        DsnNotify notify = DsnNotify.None;
        string? originalRecipient = null;
        bool seenNotify = false, seenOrcpt = false;
        foreach (Parameter parameter in new ParameterEnumerator(parameters))
        {
            if (!parameter.IsWellFormed)
            {
                error = BadParameterSyntax;
                return false;
            }
            ReadOnlySpan<char> keyword = parameter.Keyword;
            ReadOnlySpan<char> value = parameter.Value;
            if (keyword.Equals("NOTIFY", StringComparison.OrdinalIgnoreCase))
            {
                if (seenNotify) return Duplicate(keyword, out error);
                seenNotify = true;
                if (!TryParseNotify(value, out notify)) return Invalid("NOTIFY", out error);
            }
            else if (keyword.Equals("ORCPT", StringComparison.OrdinalIgnoreCase))
            {
                if (seenOrcpt) return Duplicate(keyword, out error);
                seenOrcpt = true;
                if (!TryParseOriginalRecipient(value, smtpUtf8, out originalRecipient)) return Invalid("ORCPT", out error);
            }
            else
            {
                return Unsupported(keyword, out error);
            }
        }

        if (!smtpUtf8 && !IsAscii(recipient))
        {
            error = NonAsciiAddress;
            return false;
        }
        command = new RcptToCommand { Recipient = recipient, Notify = notify, OriginalRecipient = originalRecipient };
        error = null;
        return true;
    }

    /// <summary>The domain of "local@domain" (after the last '@'), or null for e.g. "postmaster".</summary>
    public static string? DomainOf(string address)
    {
        int at = address.LastIndexOf('@');
        return at < 0 ? null : address[(at + 1)..];
    }

    [Flags]
    private enum MailParameters { None = 0, Size = 1, Body = 2, SmtpUtf8 = 4, Ret = 8, EnvId = 16 }

    private static bool Invalid(string keyword, out SmtpReply? error)
    {
        error = new SmtpReply(555, InvalidParameter, [$"Invalid {keyword} value"]);
        return false;
    }

    private static bool Unsupported(ReadOnlySpan<char> keyword, out SmtpReply? error)
    {
        string name = keyword.Length > MaxEchoedKeyword ? string.Concat(keyword[..MaxEchoedKeyword], "...") : keyword.ToString();
        error = new SmtpReply(555, InvalidParameter, [$"Unsupported parameter: {name}"]);
        return false;
    }

    private static bool Duplicate(ReadOnlySpan<char> keyword, out SmtpReply? error)
    {
        error = new SmtpReply(555, InvalidParameter, [$"Duplicate parameter: {keyword.ToString().ToUpperInvariant()}"]);
        return false;
    }

    /// <summary>
    /// Splits "FROM:&lt;path&gt; params" into the path between the brackets and the parameters.
    /// The closing bracket is the first one outside a quoted local part.
    /// </summary>
    private static bool TrySplitPath(string argument, string prefix, out ReadOnlySpan<char> path, out ReadOnlySpan<char> parameters)
    {
        path = default;
        parameters = default;
        ReadOnlySpan<char> text = argument;
        if (!text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) return false;
        text = text[prefix.Length..].TrimStart(' ');
        if (text.IsEmpty || text[0] != '<') return false;

        bool quoted = false;
        int close = -1;
        for (int i = 1; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '\\') i++;
                else if (c == '"') quoted = false;
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '>')
            {
                close = i;
                break;
            }
        }
        if (close < 0) return false;
        if (close + 1 < text.Length && text[close + 1] != ' ') return false;
        path = text[1..close];
        parameters = close + 1 < text.Length ? text[(close + 2)..] : default;
        return true;
    }

    private static bool TryParseAddress(ReadOnlySpan<char> path, bool isRecipient, out string address)
    {
        address = "";
        if (Encoding.UTF8.GetByteCount(path) + 2 > MaxPathOctets) return false;
        if (path.IsEmpty) return !isRecipient;   // RFC 5321 4.5.5: the null reverse-path
        // RFC 5321 4.1.1.3: "postmaster" without a domain is a valid recipient.
        if (isRecipient && path.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            address = "postmaster";
            return true;
        }
        if (path[0] == '@')
        {
            // RFC 5321 4.1.2 A-d-l, and C.: a source route is accepted and ignored.
            int end = SkipSourceRoute(path);
            if (end < 0) return false;
            path = path[end..];
        }
        if (!TryParseMailbox(path)) return false;
        address = path.ToString();
        return true;
    }

    /// <summary>Returns the index just past the ':' ending "@d1,@d2:", or -1.</summary>
    private static int SkipSourceRoute(ReadOnlySpan<char> path)
    {
        int pos = 0;
        while (true)
        {
            if (pos >= path.Length || path[pos] != '@') return -1;
            pos++;
            int end;
            if (pos < path.Length && path[pos] == '[')
            {
                int close = path[pos..].IndexOf(']');
                if (close < 0) return -1;
                end = pos + close + 1;
            }
            else
            {
                int stop = path[pos..].IndexOfAny(',', ':');
                if (stop < 0) return -1;
                end = pos + stop;
            }
            if (!IsDomain(path[pos..end])) return -1;
            if (end >= path.Length) return -1;
            if (path[end] == ':') return end + 1;
            if (path[end] != ',') return -1;
            pos = end + 1;
        }
    }

    private static bool TryParseMailbox(ReadOnlySpan<char> mailbox)
    {
        int at;
        if (mailbox.IsEmpty) return false;
        if (mailbox[0] == '"')
        {
            int close = QuotedStringEnd(mailbox);
            if (close < 0) return false;
            at = close + 1;
        }
        else
        {
            at = mailbox.LastIndexOf('@');
            if (at < 0 || !IsDotString(mailbox[..at])) return false;
        }
        if (at >= mailbox.Length || mailbox[at] != '@') return false;
        if (Encoding.UTF8.GetByteCount(mailbox[..at]) > MaxLocalPartOctets) return false;
        return IsDomain(mailbox[(at + 1)..]);
    }

    /// <summary>Index of the closing quote of a quoted-string (RFC 5321 4.1.2), or -1.</summary>
    private static int QuotedStringEnd(ReadOnlySpan<char> text)
    {
        for (int i = 1; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '"') return i;
            if (c == '\\')
            {
                // quoted-pairSMTP = "\" %d32-126
                if (++i >= text.Length || text[i] is < ' ' or > '~') return -1;
            }
            else if (!(c is >= ' ' and <= '~' || c >= 0x80))
            {
                return -1;
            }
        }
        return -1;
    }

    private static bool IsDotString(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty || text[0] == '.' || text[^1] == '.') return false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '.')
            {
                if (text[i - 1] == '.') return false;
            }
            else if (!IsAText(c))
            {
                return false;
            }
        }
        return true;
    }

    // RFC 5322 3.2.3 atext, with RFC 6531 3.3 UTF8-non-ascii.
    private static bool IsAText(char c) =>
        char.IsAsciiLetterOrDigit(c) || c >= 0x80 || "!#$%&'*+-/=?^_`{|}~".Contains(c);

    private static bool IsDomain(ReadOnlySpan<char> domain)
    {
        if (domain.IsEmpty) return false;
        if (domain[0] == '[') return IsAddressLiteral(domain);
        if (Encoding.UTF8.GetByteCount(domain) > MaxDomainOctets) return false;
        foreach (Range range in domain.Split('.'))
        {
            if (!IsLabel(domain[range])) return false;
        }
        return true;
    }

    /// <summary>An LDH label (RFC 5321 4.1.2 sub-domain) or, for RFC 6531, a U-label.</summary>
    private static bool IsLabel(ReadOnlySpan<char> label)
    {
        if (label.IsEmpty || label[0] == '-' || label[^1] == '-') return false;
        bool ascii = true;
        foreach (char c in label)
        {
            if (char.IsAsciiLetterOrDigit(c) || c == '-') continue;
            if (c < 0x80) return false;
            ascii = false;
            if (!IsULabelChar(c)) return false;
        }
        return !ascii || label.Length <= MaxLabelOctets;
    }

    private static bool IsULabelChar(char c)
    {
        if (char.IsSurrogate(c)) return true;
        return CharUnicodeInfo.GetUnicodeCategory(c) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
                or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber => true,
            _ => false,
        };
    }

    /// <summary>RFC 5321 4.1.3: [IPv4] or [IPv6:...]; general literals are refused.</summary>
    private static bool IsAddressLiteral(ReadOnlySpan<char> literal)
    {
        if (literal.Length < 3 || literal[0] != '[' || literal[^1] != ']') return false;
        ReadOnlySpan<char> inner = literal[1..^1];
        if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
        {
            ReadOnlySpan<char> v6 = inner[5..];
            foreach (char c in v6)
            {
                if (!(char.IsAsciiHexDigit(c) || c is ':' or '.')) return false;
            }
            return IPAddress.TryParse(v6, out IPAddress? address) && address.AddressFamily == AddressFamily.InterNetworkV6;
        }
        return IsDottedQuad(inner);
    }

    private static bool IsDottedQuad(ReadOnlySpan<char> text)
    {
        int parts = 0;
        foreach (Range range in text.Split('.'))
        {
            ReadOnlySpan<char> part = text[range];
            if (++parts > 4 || part.Length is 0 or > 3) return false;
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value > 255) return false;
        }
        return parts == 4 && IPAddress.TryParse(text, out IPAddress? address) && address.AddressFamily == AddressFamily.InterNetwork;
    }

    // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    private static bool IsKeyword(ReadOnlySpan<char> keyword)
    {
        if (keyword.IsEmpty || !char.IsAsciiLetterOrDigit(keyword[0])) return false;
        foreach (char c in keyword)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-')) return false;
        }
        return true;
    }

    // esmtp-value = 1*(%d33-60 / %d62-126), with RFC 6531 UTF8-non-ascii
    private static bool IsValue(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty) return false;
        foreach (char c in value)
        {
            if (!(c is >= '!' and <= '~' and not '=' || c >= 0x80)) return false;
        }
        return true;
    }

    private static bool TryParseSize(ReadOnlySpan<char> value, out long size)
    {
        size = 0;
        if (value.IsEmpty || value.Length > MaxSizeDigits) return false;
        foreach (char c in value)
        {
            if (!char.IsAsciiDigit(c)) return false;
        }
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out size)) size = long.MaxValue;
        return true;
    }

    private static bool TryParseNotify(ReadOnlySpan<char> value, out DsnNotify notify)
    {
        notify = DsnNotify.None;
        if (value.IsEmpty) return false;
        // RFC 3461 4.1: "NEVER" alone, or a list of SUCCESS, FAILURE and DELAY.
        if (value.Equals("NEVER", StringComparison.OrdinalIgnoreCase))
        {
            notify = DsnNotify.Never;
            return true;
        }
        foreach (Range range in value.Split(','))
        {
            ReadOnlySpan<char> item = value[range];
            if (item.Equals("SUCCESS", StringComparison.OrdinalIgnoreCase)) notify |= DsnNotify.Success;
            else if (item.Equals("FAILURE", StringComparison.OrdinalIgnoreCase)) notify |= DsnNotify.Failure;
            else if (item.Equals("DELAY", StringComparison.OrdinalIgnoreCase)) notify |= DsnNotify.Delay;
            else return false;
        }
        return true;
    }

    private static bool TryParseOriginalRecipient(ReadOnlySpan<char> value, bool smtpUtf8, out string? originalRecipient)
    {
        originalRecipient = null;
        if (value.IsEmpty || value.Length > MaxOriginalRecipientLength) return false;
        int semicolon = value.IndexOf(';');
        if (semicolon <= 0) return false;
        ReadOnlySpan<char> type = value[..semicolon];
        ReadOnlySpan<char> encoded = value[(semicolon + 1)..];
        string? decoded;
        string typeName;
        if (type.Equals("rfc822", StringComparison.OrdinalIgnoreCase))
        {
            typeName = "rfc822";
            if (!XText.TryDecode(encoded.ToString(), out string text)) return false;
            decoded = text;
        }
        else if (type.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            typeName = "utf-8";
            if (!TryDecodeUtf8AddrXText(encoded, smtpUtf8, out decoded)) return false;
        }
        else
        {
            return false;
        }
        if (decoded.Length == 0 || HasControl(decoded)) return false;
        originalRecipient = string.Concat(typeName, ";", decoded);
        return true;
    }

    /// <summary>
    /// RFC 6533 3: utf-8-addr-xtext (printable ASCII but "+", "=" and "\", and "\x{HEX}"), or with
    /// SMTPUTF8 utf-8-addr-unitext, which also allows UTF-8 as is.
    /// </summary>
    private static bool TryDecodeUtf8AddrXText(ReadOnlySpan<char> text, bool smtpUtf8, out string decoded)
    {
        decoded = "";
        var builder = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\\')
            {
                if (i + 3 >= text.Length || text[i + 1] != 'x' || text[i + 2] != '{') return false;
                int close = text[(i + 3)..].IndexOf('}');
                if (close is < 1 or > 6) return false;
                ReadOnlySpan<char> hex = text.Slice(i + 3, close);
                if (!int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int scalar)
                    || !Rune.IsValid(scalar))
                {
                    return false;
                }
                builder.Append(new Rune(scalar).ToString());
                i += 3 + close;
            }
            else if (c is >= '!' and <= '~' and not '+' and not '=')
            {
                builder.Append(c);
            }
            else if (c >= 0x80 && smtpUtf8)
            {
                builder.Append(c);
            }
            else
            {
                return false;
            }
        }
        decoded = builder.ToString();
        return true;
    }

    private static bool HasControl(string text)
    {
        foreach (char c in text)
        {
            if (char.IsControl(c)) return true;
        }
        return false;
    }

    private static bool IsAscii(string text) => System.Text.Ascii.IsValid(text);

    /// <summary>One "KEY" or "KEY=value" of a MAIL or RCPT command.</summary>
    private readonly ref struct Parameter(ReadOnlySpan<char> keyword, ReadOnlySpan<char> value, bool hasValue)
    {
        public ReadOnlySpan<char> Keyword { get; } = keyword;
        public ReadOnlySpan<char> Value { get; } = value;
        public bool HasValue { get; } = hasValue;

        /// <summary>RFC 5321 4.1.2 esmtp-keyword, and esmtp-value when there is one.</summary>
        public bool IsWellFormed => IsKeyword(Keyword) && (!HasValue || IsValue(Value));
    }

    /// <summary>Walks "KEY=value KEY2" separated by one or more spaces without allocating.</summary>
    private ref struct ParameterEnumerator(ReadOnlySpan<char> text)
    {
        private ReadOnlySpan<char> _rest = text;

        public Parameter Current { get; private set; }

        public readonly ParameterEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            _rest = _rest.TrimStart(' ');
            if (_rest.IsEmpty) return false;
            int space = _rest.IndexOf(' ');
            ReadOnlySpan<char> token = space < 0 ? _rest : _rest[..space];
            _rest = space < 0 ? default : _rest[(space + 1)..];
            int equals = token.IndexOf('=');
            Current = equals < 0 ? new Parameter(token, default, false) : new Parameter(token[..equals], token[(equals + 1)..], true);
            return true;
        }
    }
}

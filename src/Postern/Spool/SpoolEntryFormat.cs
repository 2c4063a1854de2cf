using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Postern.Spool;

/// <summary>
/// The layout of one spool entry file, named by its queue id:
/// <code>
/// POSTERN-SPOOL 1 EEEEEEEEEE CCCCCCCCCCCCCCCCCCCC\n   header, 48 bytes of ASCII
/// {envelope as UTF-8 JSON}                           exactly E bytes
/// \n
/// message bytes                                      exactly C bytes, as received
/// </code>
/// "POSTERN-SPOOL" is the magic, "1" the format version, E and C are zero-padded decimal lengths
/// of the envelope JSON and the message. The file length is therefore exactly 48 + E + 1 + C.
/// The file is created in queue/ with C as dashes; C becomes digits just before the file is
/// fsynced at commit, so an entry with an unfinished header is never valid (<see cref="IsUnfinished"/>).
/// </summary>
internal static class SpoolEntryFormat
{
    public const int HeaderLength = 48;
    public const byte Version = (byte)'1';
    private const int MagicLength = 13;
    private const int EnvelopeDigits = 10;
    private const int ContentDigits = 20;
    private const int EnvelopeFieldOffset = MagicLength + 3;                      // after "MAGIC 1 "
    private const int ContentFieldOffset = EnvelopeFieldOffset + EnvelopeDigits + 1;

    // Large enough for any real envelope (thousands of recipients); bounds allocation on a bad file.
    private const long MaxEnvelopeLength = 64L * 1024 * 1024;

    private static ReadOnlySpan<byte> Magic => "POSTERN-SPOOL"u8;

    /// <summary>Writes the header; a null <paramref name="contentLength"/> marks an entry still being written.</summary>
    public static void WriteHeader(Span<byte> destination, int envelopeLength, long? contentLength)
    {
        Magic.CopyTo(destination);
        destination[MagicLength] = (byte)' ';
        destination[MagicLength + 1] = Version;
        destination[MagicLength + 2] = (byte)' ';
        Utf8Formatter.TryFormat(envelopeLength, destination.Slice(EnvelopeFieldOffset, EnvelopeDigits), out _, new StandardFormat('D', EnvelopeDigits));
        destination[ContentFieldOffset - 1] = (byte)' ';
        Span<byte> content = destination.Slice(ContentFieldOffset, ContentDigits);
        if (contentLength is long length)
        {
            Utf8Formatter.TryFormat(length, content, out _, new StandardFormat('D', ContentDigits));
        }
        else
        {
            content.Fill((byte)'-');
        }
        destination[HeaderLength - 1] = (byte)'\n';
    }

    /// <summary>
    /// True when <paramref name="header"/> (the first bytes of a file, up to <see cref="HeaderLength"/>)
    /// is that of an entry whose writer never committed: an empty file, a file cut inside the header
    /// after a correct start, or a well-formed header whose content length is still dashes.
    /// </summary>
    public static bool IsUnfinished(ReadOnlySpan<byte> header)
    {
        ReadOnlySpan<byte> start = "POSTERN-SPOOL 1 "u8;
        if (header.Length < HeaderLength)
        {
            int n = Math.Min(header.Length, start.Length);
            return header[..n].SequenceEqual(start[..n]);
        }
        return header.StartsWith(start)
            && TryParseDigits(header.Slice(EnvelopeFieldOffset, EnvelopeDigits), out _)
            && header[ContentFieldOffset - 1] == (byte)' '
            && !header.Slice(ContentFieldOffset, ContentDigits).ContainsAnyExcept((byte)'-')
            && header[HeaderLength - 1] == (byte)'\n';
    }

    /// <summary>Parses a header; <paramref name="error"/> says what is wrong when it returns false.</summary>
    public static bool TryParseHeader(ReadOnlySpan<byte> header, out int envelopeLength, out long contentLength, out string? error)
    {
        envelopeLength = 0;
        contentLength = 0;
        if (header.Length < HeaderLength)
        {
            error = "shorter than the header";
            return false;
        }
        if (!header.StartsWith(Magic) || header[MagicLength] != (byte)' ')
        {
            error = "bad magic";
            return false;
        }
        if (header[MagicLength + 1] != Version || header[MagicLength + 2] != (byte)' ')
        {
            error = "unsupported format version";
            return false;
        }
        if (!TryParseDigits(header.Slice(EnvelopeFieldOffset, EnvelopeDigits), out long envelope)
            || header[ContentFieldOffset - 1] != (byte)' '
            || !TryParseDigits(header.Slice(ContentFieldOffset, ContentDigits), out contentLength)
            || header[HeaderLength - 1] != (byte)'\n')
        {
            error = "malformed header";
            return false;
        }
        if (envelope > MaxEnvelopeLength)
        {
            error = "envelope length out of range";
            return false;
        }
        envelopeLength = (int)envelope;
        error = null;
        return true;
    }

    /// <summary>
    /// Reads and checks the header and envelope of an entry file: lengths agree with the file
    /// length, the envelope parses and names <paramref name="queueId"/>. Returns the offset of the
    /// first message byte. <paramref name="unfinished"/> is true (and the result false) for an entry
    /// that was never committed (<see cref="IsUnfinished"/>).
    /// </summary>
    public static bool TryReadEntry(SafeFileHandle handle, string queueId, out Envelope? envelope, out long contentOffset, out long contentLength, out string? error, out bool unfinished)
    {
        envelope = null;
        contentOffset = 0;
        long fileLength = RandomAccess.GetLength(handle);
        Span<byte> header = stackalloc byte[HeaderLength];
        int read = ReadFully(handle, header, 0);
        unfinished = IsUnfinished(header[..read]);
        if (unfinished)
        {
            contentLength = 0;
            error = "unfinished entry";
            return false;
        }
        if (!TryParseHeader(header[..read], out int envelopeLength, out contentLength, out error))
        {
            return false;
        }
        long expected = HeaderLength + envelopeLength + 1L + contentLength;
        if (fileLength != expected)
        {
            error = fileLength < expected ? "truncated" : "longer than its header says";
            return false;
        }

        byte[] json = new byte[envelopeLength + 1];
        if (ReadFully(handle, json, HeaderLength) != json.Length || json[^1] != (byte)'\n')
        {
            error = "no newline after the envelope";
            return false;
        }
        try
        {
            envelope = JsonSerializer.Deserialize(json.AsSpan(0, envelopeLength), SpoolJsonContext.Default.Envelope);
        }
        catch (JsonException e)
        {
            error = "envelope is not valid JSON: " + e.Message;
            return false;
        }
        if (envelope is null || envelope.QueueId != queueId)
        {
            error = "envelope names another queue id";
            envelope = null;
            return false;
        }
        contentOffset = HeaderLength + envelopeLength + 1L;
        return true;
    }

    private static int ReadFully(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    private static bool TryParseDigits(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
            if (value > (long.MaxValue - 9) / 10)
            {
                return false;
            }
            value = (value * 10) + (b - '0');
        }
        return true;
    }
}

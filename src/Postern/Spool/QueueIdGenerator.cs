using System.Security.Cryptography;

namespace Postern.Spool;

/// <summary>
/// Queue ids of 18 characters [0-9A-Z]: 9 for the milliseconds since the Unix epoch, 4 for a
/// sequence within the millisecond, 5 for a random instance tag drawn once per spool. Fixed width
/// base 36, so ordinal order is time order; the instance tag keeps ids unique across restarts
/// within the same millisecond.
/// </summary>
internal sealed class QueueIdGenerator
{
    public const int Length = TimeChars + SequenceChars + InstanceChars;
    private const int TimeChars = 9;        // 36^9 ms reaches the year 5188
    private const int SequenceChars = 4;    // 36^4 > 2^16
    private const int InstanceChars = 5;
    private const int SequenceBits = 16;
    private const string Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private readonly TimeProvider _time;
    private readonly string _instance;
    // (milliseconds << SequenceBits) | sequence; a burst past 65536 ids in one millisecond
    // borrows the next millisecond, so ids stay strictly increasing even if the clock steps back.
    private long _last;

    public QueueIdGenerator(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _instance = RandomNumberGenerator.GetString(Digits, InstanceChars);
    }

    public string Next()
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds() << SequenceBits;
        long last, next;
        do
        {
            last = Volatile.Read(ref _last);
            next = Math.Max(now, last + 1);
        }
        while (Interlocked.CompareExchange(ref _last, next, last) != last);

        return string.Create(Length, (next, _instance), static (span, state) =>
        {
            Encode(span[..TimeChars], state.next >> SequenceBits);
            Encode(span.Slice(TimeChars, SequenceChars), state.next & ((1L << SequenceBits) - 1));
            state._instance.AsSpan().CopyTo(span[(TimeChars + SequenceChars)..]);
        });
    }

    /// <summary>When an id made by <see cref="Next"/> was made (to the millisecond); false for an id of another form.</summary>
    public static bool TryGetTime(ReadOnlySpan<char> queueId, out DateTimeOffset time)
    {
        time = default;
        if (queueId.Length != Length) return false;
        long milliseconds = 0;
        foreach (char c in queueId[..TimeChars])
        {
            int digit = Digits.IndexOf(c, StringComparison.Ordinal);
            if (digit < 0) return false;
            milliseconds = milliseconds * 36 + digit;
        }
        if (milliseconds > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()) return false;
        time = DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
        return true;
    }

    /// <summary>Whether <paramref name="value"/> can name a spool entry: 1-32 characters [0-9A-Z].</summary>
    public static bool IsValid(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty || value.Length > 32)
        {
            return false;
        }
        foreach (char c in value)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'A' and <= 'Z')))
            {
                return false;
            }
        }
        return true;
    }

    private static void Encode(Span<char> destination, long value)
    {
        for (int i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = Digits[(int)(value % 36)];
            value /= 36;
        }
    }
}

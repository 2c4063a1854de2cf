using System.Buffers;
using System.Text;

namespace Postern.Tests.Smtp;

/// <summary>Builds multi-segment sequences, as a pipe hands them out.</summary>
internal static class Sequences
{
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    public static ReadOnlySequence<byte> Create(params byte[][] segments)
    {
        if (segments.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(segments[0], 0);
        Segment last = first;
        for (int i = 1; i < segments.Length; i++) last = last.Append(segments[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> Fragmented(ReadOnlySpan<byte> bytes) =>
        Create(bytes.ToArray().Select(b => new[] { b }).ToArray());

    /// <summary>The input cut into pieces of the given sizes (the last piece takes the rest).</summary>
    public static IEnumerable<byte[]> Chunks(byte[] input, int size)
    {
        for (int i = 0; i < input.Length; i += size) yield return input[i..Math.Min(input.Length, i + size)];
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Postern.Tests.Interop;

/// <summary>One committed spool entry, read from its file as docs/spool.md describes it.</summary>
/// <param name="QueueId">The file name.</param>
/// <param name="Envelope">The envelope JSON.</param>
/// <param name="Message">The stored message bytes (the Received header, then what the client sent).</param>
public sealed record StoredMessage(string QueueId, JsonElement Envelope, byte[] Message)
{
    /// <summary>The message as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Message);

    /// <summary>The Received header Postern prepended, unfolded (continuation lines joined with a space).</summary>
    public string ReceivedHeader
    {
        get
        {
            string text = Text;
            Assert.StartsWith("Received: ", text, StringComparison.Ordinal);
            int end = 0;
            while (true)
            {
                int crlf = text.IndexOf("\r\n", end, StringComparison.Ordinal);
                Assert.True(crlf >= 0, "the Received header does not end");
                end = crlf + 2;
                if (end >= text.Length || (text[end] != ' ' && text[end] != '\t'))
                {
                    break;
                }
            }

            return string.Join(' ', text[..end].Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
        }
    }

    /// <summary>The bytes after the Received header: exactly what the client sent (unstuffed).</summary>
    public byte[] ClientBytes
    {
        get
        {
            int end = 0;
            while (true)
            {
                int crlf = Message.AsSpan(end).IndexOf("\r\n"u8);
                Assert.True(crlf >= 0, "the Received header does not end");
                end += crlf + 2;
                if (end >= Message.Length || (Message[end] != (byte)' ' && Message[end] != (byte)'\t'))
                {
                    break;
                }
            }

            return Message[end..];
        }
    }

    /// <summary>The envelope's <c>sender</c>.</summary>
    public string Sender => Envelope.GetProperty("sender").GetString()!;

    /// <summary>The envelope's recipient addresses.</summary>
    public IReadOnlyList<string> Recipients =>
        Envelope.GetProperty("recipients").EnumerateArray().Select(r => r.GetProperty("address").GetString()!).ToList();

    /// <summary>The envelope's <c>protocol</c> (ESMTP, ESMTPS, UTF8SMTPS, ...).</summary>
    public string Protocol => Envelope.GetProperty("protocol").GetString()!;
}

/// <summary>Reads the spool a gateway process wrote under its data directory.</summary>
public static class SpoolFiles
{
    private const int HeaderLength = 48;

    /// <summary><c>dataDirectory/spool/queue</c>.</summary>
    public static string QueueDirectory(string dataDirectory) => Path.Combine(dataDirectory, "spool", "queue");

    /// <summary>
    /// The queue ids of the committed entries in the queue directory, in order. An entry is created
    /// there when its message starts and is committed when its header's content length is filled
    /// in (docs/spool.md): files with a header still unfinished (dashes, or shorter than a header)
    /// are messages being received, not messages, and are left out.
    /// </summary>
    public static IReadOnlyList<string> ListQueue(string dataDirectory)
    {
        string queue = QueueDirectory(dataDirectory);
        return Directory.Exists(queue)
            ? Directory.EnumerateFiles(queue).Where(IsCommitted).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList()
            : [];
    }

    private static bool IsCommitted(string path)
    {
        var header = new byte[HeaderLength];
        int read = 0;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            while (read < header.Length)
            {
                int n = stream.Read(header, read, header.Length - read);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }
        }
        catch (FileNotFoundException)
        {
            return false; // removed meanwhile (aborted, or delivered)
        }

        // "POSTERN-SPOOL 1 EEEEEEEEEE " then the content length, 20 dashes until the commit.
        return read == HeaderLength && header[HeaderLength - 2] != (byte)'-';
    }

    /// <summary>Every entry in the queue, each checked against the format (fails the test on a malformed one).</summary>
    public static IReadOnlyList<StoredMessage> ReadQueue(string dataDirectory) =>
        ListQueue(dataDirectory).Select(id => Read(dataDirectory, id)).ToList();

    /// <summary>One entry; fails the test when it does not follow the format.</summary>
    public static StoredMessage Read(string dataDirectory, string queueId)
    {
        string path = Path.Combine(QueueDirectory(dataDirectory), queueId);
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length >= HeaderLength + 1, $"{path}: {bytes.Length} bytes, shorter than a header");
        string header = Encoding.ASCII.GetString(bytes, 0, HeaderLength);
        var parts = header.TrimEnd('\n').Split(' ');
        Assert.True(
            header[^1] == '\n' && parts.Length == 4 && parts[0] == "POSTERN-SPOOL" && parts[1] == "1"
                && parts[2].Length == 10 && parts[3].Length == 20,
            $"{path}: bad header '{header}'");
        Assert.True(parts[2].All(char.IsAsciiDigit) && parts[3].All(char.IsAsciiDigit), $"{path}: lengths not filled in: '{header}'");
        int envelopeLength = int.Parse(parts[2], CultureInfo.InvariantCulture);
        long contentLength = long.Parse(parts[3], CultureInfo.InvariantCulture);
        Assert.True(
            bytes.Length == HeaderLength + envelopeLength + 1 + contentLength,
            $"{path}: {bytes.Length} bytes, header says {HeaderLength}+{envelopeLength}+1+{contentLength}");
        Assert.Equal((byte)'\n', bytes[HeaderLength + envelopeLength]);
        using var document = JsonDocument.Parse(bytes.AsMemory(HeaderLength, envelopeLength));
        var envelope = document.RootElement.Clone();
        Assert.Equal(queueId, envelope.GetProperty("queueId").GetString());
        return new StoredMessage(queueId, envelope, bytes[(HeaderLength + envelopeLength + 1)..]);
    }

    /// <summary>Waits until the queue holds at least <paramref name="count"/> entries.</summary>
    public static async Task<IReadOnlyList<StoredMessage>> WaitForMessagesAsync(string dataDirectory, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (ListQueue(dataDirectory).Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{ListQueue(dataDirectory).Count} message(s) in {QueueDirectory(dataDirectory)} after {timeout.TotalSeconds:0}s, expected {count}");
            }

            await Task.Delay(100);
        }

        return ReadQueue(dataDirectory);
    }
}

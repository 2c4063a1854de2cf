using Microsoft.Extensions.Logging;

namespace Postern.Spool;

/// <summary>
/// The durable message store: the only thing the receiving side and the delivering side share.
/// A message is committed (and may be acknowledged with 250) only once its bytes and envelope are
/// on disk: written, fsynced, renamed into the queue, and the directory fsynced.
/// </summary>
public sealed class MessageSpool : IAsyncDisposable
{
    /// <param name="directory">The spool root, e.g. "var/spool"; created if missing.</param>
    public MessageSpool(string directory, ILogger<MessageSpool>? logger = null) => throw new NotImplementedException();

    public string Directory => throw new NotImplementedException();

    /// <summary>A new queue id: sortable by time, unique in this spool, [0-9A-Z] only.</summary>
    public string NewQueueId() => throw new NotImplementedException();

    /// <summary>On start: removes partly written entries, returns what is in the queue.</summary>
    public SpoolRecovery Recover() => throw new NotImplementedException();

    /// <summary>Starts a new entry. The envelope is written first; the message bytes follow through the writer.</summary>
    public SpoolWriter CreateWriter(Envelope envelope) => throw new NotImplementedException();

    /// <summary>Ids of the committed messages, oldest first.</summary>
    public IReadOnlyList<string> ListQueueIds() => throw new NotImplementedException();

    /// <summary>Reads a committed entry: its envelope and a stream positioned at the first message byte.</summary>
    public SpoolMessage Open(string queueId) => throw new NotImplementedException();

    /// <summary>Removes a committed entry (after delivery, or by an administrator).</summary>
    public void Delete(string queueId) => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}

/// <summary>What recovery found on start.</summary>
public sealed record SpoolRecovery(int Messages, int PartialEntriesRemoved);

/// <summary>A committed entry, open for reading.</summary>
public sealed class SpoolMessage : IDisposable
{
    internal SpoolMessage(Envelope envelope, Stream content, long contentLength)
    {
        Envelope = envelope;
        Content = content;
        ContentLength = contentLength;
    }

    public Envelope Envelope { get; }

    /// <summary>The message bytes exactly as stored (Received header first).</summary>
    public Stream Content { get; }

    public long ContentLength { get; }

    public void Dispose() => Content.Dispose();
}

/// <summary>
/// One entry being written. Nothing written here is a message until <see cref="CommitAsync"/>
/// returns; disposing without committing removes the partial entry.
/// </summary>
public sealed class SpoolWriter : IAsyncDisposable
{
    private SpoolWriter() => throw new NotImplementedException();

    public string QueueId => throw new NotImplementedException();

    /// <summary>Message bytes written so far (excluding the envelope).</summary>
    public long Length => throw new NotImplementedException();

    /// <summary>Appends message bytes. Throws <see cref="IOException"/> on a write error or a full disk.</summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>
    /// Makes the entry durable: fsync the file, rename it into the queue, fsync the directory
    /// (batched with concurrent commits). Throws <see cref="IOException"/> when that fails; the
    /// partial entry is then removed.
    /// </summary>
    public Task CommitAsync(CancellationToken cancellationToken = default) => throw new NotImplementedException();

    /// <summary>Abandons the entry (e.g. the client sent a bad message); idempotent.</summary>
    public void Abort() => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}

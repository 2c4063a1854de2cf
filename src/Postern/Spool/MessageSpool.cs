using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using Postern.Telemetry;

namespace Postern.Spool;

/// <summary>
/// The durable message store: the only thing the receiving side and the delivering side share.
/// A message is committed (and may be acknowledged with 250) only once its bytes, its envelope and
/// its directory entry are on disk: the file and <c>queue/</c> both fsynced.
/// </summary>
/// <remarks>
/// Layout under <see cref="Directory"/>: <c>queue/</c> holds one file per message, named by queue
/// id (see <see cref="SpoolEntryFormat"/>), <c>corrupt/</c> entries that recovery found damaged,
/// <c>state/</c> the delivery state of each entry (<see cref="DeliveryStates"/>); <c>tmp/</c> is
/// only emptied by recovery (earlier versions wrote entries there). An entry is created in
/// <c>queue/</c> when its writer starts, with its content length unset in the header; it is a
/// message only once the commit has written the final header and fsynced the file. Entries still
/// being written are never listed nor opened, and recovery removes those a crash left behind.
/// </remarks>
public sealed class MessageSpool : IAsyncDisposable
{
    internal const int WriteBufferSize = 64 * 1024;

    /// <summary>How many files of delivered messages are kept in <c>free/</c> for new entries.</summary>
    internal const int MaxFreeFiles = 256;

    private readonly QueueIdGenerator _ids = new();
    private readonly DirectorySync _queueSync;
    // Entries of this instance whose file is in queue/ but not committed (being written, or whose
    // removal failed): hidden from ListQueueIds, Open and Delete.
    private readonly ConcurrentDictionary<string, byte> _unfinished = new(StringComparer.Ordinal);
    // Files in free/: delivered entries kept for reuse, so a new message needs no new inode.
    private readonly ConcurrentStack<string> _free = new();
    private int _freeCount;
    private int _openWriters;
    private bool _disposed;

    /// <param name="directory">The spool root, e.g. "var/spool"; created if missing.</param>
    /// <param name="metrics">Where commit durations are recorded, if anywhere.</param>
    public MessageSpool(string directory, ILogger<MessageSpool>? logger = null, PosternMetrics? metrics = null)
    {
        Metrics = metrics;
        Directory = Path.GetFullPath(directory);
        Logger = (ILogger?)logger ?? NullLogger.Instance;
        TmpDirectory = Path.Combine(Directory, "tmp");
        QueueDirectory = Path.Combine(Directory, "queue");
        CorruptDirectory = Path.Combine(Directory, "corrupt");
        FreeDirectory = Path.Combine(Directory, "free");
        System.IO.Directory.CreateDirectory(TmpDirectory);
        System.IO.Directory.CreateDirectory(FreeDirectory);
        System.IO.Directory.CreateDirectory(QueueDirectory);
        System.IO.Directory.CreateDirectory(CorruptDirectory);
        _queueSync = new DirectorySync(QueueDirectory, Logger);
        DeliveryStates = new DeliveryStateStore(this, Path.Combine(Directory, "state"));
    }

    /// <summary>Per-recipient delivery state of the queued messages, in <c>state/</c>.</summary>
    public DeliveryStateStore DeliveryStates { get; }

    /// <summary>
    /// Raised with the queue id once an entry is durable, so the delivering side can schedule it
    /// without polling. Handlers must be quick and must not throw.
    /// </summary>
    public event Action<string>? Committed;

    internal void OnCommitted(string queueId)
    {
        try
        {
            Committed?.Invoke(queueId);
        }
        catch (Exception e)
        {
            // The entry is durable and will be found by the next queue scan; the client gets its 250.
            SpoolLog.CommittedHandlerFailed(Logger, queueId, e);
        }
    }

    /// <summary>The spool root, as a full path.</summary>
    public string Directory { get; }

    internal string TmpDirectory { get; }

    internal string QueueDirectory { get; }

    internal string CorruptDirectory { get; }

    /// <summary>
    /// Files of delivered messages, kept for new entries: creating and removing a file per message
    /// costs the file system an inode each time, renaming one costs a directory entry. Nothing in
    /// here is a message; recovery empties it.
    /// </summary>
    internal string FreeDirectory { get; }

    internal ILogger Logger { get; }

    internal PosternMetrics? Metrics { get; }

    internal DirectorySync QueueSync => _queueSync;

    /// <summary>A new queue id: sortable by time, unique in this spool, [0-9A-Z] only (18 characters).</summary>
    public string NewQueueId() => _ids.Next();

    /// <summary>
    /// On start, before any writer is created: removes entries that were never committed (in
    /// <c>queue/</c> with an unfinished header, or anything in <c>tmp/</c>), checks every other entry
    /// in <c>queue/</c> and moves damaged ones to <c>corrupt/</c> (logged, never deleted), and
    /// returns what is in the queue.
    /// </summary>
    /// <exception cref="InvalidOperationException">A writer is open; its entry would be removed.</exception>
    public SpoolRecovery Recover()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Volatile.Read(ref _openWriters) != 0)
        {
            throw new InvalidOperationException("Recover must run before any entry is being written.");
        }

        int partial = 0;
        foreach (string path in System.IO.Directory.EnumerateFileSystemEntries(TmpDirectory))
        {
            // A partly written entry was never acknowledged, so it is never a message.
            if (System.IO.Directory.Exists(path))
            {
                System.IO.Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
            SpoolLog.PartialEntryRemoved(Logger, path);
            partial++;
        }

        // Files kept for reuse by an earlier run: delivered messages, never reused across a restart.
        _free.Clear();
        _freeCount = 0;
        foreach (string path in System.IO.Directory.EnumerateFileSystemEntries(FreeDirectory))
        {
            if (System.IO.Directory.Exists(path)) System.IO.Directory.Delete(path, recursive: true);
            else File.Delete(path);
        }

        int messages = 0, corrupt = 0;
        foreach (string path in System.IO.Directory.EnumerateFileSystemEntries(QueueDirectory))
        {
            string name = Path.GetFileName(path);
            string? error = null;
            bool unfinished = false;
            if (!QueueIdGenerator.IsValid(name) || System.IO.Directory.Exists(path))
            {
                error = "not a queue id";
            }
            else
            {
                using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
                SpoolEntryFormat.TryReadEntry(handle, name, out _, out _, out _, out error, out unfinished);
            }

            if (unfinished)
            {
                // Created when a message started, never committed, so never acknowledged.
                File.Delete(path);
                SpoolLog.PartialEntryRemoved(Logger, path);
                partial++;
                continue;
            }
            if (error is null)
            {
                messages++;
                continue;
            }
            string target = Path.Combine(CorruptDirectory, name);
            if (Path.Exists(target))
            {
                target = Path.Combine(CorruptDirectory, name + "." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture));
            }
            System.IO.Directory.Move(path, target);
            SpoolLog.CorruptEntryQuarantined(Logger, name, error, target);
            corrupt++;
        }

        if (corrupt > 0)
        {
            using var corruptSync = new DirectorySync(CorruptDirectory, Logger);
            corruptSync.Sync();
        }
        if (partial > 0 || corrupt > 0)
        {
            _queueSync.Sync();
            using var tmpSync = new DirectorySync(TmpDirectory, Logger);
            tmpSync.Sync();
        }

        var queueIds = new HashSet<string>(ListQueueIds(), StringComparer.Ordinal);
        (int orphanStates, int damagedStates) = DeliveryStates.Recover(queueIds);

        SpoolLog.Recovered(Logger, Directory, messages, partial, corrupt);
        return new SpoolRecovery(messages, partial)
        {
            CorruptEntriesQuarantined = corrupt,
            OrphanStatesRemoved = orphanStates,
            DamagedStatesQuarantined = damagedStates,
        };
    }

    /// <summary>
    /// Starts a new entry named by <see cref="Envelope.QueueId"/> (from <see cref="NewQueueId"/>):
    /// creates its file in <c>queue/</c> (not yet a message) and starts the directory fsync that
    /// the commit will need, so it runs while the message arrives. The envelope is written first;
    /// the message bytes follow through the writer.
    /// </summary>
    /// <exception cref="ArgumentException">The queue id is not 1-32 characters [0-9A-Z].</exception>
    /// <exception cref="IOException">The entry file cannot be created.</exception>
    public SpoolWriter CreateWriter(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!QueueIdGenerator.IsValid(envelope.QueueId))
        {
            throw new ArgumentException($"'{envelope.QueueId}' is not a queue id.", nameof(envelope));
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(envelope, SpoolJsonContext.Default.Envelope);
        return new SpoolWriter(this, envelope.QueueId, json);
    }

    /// <summary>
    /// Ids of the committed messages, oldest first. Entries this instance is writing are left out
    /// by name (no file is read), so this must run after <see cref="Recover"/>, which removes the
    /// unfinished entries an earlier process left behind.
    /// </summary>
    public IReadOnlyList<string> ListQueueIds()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ids = new List<string>();
        foreach (string path in System.IO.Directory.EnumerateFiles(QueueDirectory))
        {
            string name = Path.GetFileName(path);
            if (QueueIdGenerator.IsValid(name) && !_unfinished.ContainsKey(name))
            {
                ids.Add(name);
            }
        }
        ids.Sort(StringComparer.Ordinal);
        return ids;
    }

    /// <summary>Reads a committed entry: its envelope and a stream positioned at the first message byte.</summary>
    /// <exception cref="FileNotFoundException">No committed entry has this id.</exception>
    /// <exception cref="InvalidDataException">The entry is damaged.</exception>
    public SpoolMessage Open(string queueId)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string path = QueueEntryPath(queueId);
        if (_unfinished.ContainsKey(queueId))
        {
            throw NotCommitted(queueId, path);
        }
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            if (!SpoolEntryFormat.TryReadEntry(handle, queueId, out Envelope? envelope, out long offset, out long length, out string? error, out bool unfinished))
            {
                if (unfinished)
                {
                    throw NotCommitted(queueId, path);
                }
                throw new InvalidDataException($"Spool entry {queueId} is corrupt: {error}.");
            }
            var content = new FileStream(handle, FileAccess.Read, bufferSize: 16 * 1024);
            content.Seek(offset, SeekOrigin.Begin);
            return new SpoolMessage(envelope!, content, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Removes a committed entry and its delivery state (after delivery, or by an administrator);
    /// blocks until the removal is durable.
    /// </summary>
    public void Delete(string queueId) => DeleteAsync(queueId).GetAwaiter().GetResult();

    /// <summary>
    /// Removes a committed entry and then its delivery state; completes once both removals are
    /// durable (the directory fsyncs are shared with concurrent commits, saves and deletes). A
    /// missing entry or state is not an error; an entry still being written is not touched.
    /// </summary>
    public Task DeleteAsync(string queueId) => DeleteAsync(queueId, hasState: true);

    /// <summary>
    /// Removes a committed entry after its delivery. With <paramref name="hasState"/> false (the
    /// message was delivered at its first attempt, so no state was ever saved) the unlink is not
    /// waited for: as in Postfix, a crash before the directory reaches the disk can bring the entry
    /// back, and it is then delivered again (at least once). Otherwise as <see cref="DeleteAsync(string)"/>.
    /// </summary>
    public async Task DeleteAsync(string queueId, bool hasState)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string path = QueueEntryPath(queueId);
        if (_unfinished.ContainsKey(queueId))
        {
            // Not a message yet: its writer commits it (and it is then a message like any other) or removes it.
            return;
        }
        if (!hasState && TryKeepForReuse(path, queueId))
        {
            SpoolLog.MessageDeleted(Logger, queueId);
            return;
        }
        File.Delete(path);
        SpoolLog.MessageDeleted(Logger, queueId);
        if (!hasState) return;
        await _queueSync.SyncAsync().ConfigureAwait(false);
        // Entry first: a crash in between leaves a state without an entry, which recovery removes;
        // the reverse would leave an entry whose delivered recipients are attempted again.
        await DeliveryStates.DeleteAsync(queueId).ConfigureAwait(false);
    }

    /// <summary>Moves a delivered entry to free/ (a rename) when there is room there.</summary>
    private bool TryKeepForReuse(string path, string queueId)
    {
        if (Interlocked.Increment(ref _freeCount) > MaxFreeFiles)
        {
            Interlocked.Decrement(ref _freeCount);
            return false;
        }
        try
        {
            // rename(2): the name is this spool's unique queue id, so nothing is overwritten.
            File.Move(path, Path.Combine(FreeDirectory, queueId), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Interlocked.Decrement(ref _freeCount);
            return false;
        }
        _free.Push(queueId);
        return true;
    }

    /// <summary>
    /// A file from free/, emptied and then renamed to <paramref name="path"/>, open for writing;
    /// null when there is none. Emptied before the rename, so a crash in between leaves an empty
    /// file in queue/ (unfinished, removed by recovery), never an old message under a new name.
    /// </summary>
    internal SafeFileHandle? TryReuseFile(string path)
    {
        while (_free.TryPop(out string? name))
        {
            Interlocked.Decrement(ref _freeCount);
            string freePath = Path.Combine(FreeDirectory, name);
            SafeFileHandle handle;
            try
            {
                handle = File.OpenHandle(freePath, FileMode.Truncate, FileAccess.Write, FileShare.Read | FileShare.Delete);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            try
            {
                File.Move(freePath, path, overwrite: true);
                return handle;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                handle.Dispose();
                try
                {
                    File.Delete(freePath);
                }
                catch (Exception f) when (f is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
        return null;
    }

    /// <summary>Waits for a running directory fsync, then closes the spool.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await _queueSync.WhenIdleAsync().ConfigureAwait(false);
        await DeliveryStates.Sync.WhenIdleAsync().ConfigureAwait(false);
        _queueSync.Dispose();
        DeliveryStates.Sync.Dispose();
    }

    internal string QueueEntryPath(string queueId)
    {
        if (!QueueIdGenerator.IsValid(queueId))
        {
            throw new ArgumentException($"'{queueId}' is not a queue id.", nameof(queueId));
        }
        return Path.Combine(QueueDirectory, queueId);
    }

    internal void WriterOpened() => Interlocked.Increment(ref _openWriters);

    internal void WriterClosed() => Interlocked.Decrement(ref _openWriters);

    /// <summary>Hides an entry from readers before its file is created in <c>queue/</c>.</summary>
    internal void EntryStarted(string queueId) => _unfinished[queueId] = 0;

    /// <summary>The entry was committed, or its file removed: readers may see what is there.</summary>
    internal void EntryEnded(string queueId) => _unfinished.TryRemove(queueId, out _);

    private static FileNotFoundException NotCommitted(string queueId, string path) =>
        new($"Spool entry {queueId} is not committed.", path);
}

/// <summary>What recovery found on start.</summary>
/// <param name="Messages">Committed entries in the queue after recovery.</param>
/// <param name="PartialEntriesRemoved">Uncommitted entries removed (from <c>queue/</c>, or left in <c>tmp/</c> by earlier versions).</param>
public sealed record SpoolRecovery(int Messages, int PartialEntriesRemoved)
{
    /// <summary>Damaged entries moved from <c>queue/</c> to <c>corrupt/</c>.</summary>
    public int CorruptEntriesQuarantined { get; init; }

    /// <summary>Delivery states removed from <c>state/</c> because their entry is gone.</summary>
    public int OrphanStatesRemoved { get; init; }

    /// <summary>Damaged delivery states moved to <c>corrupt/&lt;id&gt;.state</c>; their entries start all Pending.</summary>
    public int DamagedStatesQuarantined { get; init; }
}

/// <summary>A committed entry, open for reading.</summary>
public sealed class SpoolMessage : IDisposable
{
    internal SpoolMessage(Envelope envelope, Stream content, long contentLength)
    {
        Envelope = envelope;
        Content = content;
        ContentLength = contentLength;
    }

    /// <summary>The envelope stored with the message.</summary>
    public Envelope Envelope { get; }

    /// <summary>The message bytes exactly as stored (Received header first).</summary>
    public Stream Content { get; }

    /// <summary>Number of message bytes in <see cref="Content"/>.</summary>
    public long ContentLength { get; }

    public void Dispose() => Content.Dispose();
}

/// <summary>
/// One entry being written. Nothing written here is a message until <see cref="CommitAsync"/>
/// returns; disposing without committing removes the partial entry. Not safe for concurrent use.
/// </summary>
public sealed class SpoolWriter : IAsyncDisposable
{
    private enum State { Open, Committing, Committed, Closed }

    private readonly MessageSpool _spool;
    private readonly string _path;
    private readonly int _envelopeLength;
    // The directory fsync that makes the new directory entry durable, started at creation.
    private readonly Task _directorySync;
    private SafeFileHandle? _handle;
    private byte[]? _buffer;
    private int _buffered;
    private long _fileOffset;
    private long _length;
    private bool _headerFinished;
    private State _state;

    internal SpoolWriter(MessageSpool spool, string queueId, byte[] envelopeJson)
    {
        _spool = spool;
        QueueId = queueId;
        _path = Path.Combine(spool.QueueDirectory, queueId);
        _envelopeLength = envelopeJson.Length;

        // Hidden from readers before the file exists; the header says "unfinished" until the commit.
        spool.EntryStarted(queueId);
        try
        {
            // Shared for reading: on Unix FileShare.None takes an exclusive flock(2), which would make
            // recovery or another process fail to open the file just to see that it is unfinished.
            _handle = spool.TryReuseFile(_path)
                ?? File.OpenHandle(_path, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete);
        }
        catch
        {
            spool.EntryEnded(queueId);
            throw;
        }
        spool.WriterOpened();
        _buffer = ArrayPool<byte>.Shared.Rent(MessageSpool.WriteBufferSize);
        _directorySync = spool.QueueSync.SyncAsync();

        // Header (content length still unknown), envelope, newline; normally all in the buffer.
        SpoolEntryFormat.WriteHeader(_buffer, _envelopeLength, contentLength: null);
        _buffered = SpoolEntryFormat.HeaderLength;
        if (envelopeJson.Length < _buffer.Length - _buffered)
        {
            envelopeJson.CopyTo(_buffer, _buffered);
            _buffered += envelopeJson.Length;
        }
        else
        {
            Guard(() =>
            {
                RandomAccess.Write(_handle, new ReadOnlyMemory<byte>[] { _buffer.AsMemory(0, _buffered), envelopeJson }, 0);
                _fileOffset = _buffered + envelopeJson.Length;
                _buffered = 0;
            });
        }
        _buffer[_buffered++] = (byte)'\n';
    }

    /// <summary>The entry's queue id, the envelope's <see cref="Envelope.QueueId"/>.</summary>
    public string QueueId { get; }

    /// <summary>Message bytes written so far (excluding the envelope).</summary>
    public long Length => _length;

    /// <summary>
    /// Appends message bytes (copied into the write buffer, or written directly when larger).
    /// Throws <see cref="IOException"/> on a write error or a full disk; the partial entry is then
    /// removed, as it is when the write is cancelled.
    /// </summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        ThrowIfNotOpen();
        byte[] buffer = _buffer!;
        if (bytes.Length <= buffer.Length - _buffered)
        {
            bytes.Span.CopyTo(buffer.AsSpan(_buffered));
            _buffered += bytes.Length;
            _length += bytes.Length;
            return default;
        }
        return WriteSlowAsync(bytes, cancellationToken);
    }

    /// <summary>
    /// Makes the entry durable: writes what is buffered and the final header (content length),
    /// fsyncs the file, then waits for the directory fsync started when the entry was created
    /// (normally done by then). Throws <see cref="IOException"/> when that fails; the partial entry
    /// is then removed. Cancellation is honoured only before the commit starts.
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfNotOpen();
        cancellationToken.ThrowIfCancellationRequested();
        _state = State.Committing;
        long started = Stopwatch.GetTimestamp();
        try
        {
            if (_fileOffset == 0)
            {
                // The whole entry is still in the buffer: one write with the final header.
                SpoolEntryFormat.WriteHeader(_buffer, _envelopeLength, _length);
                _headerFinished = true;
                await FlushBufferAsync(CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                await FlushBufferAsync(CancellationToken.None).ConfigureAwait(false);
                byte[] header = new byte[SpoolEntryFormat.HeaderLength];
                SpoolEntryFormat.WriteHeader(header, _envelopeLength, _length);
                _headerFinished = true;
                await RandomAccess.WriteAsync(_handle!, header, 0, CancellationToken.None).ConfigureAwait(false);
            }
            RandomAccess.FlushToDisk(_handle!);
            await _directorySync.ConfigureAwait(false);
            _spool.Metrics?.SpoolCommitted(started);
            _state = State.Committed;
            SpoolLog.MessageCommitted(_spool.Logger, QueueId, _length);
        }
        catch (Exception e)
        {
            SpoolLog.CommitFailed(_spool.Logger, QueueId, e);
            // Not acknowledged, so the client will send it again: keep no copy that could be delivered twice.
            Close();
            ThrowAsIOException(e);
            throw;
        }
        finally
        {
            ReleaseResources();
        }

        // A message from now on: listed, opened, deleted like any other.
        _spool.EntryEnded(QueueId);
        // Outside the try: whatever a listener does, the entry is committed and stays.
        _spool.OnCommitted(QueueId);
    }

    /// <summary>Abandons the entry (e.g. the client sent a bad message); idempotent; no effect once committed.</summary>
    public void Abort()
    {
        if (_state is State.Open or State.Committing)
        {
            Close();
        }
    }

    public ValueTask DisposeAsync()
    {
        Abort();
        return default;
    }

    private async ValueTask WriteSlowAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            if (bytes.Length >= _buffer!.Length)
            {
                // Large chunk: one gathered write of what is buffered and the chunk, no copy.
                var segments = new ReadOnlyMemory<byte>[] { _buffer.AsMemory(0, _buffered), bytes };
                await RandomAccess.WriteAsync(_handle!, segments, _fileOffset, cancellationToken).ConfigureAwait(false);
                _fileOffset += _buffered + bytes.Length;
                _buffered = 0;
            }
            else
            {
                await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
                bytes.Span.CopyTo(_buffer);
                _buffered = bytes.Length;
            }
            _length += bytes.Length;
        }
        catch (Exception e)
        {
            SpoolLog.WriteFailed(_spool.Logger, QueueId, e);
            Close();
            ThrowAsIOException(e);
            throw;
        }
    }

    private async ValueTask FlushBufferAsync(CancellationToken cancellationToken)
    {
        if (_buffered == 0)
        {
            return;
        }
        await RandomAccess.WriteAsync(_handle!, _buffer.AsMemory(0, _buffered), _fileOffset, cancellationToken).ConfigureAwait(false);
        _fileOffset += _buffered;
        _buffered = 0;
    }

    private void Guard(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            SpoolLog.WriteFailed(_spool.Logger, QueueId, e);
            Close();
            ThrowAsIOException(e);
            throw;
        }
    }

    private void ThrowIfNotOpen()
    {
        if (_state != State.Open)
        {
            throw new InvalidOperationException($"Spool entry {QueueId} is {(_state == State.Committed ? "already committed" : "closed")}.");
        }
    }

    /// <summary>
    /// Ends the entry without a message: closes and removes the file. The removal needs no
    /// directory fsync: should a crash bring the file back, its header is unfinished and recovery
    /// removes it.
    /// </summary>
    private void Close()
    {
        _state = State.Closed;
        if (_headerFinished && _handle is not null)
        {
            // A failed commit may have written the final header: take it back, so that a file a
            // crash brings back is never taken for a message (best effort, the file is going anyway).
            try
            {
                Span<byte> header = stackalloc byte[SpoolEntryFormat.HeaderLength];
                SpoolEntryFormat.WriteHeader(header, _envelopeLength, contentLength: null);
                RandomAccess.Write(_handle, header, 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        ReleaseResources();
        // The directory fsync started at creation is not awaited any more: observe its outcome.
        _directorySync.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            File.Delete(_path);
            _spool.EntryEnded(QueueId);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Stays hidden from readers; recovery removes it at the next start.
            SpoolLog.PartialEntryRemovalFailed(_spool.Logger, _path, e);
        }
    }

    private void ReleaseResources()
    {
        if (_handle is not null)
        {
            _handle.Dispose();
            _handle = null;
        }
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _spool.WriterClosed();
        }
    }

    // A permission error is an I/O error to the caller, who answers it like a full disk (4xx).
    private static void ThrowAsIOException(Exception e)
    {
        if (e is UnauthorizedAccessException)
        {
            throw new IOException(e.Message, e);
        }
    }
}

using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Postern.Spool;

/// <summary>
/// Persists the <see cref="DeliveryState"/> of each queued message in <c>state/&lt;queue id&gt;</c>
/// under the spool root. A save writes a temporary file, fsyncs it, renames it over the old state
/// and fsyncs the directory (batched like the spool's commits), so after a crash the file holds
/// either the old or the new state, never a mix. Saves of one message must not run concurrently
/// (its delivery owns it); saves of different messages may.
/// </summary>
public sealed class DeliveryStateStore
{
    internal const string TempSuffix = ".tmp";
    private static readonly byte[] Magic = "POSTERN-STATE 1\n"u8.ToArray();

    private readonly MessageSpool _spool;
    private readonly DirectorySync _sync;
    private long _tempSequence;

    internal DeliveryStateStore(MessageSpool spool, string directory)
    {
        _spool = spool;
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        _sync = new DirectorySync(directory, spool.Logger);
    }

    /// <summary>The state directory, <c>state/</c> under the spool root.</summary>
    public string Directory { get; }

    internal DirectorySync Sync => _sync;

    /// <summary>
    /// The state of a committed entry. An entry without a state (never attempted, or the state was
    /// damaged) gets every recipient Pending, created from its envelope.
    /// </summary>
    /// <exception cref="FileNotFoundException">No committed entry has this id.</exception>
    /// <exception cref="InvalidDataException">The entry is damaged.</exception>
    public DeliveryState Load(string queueId)
    {
        Envelope envelope;
        using (SpoolMessage message = _spool.Open(queueId))
        {
            envelope = message.Envelope;
        }
        return Load(envelope);
    }

    /// <summary>The state for <paramref name="envelope"/> (already read from its entry); see <see cref="Load(string)"/>.</summary>
    public DeliveryState Load(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        string path = StatePath(envelope.QueueId);
        // Most messages are delivered at their first attempt and never have a state: a stat(2)
        // answers that without the cost of an exception.
        if (!File.Exists(path)) return DeliveryState.CreatePending(envelope);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return DeliveryState.CreatePending(envelope);
        }

        if (!TryParse(bytes, envelope.QueueId, out DeliveryState? state, out string? error))
        {
            // At least once: a recipient whose state is unknown is attempted again. The damaged
            // file is still there (Stored), to be replaced or removed with the entry.
            SpoolLog.StateDamaged(_spool.Logger, envelope.QueueId, error);
            return DeliveryState.CreatePending(envelope) with { Stored = true };
        }
        if (!state.Matches(envelope))
        {
            SpoolLog.StateDamaged(_spool.Logger, envelope.QueueId, "recipients differ from the envelope");
            return DeliveryState.CreatePending(envelope) with { Stored = true };
        }
        return state with { Stored = true };
    }

    /// <summary>
    /// Replaces the stored state atomically; completes once the new state is durable (file and
    /// directory fsynced). Throws <see cref="IOException"/> when that fails; the old state is then kept.
    /// </summary>
    public async Task SaveAsync(DeliveryState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        cancellationToken.ThrowIfCancellationRequested();
        string path = StatePath(state.QueueId);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(state, SpoolJsonContext.Default.DeliveryState);
        string tempPath = Path.Combine(Directory, $"{state.QueueId}.{Interlocked.Increment(ref _tempSequence)}{TempSuffix}");
        try
        {
            using (SafeFileHandle handle = File.OpenHandle(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, new ReadOnlyMemory<byte>[] { Magic, json, "\n"u8.ToArray() }, 0);
                RandomAccess.FlushToDisk(handle);
            }
            // rename(2) over the old state: readers see the old or the new file, whole.
            File.Move(tempPath, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tempPath);
            SpoolLog.StateSaveFailed(_spool.Logger, state.QueueId, e);
            throw e as IOException ?? new IOException(e.Message, e);
        }
        await _sync.SyncAsync().ConfigureAwait(false);
    }

    /// <summary>Removes the state of a message; blocks until the removal is durable. A missing state is not an error.</summary>
    public void Delete(string queueId) => DeleteAsync(queueId).GetAwaiter().GetResult();

    /// <summary>Removes the state of a message; completes once the removal is durable.</summary>
    public Task DeleteAsync(string queueId)
    {
        File.Delete(StatePath(queueId));
        return _sync.SyncAsync();
    }

    /// <summary>
    /// At start, after the queue was recovered: removes temporary files, states whose entry is gone,
    /// and moves damaged states to <c>corrupt/&lt;id&gt;.state</c> (their entry then starts all Pending).
    /// </summary>
    internal (int OrphansRemoved, int DamagedQuarantined) Recover(IReadOnlySet<string> queueIds)
    {
        int orphans = 0, damaged = 0, temporary = 0;
        foreach (string path in System.IO.Directory.EnumerateFileSystemEntries(Directory))
        {
            string name = Path.GetFileName(path);
            if (System.IO.Directory.Exists(path))
            {
                System.IO.Directory.Delete(path, recursive: true);
                orphans++;
                continue;
            }
            if (name.EndsWith(TempSuffix, StringComparison.Ordinal))
            {
                // A save that did not reach its rename: the previous state is still in place.
                File.Delete(path);
                temporary++;
                continue;
            }
            if (!queueIds.Contains(name))
            {
                File.Delete(path);
                SpoolLog.OrphanStateRemoved(_spool.Logger, name);
                orphans++;
                continue;
            }
            if (!TryParse(File.ReadAllBytes(path), name, out _, out string? error))
            {
                string target = Path.Combine(_spool.CorruptDirectory, name + ".state");
                File.Move(path, target, overwrite: true);
                SpoolLog.StateDamaged(_spool.Logger, name, error);
                damaged++;
            }
        }
        if (damaged > 0)
        {
            using var corruptSync = new DirectorySync(_spool.CorruptDirectory, _spool.Logger);
            corruptSync.Sync();
        }
        if (orphans + damaged + temporary > 0)
        {
            _sync.Sync();
        }
        return (orphans, damaged);
    }

    internal static bool TryParse(
        byte[] bytes,
        string queueId,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DeliveryState? state,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        state = null;
        if (!bytes.AsSpan().StartsWith(Magic))
        {
            error = "no POSTERN-STATE 1 header";
            return false;
        }
        try
        {
            state = JsonSerializer.Deserialize(bytes.AsSpan(Magic.Length), SpoolJsonContext.Default.DeliveryState);
        }
        catch (JsonException e)
        {
            error = "bad JSON: " + e.Message;
            return false;
        }
        if (state is null || state.Recipients is null || state.Recipients.Any(r => r is null || r.Address is null))
        {
            error = "incomplete state";
            state = null;
            return false;
        }
        if (state.QueueId != queueId)
        {
            error = $"queue id {state.QueueId} differs from the file name";
            state = null;
            return false;
        }
        error = null;
        return true;
    }

    internal string StatePath(string queueId)
    {
        if (!QueueIdGenerator.IsValid(queueId))
        {
            throw new ArgumentException($"'{queueId}' is not a queue id.", nameof(queueId));
        }
        return Path.Combine(Directory, queueId);
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            SpoolLog.PartialEntryRemovalFailed(_spool.Logger, path, e);
        }
    }
}

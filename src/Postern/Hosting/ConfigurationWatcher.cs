using System.Runtime.InteropServices;

namespace Postern.Hosting;

/// <summary>
/// Reloads the gateway's configuration when its file changes (file system events, with a poll of
/// the file's time and size as a fallback, since editors and deployment tools replace files in
/// different ways) and on SIGHUP, as administrators of Postfix expect from <c>postfix reload</c>.
/// </summary>
public sealed class ConfigurationWatcher : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    private readonly string _path;
    private readonly Func<Task> _reload;
    private readonly FileSystemWatcher? _watcher;
    private readonly PosixSignalRegistration? _hangup;
    private readonly Timer _poll;
    private readonly SemaphoreSlim _serial = new(1, 1);
    private (DateTime, long) _seen;
    private int _pending;

    public ConfigurationWatcher(string path, Func<Task> reload, bool handleSignal = true)
    {
        _path = Path.GetFullPath(path);
        _reload = reload;
        _seen = Stamp();
        string directory = Path.GetDirectoryName(_path)!;
        _watcher = new FileSystemWatcher(directory, Path.GetFileName(_path))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName | NotifyFilters.CreationTime,
        };
        _watcher.Changed += (_, _) => Schedule();
        _watcher.Created += (_, _) => Schedule();
        _watcher.Renamed += (_, _) => Schedule();
        _watcher.EnableRaisingEvents = true;
        _poll = new Timer(_ => { if (Stamp() != _seen) Schedule(); }, null, PollInterval, PollInterval);
        if (handleSignal)
        {
            _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true; // SIGHUP means reload, not terminate
                _ = ReloadAsync();
            });
        }
    }

    private (DateTime, long) Stamp()
    {
        try
        {
            var info = new FileInfo(_path);
            return info.Exists ? (info.LastWriteTimeUtc, info.Length) : default;
        }
        catch (IOException)
        {
            return default;
        }
    }

    private void Schedule()
    {
        // Several events arrive for one save; one reload after they settle is enough.
        if (Interlocked.Exchange(ref _pending, 1) == 1) return;
        _ = Task.Delay(Debounce).ContinueWith(async _ =>
        {
            Interlocked.Exchange(ref _pending, 0);
            await ReloadAsync().ConfigureAwait(false);
        }, TaskScheduler.Default);
    }

    private async Task ReloadAsync()
    {
        await _serial.WaitAsync().ConfigureAwait(false);
        try
        {
            _seen = Stamp();
            await _reload().ConfigureAwait(false);
        }
        finally
        {
            _serial.Release();
        }
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _hangup?.Dispose();
        _poll.Dispose();
    }
}

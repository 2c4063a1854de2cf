using Microsoft.Extensions.Logging;

namespace Postern.Tls;

/// <summary>
/// Notices changes to certificate and key files and asks for a reload of their source after a
/// short quiet period. Editors, <c>cp</c> and tools like certbot replace files in different ways
/// (write in place, rename over, symlink swap), so directory events are backed by a poll of each
/// file's last-write time and size.
/// </summary>
internal sealed class CertificateFileWatcher : IDisposable
{
    private readonly Dictionary<string, int[]> _sourcesByPath;
    private readonly Dictionary<int, string[]> _pathsBySource;
    private readonly Func<int, bool> _reload;
    private readonly ILogger _logger;
    private readonly TimeSpan _debounce;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Dictionary<int, Timer> _pending = [];
    private readonly Dictionary<string, (DateTime LastWrite, long Length)> _stamps = [];
    private readonly Lock _gate = new();
    private readonly Timer _poll;
    private bool _disposed;

    public CertificateFileWatcher(IReadOnlyList<(string Path, int Source)> files, Func<int, bool> reload, ILogger logger, TimeSpan pollInterval, TimeSpan debounce)
    {
        _reload = reload;
        _logger = logger;
        _debounce = debounce;
        _sourcesByPath = files.GroupBy(f => f.Path, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(f => f.Source).Distinct().ToArray(), StringComparer.Ordinal);
        _pathsBySource = files.GroupBy(f => f.Source)
            .ToDictionary(g => g.Key, g => g.Select(f => f.Path).Distinct(StringComparer.Ordinal).ToArray());
        foreach (var path in _sourcesByPath.Keys)
        {
            _stamps[path] = Stamp(path);
        }

        foreach (var directory in _sourcesByPath.Keys.Select(Path.GetDirectoryName).Distinct(StringComparer.Ordinal))
        {
            if (directory is null)
            {
                continue;
            }

            try
            {
                var watcher = new FileSystemWatcher(directory)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                    IncludeSubdirectories = false,
                };
                watcher.Changed += OnFileEvent;
                watcher.Created += OnFileEvent;
                watcher.Renamed += OnFileEvent;
                watcher.Error += OnWatcherError;
                watcher.EnableRaisingEvents = true;
                _watchers.Add(watcher);
            }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                _logger.CannotWatchDirectory(directory, e);
            }
        }

        _poll = new Timer(_ => Poll(), null, pollInterval, pollInterval);
        _logger.WatchingCertificateFiles(_sourcesByPath.Count);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var timer in _pending.Values)
            {
                timer.Dispose();
            }

            _pending.Clear();
        }

        _poll.Dispose();
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        if (_sourcesByPath.TryGetValue(e.FullPath, out var sources))
        {
            foreach (var source in sources)
            {
                Schedule(source, e.FullPath);
            }
        }
    }

    private void OnWatcherError(object sender, ErrorEventArgs e)
    {
        // Events were lost (buffer overflow): reload everything, it is cheap.
        foreach (var (source, paths) in _pathsBySource)
        {
            Schedule(source, paths[0]);
        }
    }

    private void Poll()
    {
        foreach (var path in _sourcesByPath.Keys)
        {
            var stamp = Stamp(path);
            bool changed;
            lock (_gate)
            {
                changed = _stamps[path] != stamp;
            }

            if (changed)
            {
                foreach (var source in _sourcesByPath[path])
                {
                    Schedule(source, path);
                }
            }
        }
    }

    private void Schedule(int source, string path)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _logger.CertificateFileChanged(path);
            // Each event pushes the reload back, so a file written in several steps is read once, whole.
            if (_pending.TryGetValue(source, out var timer))
            {
                timer.Change(_debounce, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _pending[source] = new Timer(_ => Fire(source), null, _debounce, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void Fire(int source)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            if (_pending.Remove(source, out var timer))
            {
                timer.Dispose();
            }

            // Stamp before reading: a change made during the load is seen by the next poll.
            foreach (var path in _pathsBySource[source])
            {
                _stamps[path] = Stamp(path);
            }
        }

        _reload(source);
    }

    private static (DateTime LastWrite, long Length) Stamp(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (DateTime.MinValue, -1);
        }
    }
}

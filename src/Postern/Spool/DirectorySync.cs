using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Postern.Spool;

/// <summary>
/// Group commit of one directory's entries: a rename or unlink is durable only once the directory
/// itself is fsynced. One fsync runs at a time; the requests that arrive while it runs are all
/// covered by the next one, so N concurrent commits cost far fewer than N directory fsyncs.
/// </summary>
internal sealed class DirectorySync : IDisposable
{
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly SafeDirectoryHandle _handle;
    private readonly Lock _gate = new();
    private TaskCompletionSource? _next;
    private Task _idle = Task.CompletedTask;
    private TaskCompletionSource? _running;
    private long _syncCount;

    public DirectorySync(string path, ILogger logger)
    {
        _path = path;
        _logger = logger;
        _handle = SafeDirectoryHandle.Open(path);
    }

    /// <summary>Directory fsyncs performed so far (how well commits were batched).</summary>
    public long SyncCount => Volatile.Read(ref _syncCount);

    /// <summary>
    /// Completes once an fsync that started after this call has finished, i.e. once every change
    /// made to the directory before the call is durable.
    /// </summary>
    public Task SyncAsync()
    {
        lock (_gate)
        {
            _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task task = _next.Task;
            if (_running is null)
            {
                _running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _idle = _running.Task;
                ThreadPool.UnsafeQueueUserWorkItem(static self => self.Run(), this, preferLocal: false);
            }
            return task;
        }
    }

    /// <summary>Fsyncs now, on the calling thread (recovery, before any writer exists).</summary>
    public void Sync()
    {
        if (!_handle.TrySync(out string? error))
        {
            SpoolLog.DirectorySyncFailed(_logger, _path, error);
            throw new IOException($"fsync of spool directory {_path} failed: {error}");
        }
    }

    /// <summary>Waits for a running batch to finish.</summary>
    public Task WhenIdleAsync()
    {
        lock (_gate)
        {
            return _idle;
        }
    }

    public void Dispose() => _handle.Dispose();

    private void Run()
    {
        while (true)
        {
            TaskCompletionSource batch;
            lock (_gate)
            {
                if (_next is null)
                {
                    _running!.SetResult();
                    _running = null;
                    return;
                }
                batch = _next;
                _next = null;
            }

            string? error;
            try
            {
                _handle.TrySync(out error);
            }
            catch (ObjectDisposedException)
            {
                error = "the spool is disposed";
            }
            Interlocked.Increment(ref _syncCount);
            if (error is null)
            {
                batch.SetResult();
            }
            else
            {
                SpoolLog.DirectorySyncFailed(_logger, _path, error);
                batch.SetException(new IOException($"fsync of spool directory {_path} failed: {error}"));
            }
        }
    }
}

/// <summary>A directory opened with open(2) for fsync(2); .NET has no managed way to fsync a directory.</summary>
internal sealed partial class SafeDirectoryHandle : SafeHandle
{
    private const int ORdOnly = 0;
    private const int OCloExec = 0x80000;

    private SafeDirectoryHandle(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    public static SafeDirectoryHandle Open(string path)
    {
        int fd = open(path, ORdOnly | ODirectory | OCloExec);
        if (fd < 0)
        {
            throw new IOException($"Cannot open spool directory {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        return new SafeDirectoryHandle(fd);
    }

    /// <summary>fsync(2) of the directory; <paramref name="error"/> is the errno text on failure.</summary>
    public bool TrySync([System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        if (fsync(this) == 0)
        {
            error = null;
            return true;
        }
        error = Marshal.GetLastPInvokeErrorMessage();
        return false;
    }

    protected override bool ReleaseHandle() => close((int)handle) == 0;

    // O_DIRECTORY differs by architecture (asm-generic vs x86 and arm).
    private static int ODirectory => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm or Architecture.Arm64 => 0x4000,
        _ => 0x10000,
    };

#pragma warning disable SA1300, IDE1006 // libc names
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(SafeDirectoryHandle fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
#pragma warning restore SA1300, IDE1006
}

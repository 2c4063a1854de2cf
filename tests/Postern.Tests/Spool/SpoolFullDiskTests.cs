using System.Diagnostics;
using Postern.Spool;
using Xunit.Abstractions;

namespace Postern.Tests.Spool;

/// <summary>A real full disk: the spool on a 1 MiB tmpfs (needs permission to mount, e.g. root).</summary>
public sealed class SpoolFullDiskTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempSpoolDirectory _dir = new();
    private bool _mounted;

    public void Dispose()
    {
        if (_mounted)
        {
            Run("umount", _dir.Path);
        }
        _dir.Dispose();
    }

    [Fact]
    public async Task Full_disk_fails_the_entry_and_keeps_earlier_commits()
    {
        if (!OperatingSystem.IsLinux() || Run("mount", $"-t tmpfs -o size=1m tmpfs {_dir.Path}") != 0)
        {
            output.WriteLine("Skipped: cannot mount a tmpfs here (needs Linux and root).");
            return;
        }
        _mounted = true;

        await using var spool = new MessageSpool(_dir.Path);
        var committed = new List<(string Id, byte[] Bytes)>();
        for (int i = 0; i < 3; i++)
        {
            byte[] bytes = SpoolSamples.Message(100_000, seed: 10 + i);
            committed.Add((await SpoolSamples.CommitAsync(spool, bytes), bytes));
        }

        string failedId = spool.NewQueueId();
        IOException error = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using SpoolWriter writer = spool.CreateWriter(SpoolSamples.Envelope(failedId));
            byte[] chunk = SpoolSamples.Message(4096, seed: 99);
            for (int i = 0; i < 1024; i++) // 4 MiB into 1 MiB
            {
                await writer.WriteAsync(chunk);
            }
            await writer.CommitAsync();
        });
        output.WriteLine($"IOException: {error.Message}");

        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir.Tmp));
        Assert.Equal(committed.Select(c => c.Id), spool.ListQueueIds());
        foreach ((string id, byte[] bytes) in committed)
        {
            Assert.Equal(bytes, SpoolSamples.ReadContent(spool, id));
        }

        // The failed entry's space is given back: a message that fits commits again.
        byte[] after = SpoolSamples.Message(50_000, seed: 20);
        string afterId = await SpoolSamples.CommitAsync(spool, after);
        Assert.Equal(after, SpoolSamples.ReadContent(spool, afterId));
    }

    private static int Run(string command, string arguments)
    {
        try
        {
            using Process process = Process.Start(new ProcessStartInfo(command, arguments)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}

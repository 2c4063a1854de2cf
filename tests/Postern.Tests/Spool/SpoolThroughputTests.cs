using System.Diagnostics;
using Postern.Spool;
using Xunit.Abstractions;

namespace Postern.Tests.Spool;

/// <summary>Commit rate of 10 KB messages; printed, not asserted (it measures the disk).</summary>
public sealed class SpoolThroughputTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempSpoolDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(32)]
    public async Task Commits_per_second_of_10_KB_messages(int writers)
    {
        await using var spool = new MessageSpool(_dir.Path);
        byte[] message = SpoolSamples.Message(10 * 1024, seed: 1);
        await SpoolSamples.CommitAsync(spool, message); // warm up
        long syncsBefore = spool.QueueSync.SyncCount;

        var duration = TimeSpan.FromSeconds(2);
        var clock = Stopwatch.StartNew();
        int[] counts = await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int n = 0;
            while (clock.Elapsed < duration)
            {
                await SpoolSamples.CommitAsync(spool, message, chunk: 4096);
                n++;
            }
            return n;
        })));
        clock.Stop();

        int commits = counts.Sum();
        long syncs = spool.QueueSync.SyncCount - syncsBefore;
        output.WriteLine($"{writers} writer(s): {commits} commits in {clock.Elapsed.TotalSeconds:F2} s = {commits / clock.Elapsed.TotalSeconds:F0} commits/s; {syncs} directory fsyncs ({(double)commits / Math.Max(1, syncs):F1} commits per fsync)");
        Assert.Equal(commits + 1, spool.ListQueueIds().Count);
    }
}

using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Spool;
using Postern.Tls;

// What a large deferred queue costs the scheduler: N messages whose recipients all wait for a
// retry a day from now are indexed at start; then the process sits idle. Prints the time to index,
// the managed heap and working set, and the CPU time used while idle.
int count = args.Length > 0 ? int.Parse(args[0]) : 100_000;
string directory = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), $"postern-queuebench-{Environment.ProcessId}");
Directory.CreateDirectory(directory);

var spool = new MessageSpool(Path.Combine(directory, "spool"));
byte[] body = Encoding.ASCII.GetBytes("From: a@example.org\r\nTo: b@example.net\r\nSubject: waiting\r\n\r\n" + new string('x', 2000) + "\r\n");
DateTimeOffset now = DateTimeOffset.UtcNow;
var clock = Stopwatch.StartNew();
var writes = new List<Task>();
using (var gate = new SemaphoreSlim(64))
{
    for (int i = 0; i < count; i++)
    {
        await gate.WaitAsync();
        writes.Add(Task.Run(async () =>
        {
            try
            {
                string id = spool.NewQueueId();
                var envelope = new Envelope
                {
                    QueueId = id,
                    Sender = "a@example.org",
                    Recipients = [new EnvelopeRecipient { Address = $"b{id}@example.net" }],
                    ClientAddress = "127.0.0.1",
                    HeloName = "bench",
                    Protocol = "ESMTP",
                    Listener = "127.0.0.1:25",
                    ReceivedAt = now,
                };
                await using (SpoolWriter writer = spool.CreateWriter(envelope))
                {
                    await writer.WriteAsync(body);
                    await writer.CommitAsync();
                }
                DeliveryState state = DeliveryState.CreatePending(envelope);
                state = state.WithRecipient(0, state.Recipients[0] with
                {
                    Status = RecipientStatus.Deferred,
                    Attempts = 3,
                    NextAttemptAt = now.AddDays(1),
                    LastReply = RecordedReply.Local(451, new Postern.Smtp.EnhancedStatusCode(4, 4, 1), "connection refused"),
                });
                await spool.DeliveryStates.SaveAsync(state);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
    await Task.WhenAll(writes);
}
Console.WriteLine($"queued {count} deferred messages in {clock.Elapsed.TotalSeconds:F1} s");
await spool.DisposeAsync();
writes.Clear();
GC.Collect();
GC.WaitForPendingFinalizers();
GC.Collect();

// A fresh process state, as after a restart: recover, index, then idle.
var process = Process.GetCurrentProcess();
long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
var fresh = new MessageSpool(Path.Combine(directory, "spool"));
clock.Restart();
SpoolRecovery recovery = fresh.Recover();
var agent = new DeliveryAgent("bench.example", new MxResolver(new DnsSettings { Servers = ["127.0.0.1:9"] }), _ => new TrustPolicy(false, []), _ => null, new SmtpClientLimits(), NullLogger.Instance);
var scheduler = new QueueScheduler(fresh, agent, () => new OutboundRouter(new PosternConfiguration()), new RetrySchedule(new QueueSettings()),
    new DeliveryStatusNotificationBuilder("bench.example"), "bench.example", new SchedulerLimits(), TimeProvider.System, NullLogger.Instance);
scheduler.Start();
Console.WriteLine($"recovered {recovery.Messages} and indexed {scheduler.Count} in {clock.Elapsed.TotalSeconds:F1} s");

long heapIndexed = GC.GetTotalMemory(forceFullCollection: true);
process.Refresh();
TimeSpan cpuBefore = process.TotalProcessorTime;
await Task.Delay(TimeSpan.FromSeconds(10));
process.Refresh();
TimeSpan idleCpu = process.TotalProcessorTime - cpuBefore;
Console.WriteLine($"managed heap for the index: {(heapIndexed - heapBefore) / 1024.0 / 1024.0:F1} MiB ({(heapIndexed - heapBefore) / (double)count:F0} bytes per message)");
Console.WriteLine($"working set: {process.WorkingSet64 / 1024.0 / 1024.0:F0} MiB");
Console.WriteLine($"CPU while idle for 10 s: {idleCpu.TotalMilliseconds:F0} ms");
await scheduler.DisposeAsync();
await agent.DisposeAsync();
await fresh.DisposeAsync();
if (args.Length <= 1) Directory.Delete(directory, recursive: true);

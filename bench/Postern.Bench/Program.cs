using System.Diagnostics;
using System.Globalization;
using System.Net;
using Postern.Bench;

// Load generator for the acceptance benchmark: N concurrent STARTTLS clients send the same 10 KB
// message; each acceptance is timed from sending the end of data to receiving the 250.
Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(Options.Usage);
    return 2;
}
if (options.Help)
{
    Console.WriteLine(Options.Usage);
    return 0;
}

var message = BenchMessage.Build(options.Size, options.Sender, options.Recipient);
var run = new BenchRun(options, message);
BenchResult result = await run.RunAsync();
result.Print(options, message);
return result.Count == 0 ? 1 : 0;

internal sealed class Options
{
    public const string Usage = """
        usage: Postern.Bench --server HOST:PORT [options]
          --server-name NAME               SNI name sent in the TLS handshake (default mx.bench.test)
          --connections N                  concurrent clients (default 16)
          --duration SECONDS               measured time after the warm-up (default 20)
          --messages N                     measure exactly N messages instead of a duration
          --warmup SECONDS                 time not measured at the start (default 3)
          --size BYTES                     message size (default 10240)
          --from ADDRESS / --to ADDRESS    envelope (default sender@client.test / user@bench.test)
          --new-connection-per-message     each message on a fresh connection with a full handshake
          --server-pid PID                 also report the CPU used by PID and its descendants
          --label TEXT                     a name for the RESULT line
        """;

    public IPEndPoint Server { get; private set; } = new(IPAddress.Loopback, 25);
    public string ServerName { get; private set; } = "mx.bench.test";
    public int Connections { get; private set; } = 16;
    public double DurationSeconds { get; private set; } = 20;
    public int Messages { get; private set; }
    public double WarmupSeconds { get; private set; } = 3;
    public int Size { get; private set; } = 10240;
    public string Sender { get; private set; } = "sender@client.test";
    public string Recipient { get; private set; } = "user@bench.test";
    public bool NewConnectionPerMessage { get; private set; }
    public int? ServerPid { get; private set; }
    public string Label { get; private set; } = "server";
    public bool Help { get; private set; }
    public string Mode => NewConnectionPerMessage ? "new-connection" : "persistent";

    public static Options Parse(string[] args)
    {
        var o = new Options();
        bool haveServer = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int(int min) => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= min
                ? v : throw new ArgumentException($"{args[i - 1]}: expected a whole number ≥ {min}");
            double Seconds() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0
                ? v : throw new ArgumentException($"{args[i - 1]}: expected a number of seconds");
            switch (args[i])
            {
                case "--server":
                    o.Server = IPEndPoint.TryParse(Value(), out IPEndPoint? ep) && ep.Port != 0
                        ? ep : throw new ArgumentException("--server: expected ADDRESS:PORT");
                    haveServer = true;
                    break;
                case "--server-name": o.ServerName = Value(); break;
                case "--connections": o.Connections = Int(1); break;
                case "--duration": o.DurationSeconds = Seconds(); break;
                case "--messages": o.Messages = Int(1); break;
                case "--warmup": o.WarmupSeconds = Seconds(); break;
                case "--size": o.Size = Int(1024); break;
                case "--from": o.Sender = Value(); break;
                case "--to": o.Recipient = Value(); break;
                case "--new-connection-per-message": o.NewConnectionPerMessage = true; break;
                case "--server-pid": o.ServerPid = Int(1); break;
                case "--label": o.Label = Value(); break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (!haveServer && !o.Help)
        {
            throw new ArgumentException("--server is required");
        }
        return o;
    }
}

internal sealed class BenchRun(Options options, BenchMessage message)
{
    private readonly long _measureStart = Stopwatch.GetTimestamp() + (long)(options.WarmupSeconds * Stopwatch.Frequency);
    private long _measureEnd = long.MaxValue;
    private long _issued;
    private volatile bool _stop;
    private int _errors;
    private readonly Dictionary<string, int> _errorKinds = [];

    public async Task<BenchResult> RunAsync()
    {
        if (options.Messages == 0)
        {
            _measureEnd = _measureStart + (long)(options.DurationSeconds * Stopwatch.Frequency);
        }
        // A generous bound so that a stuck server ends the run instead of hanging it.
        double bound = options.WarmupSeconds + (options.Messages == 0 ? options.DurationSeconds : 600) + 60;
        using var hardStop = new CancellationTokenSource(TimeSpan.FromSeconds(bound));
        var sampler = new CpuSampler(options.ServerPid);

        var workers = new Worker[options.Connections];
        var tasks = new Task[workers.Length];
        for (int i = 0; i < workers.Length; i++)
        {
            var worker = new Worker();
            workers[i] = worker;
            tasks[i] = Task.Run(() => RunWorkerAsync(worker, hardStop.Token));
        }

        // CPU is sampled over the measured window only.
        TimeSpan untilStart = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _measureStart);
        if (untilStart > TimeSpan.Zero)
        {
            await Task.Delay(untilStart);
        }
        CpuSampler.Sample before = sampler.Take();
        long sampledFrom = Stopwatch.GetTimestamp();
        CpuSampler.Sample after = before;
        long sampledTo = sampledFrom;
        if (options.Messages == 0)
        {
            TimeSpan untilEnd = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _measureEnd);
            if (untilEnd > TimeSpan.Zero)
            {
                await Task.Delay(untilEnd);
            }
            after = sampler.Take();
            sampledTo = Stopwatch.GetTimestamp();
            _stop = true;
            await Task.WhenAll(tasks);
        }
        else
        {
            await Task.WhenAll(tasks);
            after = sampler.Take();
            sampledTo = Stopwatch.GetTimestamp();
        }

        long windowEnd = options.Messages == 0 ? _measureEnd : workers.Max(w => w.LastCompletion);
        double seconds = Math.Max((windowEnd - _measureStart) / (double)Stopwatch.Frequency, 1e-9);
        long[] latencies = [.. workers.SelectMany(w => w.Latencies)];
        long[] sessions = [.. workers.SelectMany(w => w.Sessions)];
        return new BenchResult(latencies, sessions, _errors, _errorKinds, seconds,
            CpuSampler.Between(before, after, Math.Max((sampledTo - sampledFrom) / (double)Stopwatch.Frequency, 1e-9)));
    }

    /// <summary>Claims the next message; false when the run is over.</summary>
    private bool Next()
    {
        if (_stop)
        {
            return false;
        }
        long now = Stopwatch.GetTimestamp();
        if (now >= _measureEnd)
        {
            return false;
        }
        if (options.Messages > 0 && now >= _measureStart && Interlocked.Increment(ref _issued) > options.Messages)
        {
            _stop = true;
            return false;
        }
        return true;
    }

    private bool InWindow(long completed) => completed >= _measureStart && completed <= _measureEnd;

    private async Task RunWorkerAsync(Worker worker, CancellationToken cancellationToken)
    {
        while (Next())
        {
            try
            {
                if (options.NewConnectionPerMessage)
                {
                    long opened = Stopwatch.GetTimestamp();
                    await using SmtpConnection connection = await SmtpConnection.OpenAsync(options.Server, options.ServerName, cancellationToken);
                    long latency = await connection.SendMessageAsync(message, cancellationToken);
                    long accepted = Stopwatch.GetTimestamp();
                    await connection.QuitAsync(cancellationToken);
                    worker.Record(latency, accepted, InWindow(accepted), Stopwatch.GetTimestamp() - opened);
                }
                else
                {
                    await using SmtpConnection connection = await SmtpConnection.OpenAsync(options.Server, options.ServerName, cancellationToken);
                    do
                    {
                        long latency = await connection.SendMessageAsync(message, cancellationToken);
                        long accepted = Stopwatch.GetTimestamp();
                        worker.Record(latency, accepted, InWindow(accepted), session: null);
                    }
                    while (Next());
                    await connection.QuitAsync(cancellationToken);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (_stop && options.Messages == 0 && Stopwatch.GetTimestamp() >= _measureEnd)
                {
                    return; // a failure while finishing after the window does not count
                }
                lock (_errorKinds)
                {
                    _errors++;
                    string kind = e.GetType().Name + ": " + e.Message;
                    _errorKinds[kind] = _errorKinds.GetValueOrDefault(kind) + 1;
                }
                await Task.Delay(50, CancellationToken.None);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private sealed class Worker
    {
        public List<long> Latencies { get; } = new(64 * 1024);
        public List<long> Sessions { get; } = [];
        public long LastCompletion { get; private set; }

        public void Record(long latency, long completed, bool inWindow, long? session)
        {
            if (!inWindow)
            {
                return;
            }
            Latencies.Add(latency);
            if (session is long s)
            {
                Sessions.Add(s);
            }
            LastCompletion = completed;
        }
    }
}

internal sealed record BenchResult(
    long[] Latencies, long[] Sessions, int Errors, Dictionary<string, int> ErrorKinds, double Seconds,
    (double Self, double Server, double MachineBusyFraction) Cpu)
{
    public int Count => Latencies.Length;

    public void Print(Options options, BenchMessage message)
    {
        Array.Sort(Latencies);
        Array.Sort(Sessions);
        double rate = Count / Seconds;
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Format(c,
            "{0} {1}: {2} connections, {3}-byte messages, {4}, {5:F1} s measured after {6:F1} s warm-up",
            options.Label, options.Mode, options.Connections, message.MessageSize, SmtpConnection.Protocol, Seconds, options.WarmupSeconds));
        Console.WriteLine(string.Format(c, "  accepted {0} messages, {1} errors: {2:F1} msgs/s", Count, Errors, rate));
        Console.WriteLine(string.Format(c, "  acceptance latency (end of data to 250): p50 {0:F2} ms, p90 {1:F2} ms, p99 {2:F2} ms, max {3:F2} ms",
            Ms(Latencies, 0.50), Ms(Latencies, 0.90), Ms(Latencies, 0.99), Ms(Latencies, 1.0)));
        if (Sessions.Length > 0)
        {
            Console.WriteLine(string.Format(c, "  whole session (connect, TLS, message, QUIT): p50 {0:F2} ms, p99 {1:F2} ms",
                Ms(Sessions, 0.50), Ms(Sessions, 0.99)));
        }
        Console.WriteLine(string.Format(c, "  CPU over the window: generator {0:F2} cores, {1} machine busy {2:F0}% of all cores",
            Cpu.Self, options.ServerPid is null ? "" : string.Format(c, "server {0:F2} cores,", Cpu.Server), Cpu.MachineBusyFraction * 100));
        foreach ((string kind, int n) in ErrorKinds.OrderByDescending(k => k.Value).Take(5))
        {
            Console.WriteLine($"  error x{n}: {kind}");
        }
        Console.WriteLine(string.Format(c,
            "RESULT label={0} mode={1} count={2} errors={3} rate={4:F1} p50={5:F2} p99={6:F2} gen_cpu={7:F2} server_cpu={8:F2} machine_busy={9:F0}",
            options.Label, options.Mode, Count, Errors, rate, Ms(Latencies, 0.50), Ms(Latencies, 0.99),
            Cpu.Self, Cpu.Server, Cpu.MachineBusyFraction * 100));
    }

    /// <summary>Nearest-rank percentile of sorted Stopwatch ticks, in milliseconds.</summary>
    private static double Ms(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        int rank = Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[rank] * 1000.0 / Stopwatch.Frequency;
    }
}

using System.Globalization;

namespace Postern.Bench;

/// <summary>
/// CPU time from /proc: of this process, of a server process and its descendants (Postfix's master
/// and the smtpd and cleanup processes it starts; children already reaped count through the
/// parent's cutime/cstime), and of the whole machine.
/// </summary>
internal sealed class CpuSampler(int? serverPid)
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    public readonly record struct Sample(double Self, double Server, double MachineBusy, double MachineTotal);

    public Sample Take()
    {
        double self = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        double server = serverPid is int pid ? TreeSeconds(pid) : 0;
        (double busy, double total) = Machine();
        return new Sample(self, server, busy, total);
    }

    /// <summary>Cores used between two samples: (self, server, machine busy fraction of all cores).</summary>
    public static (double Self, double Server, double MachineBusyFraction) Between(Sample a, Sample b, double seconds)
    {
        double total = b.MachineTotal - a.MachineTotal;
        return ((b.Self - a.Self) / seconds, (b.Server - a.Server) / seconds,
            total > 0 ? (b.MachineBusy - a.MachineBusy) / total : 0);
    }

    private static double TreeSeconds(int root)
    {
        var parents = new Dictionary<int, int>();
        var times = new Dictionary<int, double>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            // Fields after the command name in parentheses: state ppid ... utime(14) stime(15) cutime(16) cstime(17).
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            double ticks = 0;
            for (int i = 11; i <= 14; i++)
            {
                ticks += double.Parse(fields[i], CultureInfo.InvariantCulture);
            }
            times[pid] = ticks / TicksPerSecond;
        }

        double sum = 0;
        foreach ((int pid, double seconds) in times)
        {
            for (int p = pid, depth = 0; p > 1 && depth < 64; depth++)
            {
                if (p == root)
                {
                    sum += seconds;
                    break;
                }
                if (!parents.TryGetValue(p, out p))
                {
                    break;
                }
            }
        }
        return sum;
    }

    private static (double Busy, double Total) Machine()
    {
        string first = File.ReadLines("/proc/stat").First();
        string[] f = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double total = 0;
        for (int i = 1; i < Math.Min(f.Length, 9); i++)
        {
            total += double.Parse(f[i], CultureInfo.InvariantCulture);
        }
        double idle = double.Parse(f[4], CultureInfo.InvariantCulture) + double.Parse(f[5], CultureInfo.InvariantCulture);
        return (total - idle, total);
    }
}

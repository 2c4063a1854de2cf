using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Tests.Interop;

/// <summary>
/// A real unbound on 127.0.0.1 and a free high port, answering a private "test." zone from the
/// records a test gives (PEERS.md, DNS). It runs in the foreground as a child process, never
/// touches the system resolver, and is killed on dispose.
/// </summary>
public sealed class UnboundServer : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    private readonly Process _process;
    private readonly StringBuilder _log;
    private readonly string _directory;

    private UnboundServer(Process process, StringBuilder log, string directory, int port, string configuration)
    {
        _process = process;
        _log = log;
        _directory = directory;
        Port = port;
        Configuration = configuration;
    }

    /// <summary>The port unbound answers on (UDP and TCP, 127.0.0.1).</summary>
    public int Port { get; }

    /// <summary>The server as <c>gateway.dns.servers</c> takes it: "127.0.0.1:port".</summary>
    public string Server => $"127.0.0.1:{Port}";

    /// <summary>The unbound.conf it runs with.</summary>
    public string Configuration { get; }

    /// <summary>What unbound has written to standard output and error so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// Starts unbound with <c>local-zone: "test." static</c> and one <c>local-data</c> line per
    /// record (e.g. <c>"example.test. MX 10 mx.example.test."</c>); any name under "test." without
    /// data is NXDOMAIN, a name with data but not of the asked type is NODATA. Each of
    /// <paramref name="refusedZones"/> answers REFUSED (<c>local-zone: "zone." refuse</c>).
    /// Returns once unbound answers a query.
    /// </summary>
    public static async Task<UnboundServer> StartAsync(
        IEnumerable<string> records,
        IEnumerable<string>? refusedZones = null,
        CancellationToken cancellationToken = default)
    {
        var unbound = InteropTools.Require("unbound");
        InteropTools.Require("dig");
        var recordList = records.ToList();
        var refused = (refusedZones ?? []).ToList();
        Exception? last = null;
        // A free port can be taken between finding it and unbound binding it; try a few.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("postern-unbound-").FullName;
            var port = FindFreePort();
            var configuration = BuildConfiguration(directory, port, recordList, refused);
            var configPath = Path.Combine(directory, "unbound.conf");
            await File.WriteAllTextAsync(configPath, configuration, cancellationToken);

            var log = new StringBuilder();
            var process = new Process
            {
                StartInfo = new ProcessStartInfo(unbound)
                {
                    ArgumentList = { "-d", "-c", configPath },
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    RedirectStandardInput = true,
                    UseShellExecute = false,
                },
            };
            void Append(object? sender, DataReceivedEventArgs e)
            {
                if (e.Data is not null)
                {
                    lock (log)
                    {
                        log.AppendLine(e.Data);
                    }
                }
            }
            process.OutputDataReceived += Append;
            process.ErrorDataReceived += Append;
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new UnboundServer(process, log, directory, port, configuration);
            try
            {
                await server.WaitUntilAnsweringAsync(cancellationToken);
                return server;
            }
            catch (InvalidOperationException e)
            {
                last = e;
                server.Dispose();
            }
        }
        throw new InvalidOperationException("unbound did not start", last);
    }

    /// <summary>Kills unbound and deletes its directory.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited on its own.
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the temporary directory's cleanup.
        }
    }

    private static string BuildConfiguration(string directory, int port, IReadOnlyList<string> records, IReadOnlyList<string> refusedZones)
    {
        var text = new StringBuilder();
        text.AppendLine("server:");
        text.AppendLine("  interface: 127.0.0.1");
        text.AppendLine($"  port: {port}");
        text.AppendLine("  do-daemonize: no");
        text.AppendLine("  username: \"\"");
        text.AppendLine("  chroot: \"\"");
        text.AppendLine($"  directory: \"{directory}\"");
        text.AppendLine($"  pidfile: \"{Path.Combine(directory, "unbound.pid")}\"");
        text.AppendLine("  use-syslog: no");
        text.AppendLine("  logfile: \"\"");
        text.AppendLine("  verbosity: 1");
        text.AppendLine("  num-threads: 1");
        text.AppendLine("  module-config: \"iterator\"");
        text.AppendLine("  do-not-query-localhost: no");
        text.AppendLine("  access-control: 127.0.0.0/8 allow");
        text.AppendLine("  local-zone: \"test.\" static");
        foreach (var zone in refusedZones)
        {
            text.AppendLine($"  local-zone: \"{zone.TrimEnd('.')}.\" refuse");
        }
        foreach (var record in records)
        {
            if (record.Contains('"', StringComparison.Ordinal))
            {
                throw new ArgumentException($"record '{record}' has a double quote; unbound's local-data cannot carry it", nameof(records));
            }
            text.AppendLine($"  local-data: \"{record}\"");
        }
        text.AppendLine("remote-control:");
        text.AppendLine("  control-enable: no");
        return text.ToString();
    }

    private async Task WaitUntilAnsweringAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        ProcessResult? probe = null;
        while (deadline.Elapsed < StartTimeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"unbound exited with code {_process.ExitCode}:\n{Log}\n--- unbound.conf ---\n{Configuration}");
            }
            probe = await ExternalProcess.RunAsync(
                "dig", ["@127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "test.", "SOA", "+time=1", "+tries=1"],
                timeout: TimeSpan.FromSeconds(5), cancellationToken: cancellationToken);
            if (probe.ExitCode == 0 && probe.StandardOutput.Contains("status:", StringComparison.Ordinal))
            {
                return;
            }
            await Task.Delay(100, cancellationToken);
        }
        throw new InvalidOperationException(
            $"unbound did not answer on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds}s:\n{Log}\n{probe?.Describe()}");
    }

    /// <summary>A port free for both UDP and TCP on 127.0.0.1.</summary>
    private static int FindFreePort()
    {
        for (var i = 0; i < 50; i++)
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // Taken for TCP; try another.
            }
        }
        throw new InvalidOperationException("no port free for both UDP and TCP on 127.0.0.1");
    }
}

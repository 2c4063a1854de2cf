using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>
/// The real gateway as a child process: <c>dotnet Postern.Cli.dll serve --config FILE</c>, with its
/// output captured. The test project references the CLI project, so the CLI's assembly sits next
/// to the test assembly. Disposing kills the process if it is still running.
/// </summary>
public sealed class PosternProcess : IAsyncDisposable
{
    /// <summary>How long a start may take before the test fails.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _gate = new();

    private PosternProcess(Process process, string workingDirectory, string? configPath)
    {
        _process = process;
        WorkingDirectory = workingDirectory;
        ConfigPath = configPath;
    }

    /// <summary>The CLI's assembly, next to the test assembly.</summary>
    public static string CliAssemblyPath
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, "Postern.Cli.dll");
            return File.Exists(path)
                ? path
                : throw new InvalidOperationException($"{path} is missing; the test project must reference src/Postern.Cli");
        }
    }

    /// <summary>The <c>dotnet</c> host that runs the CLI.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : InteropTools.Find("dotnet") ?? throw new InvalidOperationException("the dotnet host is not on PATH");

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>The directory the gateway runs in.</summary>
    public string WorkingDirectory { get; }

    /// <summary>The configuration file given with <c>--config</c>, or null for the embedded default.</summary>
    public string? ConfigPath { get; }

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code (the process must have exited).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Standard output so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Standard error so far.</summary>
    public string StandardError
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Both streams and the state of the process, for assertion messages.</summary>
    public string Describe() =>
        $"postern (pid {Id}) {(HasExited ? $"exited with {ExitCode}" : "running")} in {WorkingDirectory}\n" +
        $"--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";

    /// <summary>
    /// Writes <paramref name="configuration"/> as JSON to <c>postern.json</c> in
    /// <paramref name="workingDirectory"/> and starts <c>serve</c> on it; returns once every
    /// endpoint in <paramref name="waitFor"/> accepts connections.
    /// </summary>
    public static Task<PosternProcess> StartAsync(object configuration, string workingDirectory, params IPEndPoint[] waitFor)
    {
        string path = Path.Combine(workingDirectory, "postern.json");
        File.WriteAllText(path, configuration as string ?? JsonSerializer.Serialize(configuration, JsonOptions));
        return StartWithFileAsync(path, workingDirectory, waitFor);
    }

    /// <summary>Starts <c>serve --config <paramref name="configPath"/></c> (or without <c>--config</c> when null).</summary>
    public static async Task<PosternProcess> StartWithFileAsync(string? configPath, string workingDirectory, params IPEndPoint[] waitFor)
    {
        string[] arguments = configPath is null ? ["serve"] : ["serve", "--config", configPath];
        PosternProcess process = Launch(workingDirectory, configPath, arguments);
        try
        {
            await process.WaitUntilListeningAsync(waitFor, StartTimeout);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }

        return process;
    }

    /// <summary>Runs a CLI command to completion (e.g. <c>check-config</c>, <c>--help</c>).</summary>
    public static Task<ProcessResult> RunCliAsync(string workingDirectory, params string[] arguments) =>
        ExternalProcess.RunAsync(
            DotnetHost,
            new[] { CliAssemblyPath }.Concat(arguments),
            timeout: TimeSpan.FromSeconds(60),
            environment: CliEnvironment,
            workingDirectory: workingDirectory);

    /// <summary>Sends SIGTERM and waits for the exit; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!HasExited)
        {
            Signal("TERM");
        }

        return await WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>Sends SIGTERM without waiting.</summary>
    public void Terminate() => Signal("TERM");

    /// <summary><c>kill -9</c>: the process gets no chance to clean up.</summary>
    public void Kill()
    {
        if (HasExited)
        {
            return;
        }

        Signal("KILL");
        _process.WaitForExit(10_000);
    }

    /// <summary>Waits for the exit; fails with the output when it takes longer than <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"postern did not exit within {timeout.TotalSeconds:0}s\n{Describe()}");
        }

        // WaitForExit without a timeout also waits for the output streams to be drained.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits until standard output or error matches <paramref name="pattern"/>.</summary>
    public async Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var match = pattern.Match(StandardOutput + StandardError);
            if (match.Success)
            {
                return match;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"postern did not print /{pattern}/ within {timeout.TotalSeconds:0}s\n{Describe()}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Kills the process if it still runs.</summary>
    public ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>camelCase JSON as in docs/configuration.md.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
    };

    // Keep the CLI's console output plain and its start quick.
    private static readonly IReadOnlyDictionary<string, string> CliEnvironment = new Dictionary<string, string>
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["NO_COLOR"] = "1",
        ["DOTNET_SYSTEM_CONSOLE_ALLOW_ANSI_COLOR_REDIRECTION"] = "0",
    };

    private static PosternProcess Launch(string workingDirectory, string? configPath, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        startInfo.ArgumentList.Add(CliAssemblyPath);
        foreach (string argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in CliEnvironment)
        {
            startInfo.Environment[key] = value;
        }

        var process = new Process { StartInfo = startInfo };
        var instance = new PosternProcess(process, workingDirectory, configPath);
        process.OutputDataReceived += (_, e) => instance.Append(instance._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => instance.Append(instance._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return instance;
    }

    private void Append(StringBuilder target, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            target.Append(line).Append('\n');
        }
    }

    private async Task WaitUntilListeningAsync(IReadOnlyList<IPEndPoint> endpoints, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var endpoint in endpoints)
        {
            while (true)
            {
                if (HasExited)
                {
                    await WaitForExitAsync(TimeSpan.FromSeconds(5));
                    throw new InvalidOperationException($"postern exited before listening on {endpoint}\n{Describe()}");
                }

                if (await AcceptsAsync(endpoint))
                {
                    break;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"postern did not listen on {endpoint} within {timeout.TotalSeconds:0}s\n{Describe()}");
                }

                await Task.Delay(50);
            }
        }
    }

    private static async Task<bool> AcceptsAsync(IPEndPoint endpoint)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await socket.ConnectAsync(endpoint, cts.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private void Signal(string signal)
    {
        var result = ExternalProcess.Run("kill", $"-{signal}", Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (result.ExitCode != 0 && !HasExited)
        {
            throw new InvalidOperationException($"kill -{signal} {Id} failed\n{result.Describe()}");
        }
    }
}

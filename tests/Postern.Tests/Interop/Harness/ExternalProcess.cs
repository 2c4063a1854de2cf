using System.Diagnostics;
using System.Text;

namespace Postern.Tests.Interop;

/// <summary>What a finished (or killed) external program left behind.</summary>
public sealed record ProcessResult(
    string FileName,
    IReadOnlyList<string> Arguments,
    int ExitCode,
    string StandardOutput,
    string StandardError,
    bool TimedOut,
    TimeSpan Elapsed)
{
    /// <summary>The command line, quoted well enough to paste into a shell.</summary>
    public string CommandLine => string.Join(' ', new[] { FileName }.Concat(Arguments).Select(Quote));

    /// <summary>Standard output followed by standard error.</summary>
    public string CombinedOutput => StandardError.Length == 0 ? StandardOutput : StandardOutput + StandardError;

    /// <summary>Throws with the whole output when the program failed or timed out.</summary>
    public ProcessResult EnsureSuccess()
    {
        if (ExitCode != 0 || TimedOut)
        {
            throw new InvalidOperationException(Describe());
        }

        return this;
    }

    /// <summary>A multi-line account of the run, for assertion messages.</summary>
    public string Describe() =>
        $"$ {CommandLine}\nexit code {ExitCode}{(TimedOut ? " (killed after timeout)" : "")}, {Elapsed.TotalSeconds:0.0}s\n" +
        $"--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@,+[]".Contains(c))
            ? s
            : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>Runs a program to completion with captured output and a hard timeout.</summary>
public static class ExternalProcess
{
    /// <summary>Default limit for one external command.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/>, writes
    /// <paramref name="standardInput"/> (then closes stdin; stdin is closed at once when null),
    /// and waits for exit. On timeout the whole process tree is killed and the result has
    /// <see cref="ProcessResult.TimedOut"/> set; it never throws for a non-zero exit.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        string? standardInput = null,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null,
        CancellationToken cancellationToken = default)
    {
        var args = arguments.ToList();
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        if (workingDirectory is not null)
        {
            startInfo.WorkingDirectory = workingDirectory;
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                startInfo.Environment[key] = value;
            }
        }

        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot start '{fileName}': {e.Message}", e);
        }

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            if (standardInput is not null)
            {
                await process.StandardInput.WriteAsync(standardInput.AsMemory(), cancellationToken);
                await process.StandardInput.FlushAsync(cancellationToken);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading all of its input; its output tells why.
        }

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout ?? DefaultTimeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited between the timeout and the kill.
            }

            await process.WaitForExitAsync(CancellationToken.None);
        }

        // A daemon started by the program may hold the pipes open; do not wait for it forever.
        var output = await WithinAsync(stdout, TimeSpan.FromSeconds(5));
        var error = await WithinAsync(stderr, TimeSpan.FromSeconds(5));
        cancellationToken.ThrowIfCancellationRequested();
        return new ProcessResult(fileName, args, process.ExitCode, output, error, timedOut, stopwatch.Elapsed);
    }

    /// <summary>Same as <see cref="RunAsync"/> with arguments given inline.</summary>
    public static Task<ProcessResult> RunAsync(string fileName, params string[] arguments) =>
        RunAsync(fileName, arguments, standardInput: null);

    /// <summary>Synchronous form for places that cannot await (Dispose).</summary>
    public static ProcessResult Run(string fileName, IEnumerable<string> arguments, string? standardInput = null, TimeSpan? timeout = null) =>
        RunAsync(fileName, arguments, standardInput, timeout).GetAwaiter().GetResult();

    /// <summary>Synchronous form with arguments given inline.</summary>
    public static ProcessResult Run(string fileName, params string[] arguments) =>
        Run(fileName, (IEnumerable<string>)arguments);

    private static async Task<string> WithinAsync(Task<string> read, TimeSpan limit)
    {
        var finished = await Task.WhenAny(read, Task.Delay(limit));
        return finished == read ? await read : "(output still open after the program exited)";
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Cli;
using Postern.Tests.Interop;
using Postern.Tests.Receiving;
using Postern.Tests.Support;

namespace Postern.Tests.Logging;

/// <summary>
/// <c>postern serve --log-format</c> as a real process on a kernel-chosen loopback port: what a log
/// collector (json), a person at a terminal (text) and journald (text under systemd) read on standard output.
/// </summary>
public sealed class ServeLogFormatTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact(Timeout = 120_000)]
    public async Task Json_format_writes_one_object_per_line_with_UTC_timestamps_and_the_fields_as_properties()
    {
        await using var serve = await Serve.StartAsync(["--log-format", "json"]);
        await using (RawSmtpClient client = await serve.StartTlsAsync())
        {
            await serve.WaitForLineAsync("\"EventId\":1003");
        }
        Assert.Equal(0, await serve.StopAsync());

        JsonElement[] events = serve.Lines.Select(line =>
        {
            using JsonDocument document = JsonDocument.Parse(line);
            return document.RootElement.Clone();
        }).ToArray();
        Assert.NotEmpty(events);
        foreach (JsonElement e in events)
        {
            string timestamp = e.GetProperty("Timestamp").GetString()!;
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", timestamp);
            Assert.Equal(TimeSpan.Zero, DateTimeOffset.Parse(timestamp, CultureInfo.InvariantCulture).Offset);
            Assert.Equal(JsonValueKind.Number, e.GetProperty("EventId").ValueKind);
            Assert.False(string.IsNullOrEmpty(e.GetProperty("Category").GetString()));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("LogLevel").GetString()));
        }

        JsonElement listening = Assert.Single(events, e => e.GetProperty("EventId").GetInt32() == 1000);
        Assert.Equal($"Listening on 127.0.0.1:{serve.Port} (StartTls)", listening.GetProperty("Message").GetString());
        Assert.Equal($"127.0.0.1:{serve.Port}", listening.GetProperty("State").GetProperty("Endpoint").GetString());

        JsonElement tls = Assert.Single(events, e => e.GetProperty("EventId").GetInt32() == 1003);
        Assert.Equal("Information", tls.GetProperty("LogLevel").GetString());
        JsonElement state = tls.GetProperty("State");
        string protocol = state.GetProperty("Protocol").GetString()!;
        string cipher = state.GetProperty("Cipher").GetString()!;
        int bits = state.GetProperty("CipherBits").GetInt32();
        Assert.Equal("Anonymous", state.GetProperty("Trust").GetString());
        Assert.Equal("127.0.0.1", state.GetProperty("ClientAddress").GetString());
        Assert.Equal("mx.gateway.test", state.GetProperty("ServerName").GetString());
        Assert.Matches(@"^TLSv1\.[23]$", protocol);
        Assert.StartsWith("TLS_", cipher, StringComparison.Ordinal);
        Assert.Equal(
            $"Anonymous TLS connection established from unknown[127.0.0.1]: {protocol} with cipher {cipher} ({bits}/{bits} bits) sni=mx.gateway.test",
            tls.GetProperty("Message").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task Text_format_writes_one_line_per_event_and_Debug_adds_the_connection_lines()
    {
        await using var serve = await Serve.StartAsync(["--log-format", "text", "--log-level", "Debug"]);
        await using (RawSmtpClient client = await serve.StartTlsAsync())
        {
            await serve.WaitForLineAsync("Postern.Smtpd[1003]");
        }
        Assert.Equal(0, await serve.StopAsync());

        var shape = new Regex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trce|dbug|info|warn|fail|crit)  \S+\[\d+\] \S");
        Assert.All(serve.Lines, line => Assert.Matches(shape, line));
        Assert.Contains(serve.Lines, line => Regex.IsMatch(line, @"Z dbug  Postern\.Smtpd\[1001\] connect from \[127\.0\.0\.1\]:\d+ on 127\.0\.0\.1:" + serve.Port + "$"));
        Assert.Contains(serve.Lines, line => Regex.IsMatch(line,
            @"Z info  Postern\.Smtpd\[1003\] Anonymous TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.[23] with cipher TLS_\S+ \((128/128|256/256) bits\) sni=mx\.gateway\.test$"));
    }

    [Fact(Timeout = 120_000)]
    public async Task Text_format_under_the_journal_has_priority_prefixes_and_no_time()
    {
        await using var serve = await Serve.StartAsync(["--log-format", "text"], journal: true);
        await serve.WaitForLineAsync("Postern.Smtpd[1000]");
        Assert.Equal(0, await serve.StopAsync());

        Assert.All(serve.Lines, line => Assert.Matches(@"^<[0-7]>\S+\[\d+\] \S", line));
        Assert.Contains($"<6>Postern.Smtpd[1000] Listening on 127.0.0.1:{serve.Port} (StartTls)", serve.Lines);
        Assert.Contains(serve.Lines, line => line.StartsWith("<4>Postern.Gateway[2021] Created a self-signed certificate ", StringComparison.Ordinal));
    }

    [Fact]
    public void Text_formatter_keeps_a_message_on_one_line_and_indents_the_exception_below()
    {
        var formatter = new TextLogFormatter();
        var output = new StringWriter();
        Exception exception;
        try
        {
            throw new InvalidOperationException("spool on fire");
        }
        catch (InvalidOperationException e)
        {
            exception = e;
        }

        formatter.Write(new LogEntry<string>(LogLevel.Error, "Postern.Queue", new EventId(4004), "4Xz", exception, (id, _) => $"{id}: delivery pass failed\r\nQUIT"), null, output);

        string[] lines = output.ToString().Split('\n');
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z fail  Postern\.Queue\[4004\] 4Xz: delivery pass failed\\r\\nQUIT$", lines[0]);
        Assert.Equal("    System.InvalidOperationException: spool on fire", lines[1]);
        Assert.All(lines[2..^1], line => Assert.StartsWith("    ", line, StringComparison.Ordinal));
        Assert.Equal("", lines[^1]);
    }

    /// <summary>The CLI serving one STARTTLS listener on a free loopback port, with its standard output kept by line.</summary>
    private sealed class Serve : IAsyncDisposable
    {
        private readonly TempDirectory _directory = new("postern-logformat");
        private readonly ConcurrentQueue<string> _stdout = new();
        private readonly StringBuilder _stderr = new();
        private Process? _process;

        public int Port { get; private set; }

        public IReadOnlyList<string> Lines => [.. _stdout];

        public static async Task<Serve> StartAsync(string[] arguments, bool journal = false)
        {
            var serve = new Serve();
            try
            {
                await serve.LaunchAsync(arguments, journal);
            }
            catch
            {
                await serve.DisposeAsync();
                throw;
            }
            return serve;
        }

        private async Task LaunchAsync(string[] arguments, bool journal)
        {
            Port = FreePort();
            string config = _directory.Combine("postern.json");
            await File.WriteAllTextAsync(config, $$"""
                { "gateway": { "hostName": "mx.gateway.test", "dataDirectory": "{{_directory.Combine("var")}}",
                  "listeners": [ { "endpoint": "127.0.0.1:{{Port}}", "security": "StartTls" } ] } }
                """);
            var start = new ProcessStartInfo(PosternProcess.DotnetHost)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = _directory.Path,
                StandardOutputEncoding = Encoding.UTF8,
            };
            foreach (string argument in (string[])[PosternProcess.CliAssemblyPath, "serve", "--config", config, .. arguments])
                start.ArgumentList.Add(argument);
            start.Environment["DOTNET_NOLOGO"] = "1";
            start.Environment["NO_COLOR"] = "1";
            start.Environment.Remove("JOURNAL_STREAM");
            if (journal) start.Environment["JOURNAL_STREAM"] = "8:12345";
            _process = new Process { StartInfo = start };
            _process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line) _stdout.Enqueue(line);
            };
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { } line) lock (_stderr) _stderr.AppendLine(line);
            };
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            _process.StandardInput.Close();

            DateTime deadline = DateTime.UtcNow + Patience;
            while (!await AcceptsAsync(Port))
            {
                if (_process.HasExited || DateTime.UtcNow > deadline) throw new InvalidOperationException($"postern is not listening on {Port}\n{Describe()}");
                await Task.Delay(50);
            }
        }

        /// <summary>A STARTTLS session with SNI mx.gateway.test, EHLO answered after the handshake.</summary>
        public async Task<RawSmtpClient> StartTlsAsync()
        {
            RawSmtpClient client = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port));
            await client.ReadReplyAsync();
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("STARTTLS");
            await client.StartTlsAsync("mx.gateway.test");
            Assert.StartsWith("250", await client.CommandAsync("EHLO client.test"));
            return client;
        }

        public async Task WaitForLineAsync(string text)
        {
            DateTime deadline = DateTime.UtcNow + Patience;
            while (!_stdout.Any(line => line.Contains(text, StringComparison.Ordinal)))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"no line with {text}\n{Describe()}");
                await Task.Delay(50);
            }
        }

        /// <summary>SIGTERM once the host handles it (the listeners accept a little earlier), then the exit code once standard output is drained.</summary>
        public async Task<int> StopAsync()
        {
            await WaitForLineAsync("Application started.");
            ExternalProcess.Run("kill", "-TERM", _process!.Id.ToString(CultureInfo.InvariantCulture));
            using var timeout = new CancellationTokenSource(Patience);
            await _process.WaitForExitAsync(timeout.Token);
            _process.WaitForExit();
            return _process.ExitCode;
        }

        private string Describe()
        {
            lock (_stderr) return $"--- stdout ---\n{string.Join("\n", _stdout)}\n--- stderr ---\n{_stderr}";
        }

        private static int FreePort()
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)socket.LocalEndPoint!).Port;
        }

        private static async Task<bool> AcceptsAsync(int port)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        public ValueTask DisposeAsync()
        {
            if (_process is { HasExited: false })
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
            _process?.Dispose();
            _directory.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

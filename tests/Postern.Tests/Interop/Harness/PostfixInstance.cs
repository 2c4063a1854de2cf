using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using System.Text.RegularExpressions;

namespace Postern.Tests.Interop;

/// <summary>
/// A throwaway Postfix instance with its own configuration, queue, data and Maildir under a
/// temporary directory, registered in <c>alternate_config_directories</c> of the default
/// <c>/etc/postfix/main.cf</c> while it exists. Dispose stops it and removes every trace.
/// </summary>
public sealed class PostfixInstance : IDisposable
{
    /// <summary>Where every instance directory lives; instances left by a killed test run are reaped from here.</summary>
    public const string BaseDirectory = "/tmp/postern-postfix";

    private const string DefaultMainCf = "/etc/postfix/main.cf";
    private const string RegistrationLock = "/tmp/postern-postfix.lock";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private bool _disposed;

    private PostfixInstance(PostfixOptions options, string root)
    {
        Options = options;
        RootDirectory = root;
    }

    /// <summary>The options the instance was made with.</summary>
    public PostfixOptions Options { get; }

    /// <summary>Temporary directory holding everything of this instance.</summary>
    public string RootDirectory { get; }

    /// <summary><c>config_directory</c> (main.cf, master.cf); pass to <c>postfix -c</c>.</summary>
    public string ConfigDirectory => Path.Combine(RootDirectory, "etc");

    /// <summary><c>queue_directory</c>.</summary>
    public string QueueDirectory => Path.Combine(RootDirectory, "queue");

    /// <summary>The Maildir every virtual recipient is delivered into.</summary>
    public string MaildirPath => Path.Combine(RootDirectory, "mail", "box");

    /// <summary>Postfix's log of this instance.</summary>
    public string MaillogPath => Path.Combine(RootDirectory, "maillog");

    /// <summary>Listen address and port, <c>[addr]:port</c>, as a relayhost or policy entry names it.</summary>
    public string Endpoint => $"[{Options.ListenAddress}]:{Options.Port}";

    /// <summary><c>myhostname</c> (the name in the banner and in Received).</summary>
    public string Hostname => Options.Hostname ?? $"{Options.Name}.postfix.test";

    /// <summary>Writes the instance's configuration; call <see cref="Start"/> to run it.</summary>
    public static PostfixInstance Create(PostfixOptions options)
    {
        InteropTools.RequireRoot();
        InteropTools.Require("postfix", "postconf", "postqueue");
        LoopbackAddresses.Ensure(options.ListenAddress);

        Directory.CreateDirectory(BaseDirectory);
        MakeTraversable(BaseDirectory);
        var root = Path.Combine(BaseDirectory, $"{Sanitize(options.Name)}-{Guid.NewGuid().ToString("N")[..8]}");
        var instance = new PostfixInstance(options, root);
        try
        {
            instance.WriteConfiguration();
            instance.Register();
            instance.Postfix("set-permissions").EnsureSuccess();
            return instance;
        }
        catch
        {
            instance.Dispose();
            throw;
        }
    }

    /// <summary>Creates and starts an instance; it is disposed again if starting fails.</summary>
    public static PostfixInstance StartNew(PostfixOptions options)
    {
        var instance = Create(options);
        try
        {
            instance.Start();
            return instance;
        }
        catch
        {
            instance.Dispose();
            throw;
        }
    }

    /// <summary>Starts Postfix and waits until it accepts connections.</summary>
    public void Start()
    {
        var result = Postfix("start");
        if (result.ExitCode != 0)
        {
            var check = Postfix("check");
            throw new InvalidOperationException(
                $"Postfix instance '{Options.Name}' did not start (a fatal error at start goes to /dev/log only)\n" +
                $"{result.Describe()}\n{check.Describe()}\n--- maillog ---\n{ReadMaillog()}");
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var address = IPAddress.Parse(Options.ListenAddress);
        while (!IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners()
                   .Any(l => l.Port == Options.Port && (l.Address.Equals(address) || l.Address.Equals(IPAddress.Any))))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"Postfix instance '{Options.Name}' started but does not listen on {Endpoint}\n--- maillog ---\n{ReadMaillog()}");
            }

            Thread.Sleep(100);
        }
    }

    /// <summary>Stops Postfix (if it runs) and waits for the master process to end.</summary>
    public void Stop()
    {
        if (!IsRunning())
        {
            return;
        }

        var result = Postfix("stop");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (IsRunning() && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }

        if (IsRunning())
        {
            Postfix("abort");
            var pid = MasterPid();
            if (pid is not null)
            {
                ExternalProcess.Run("kill", "-KILL", pid.Value.ToString(CultureInfo.InvariantCulture));
            }

            if (result.ExitCode != 0)
            {
                throw new InvalidOperationException($"Postfix instance '{Options.Name}' did not stop\n{result.Describe()}");
            }
        }
    }

    /// <summary>Whether the instance's master process runs.</summary>
    public bool IsRunning() => Directory.Exists(ConfigDirectory) && Postfix("status").ExitCode == 0;

    /// <summary>Asks the queue manager to retry every deferred message now (<c>postqueue -f</c>).</summary>
    public void Flush() =>
        ExternalProcess.Run(InteropTools.Require("postqueue"), ["-c", ConfigDirectory, "-f"], timeout: CommandTimeout).EnsureSuccess();

    /// <summary>Whether no message waits in any queue (counted from the queue files, so it works when stopped).</summary>
    public bool QueueIsEmpty() => QueuedMessageCount() == 0;

    /// <summary>Number of messages in the maildrop, incoming, active, deferred and hold queues.</summary>
    public int QueuedMessageCount() =>
        new[] { "maildrop", "incoming", "active", "deferred", "hold" }
            .Select(q => Path.Combine(QueueDirectory, q))
            .Where(Directory.Exists)
            .Sum(q => Directory.EnumerateFiles(q, "*", SearchOption.AllDirectories).Count());

    /// <summary>What <c>postqueue -p</c> says, for failure messages.</summary>
    public string DescribeQueue() =>
        ExternalProcess.Run(InteropTools.Require("postqueue"), ["-c", ConfigDirectory, "-p"], timeout: CommandTimeout).CombinedOutput;

    /// <summary>The instance's log so far (empty before anything was logged).</summary>
    public string ReadMaillog()
    {
        if (!File.Exists(MaillogPath))
        {
            return "";
        }

        using var stream = new FileStream(MaillogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>Waits until a log line matches <paramref name="pattern"/> and returns that line.</summary>
    public async Task<string> WaitForMaillogAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var line = ReadMaillog().Split('\n').FirstOrDefault(pattern.IsMatch);
            if (line is not null)
            {
                return line;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"no maillog line of '{Options.Name}' matched /{pattern}/ within {timeout.TotalSeconds}s\n--- maillog ---\n{ReadMaillog()}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Contents of the messages delivered to the Maildir so far, oldest first.</summary>
    public IReadOnlyList<string> ReadMaildirMessages()
    {
        var files = new[] { "new", "cur" }
            .Select(d => Path.Combine(MaildirPath, d))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d))
            .Select(f => new FileInfo(f))
            .OrderBy(f => f.LastWriteTimeUtc)
            .ThenBy(f => f.Name, StringComparer.Ordinal);
        return files.Select(f => File.ReadAllText(f.FullName)).ToList();
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> messages are in the Maildir and returns all
    /// of them; on timeout fails with the log and queue so the reason is visible.
    /// </summary>
    public async Task<IReadOnlyList<string>> WaitForMaildirMessagesAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var messages = ReadMaildirMessages();
            if (messages.Count >= count)
            {
                return messages;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"'{Options.Name}' has {messages.Count} of {count} messages in its Maildir after {timeout.TotalSeconds}s\n" +
                    $"--- queue ---\n{DescribeQueue()}\n--- maillog ---\n{ReadMaillog()}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Stops the instance, unregisters it and deletes its files.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            Stop();
        }
        finally
        {
            Unregister(RootDirectory);
            if (Environment.GetEnvironmentVariable("POSTERN_KEEP_INTEROP_DIRS") != "1")
            {
                TryDelete(RootDirectory);
            }
        }
    }

    /// <summary>Runs <c>postfix -c CONFIG_DIR</c> with <paramref name="args"/>.</summary>
    public ProcessResult Postfix(params string[] args) =>
        ExternalProcess.Run(InteropTools.Require("postfix"), ["-c", ConfigDirectory, .. args], timeout: CommandTimeout);

    /// <summary>Runs <c>postconf -c CONFIG_DIR</c> with <paramref name="args"/>.</summary>
    public ProcessResult Postconf(params string[] args) =>
        ExternalProcess.Run(InteropTools.Require("postconf"), ["-c", ConfigDirectory, .. args], timeout: CommandTimeout);

    private const UnixFileMode Traversable =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private void WriteConfiguration()
    {
        foreach (var dir in new[] { RootDirectory, ConfigDirectory, QueueDirectory, Path.Combine(RootDirectory, "data"), Path.Combine(RootDirectory, "mail") })
        {
            Directory.CreateDirectory(dir);
            MakeTraversable(dir);
        }

        File.WriteAllText(Path.Combine(RootDirectory, "owner"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

        var masterSource = File.Exists("/etc/postfix/master.cf") ? "/etc/postfix/master.cf" : "/usr/share/postfix/master.cf.dist";
        var master = File.ReadAllText(masterSource);
        if (!Regex.IsMatch(master, @"^postlog\s", RegexOptions.Multiline))
        {
            master += "\npostlog   unix-dgram n  -       n       -       1       postlogd\n";
        }

        File.WriteAllText(Path.Combine(ConfigDirectory, "master.cf"), master);
        File.WriteAllText(Path.Combine(ConfigDirectory, "main.cf"), BuildMainCf());

        // Chroot would need copies of system files inside each queue directory.
        Postconf("-F", "*/*/chroot = n").EnsureSuccess();
        Postconf("-MX", "smtp/inet").EnsureSuccess();
        Postconf("-M", $"{Options.Port}/inet = {Options.Port} inet n - n - - smtpd").EnsureSuccess();

        if (Options.ClientTls is { } clientTls)
        {
            File.WriteAllLines(Path.Combine(ConfigDirectory, "tls_policy"), clientTls.PolicyMapEntries);
        }

        ExternalProcess.Run("chown", "postfix", Path.Combine(RootDirectory, "data")).EnsureSuccess();
        ExternalProcess.Run("chown", "nobody:nogroup", Path.Combine(RootDirectory, "mail")).EnsureSuccess();
    }

    private string BuildMainCf()
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["compatibility_level"] = "3.6",
            ["queue_directory"] = QueueDirectory,
            ["data_directory"] = Path.Combine(RootDirectory, "data"),
            ["myhostname"] = Hostname,
            ["myorigin"] = "$myhostname",
            ["mydestination"] = "",
            ["local_recipient_maps"] = "",
            ["alias_maps"] = "",
            ["alias_database"] = "",
            ["inet_interfaces"] = Options.ListenAddress,
            ["inet_protocols"] = "ipv4",
            ["smtp_bind_address"] = Options.ListenAddress,
            ["mynetworks"] = "127.0.0.0/8",
            ["smtpd_relay_restrictions"] = "permit_mynetworks, reject_unauth_destination",
            ["smtpd_peername_lookup"] = "no",
            ["biff"] = "no",
            ["syslog_name"] = $"postfix-{Sanitize(Options.Name)}",
            ["maillog_file_prefixes"] = BaseDirectory,
            ["maillog_file"] = MaillogPath,
            ["minimal_backoff_time"] = "5s",
            ["maximal_backoff_time"] = "30s",
            ["queue_run_delay"] = "5s",
            ["smtp_connect_timeout"] = "10s",
        };

        if (Options.MaildirDomains.Count > 0)
        {
            p["virtual_mailbox_domains"] = string.Join(", ", Options.MaildirDomains);
            p["virtual_mailbox_base"] = Path.Combine(RootDirectory, "mail");
            p["virtual_mailbox_maps"] = "static:box/";
            p["virtual_uid_maps"] = $"static:{IdOf("-u", "nobody")}";
            p["virtual_gid_maps"] = $"static:{IdOf("-g", "nobody")}";
        }

        if (Options.RelayHost is not null)
        {
            p["relayhost"] = Options.RelayHost;
        }

        if (Options.ServerTls is { } server)
        {
            p["smtpd_tls_chain_files"] = $"{server.KeyPath}, {server.FullChainPath}";
            p["smtpd_tls_security_level"] = server.SecurityLevel;
            p["smtpd_tls_ask_ccert"] = server.AskClientCertificate ? "yes" : "no";
            p["smtpd_tls_received_header"] = server.ReceivedHeader ? "yes" : "no";
            p["smtpd_tls_loglevel"] = "1";
            if (server.CAfile is not null)
            {
                p["smtpd_tls_CAfile"] = server.CAfile;
            }
        }

        if (Options.ClientTls is { } client)
        {
            p["smtp_tls_security_level"] = client.SecurityLevel;
            p["smtp_tls_loglevel"] = "1";
            p["smtp_tls_policy_maps"] = $"texthash:{Path.Combine(ConfigDirectory, "tls_policy")}";
            if (client.CAfile is not null)
            {
                p["smtp_tls_CAfile"] = client.CAfile;
            }

            if (client.CertFile is not null)
            {
                p["smtp_tls_cert_file"] = client.CertFile;
                p["smtp_tls_key_file"] = client.KeyFile ?? client.CertFile;
            }
        }

        foreach (var (key, value) in Options.MainCf)
        {
            p[key] = value;
        }

        return string.Concat(p.Select(kv => $"{kv.Key} = {kv.Value}\n"));
    }

    private int? MasterPid()
    {
        var pidFile = Path.Combine(QueueDirectory, "pid", "master.pid");
        return File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) ? pid : null;
    }

    private void Register()
    {
        using var gate = AcquireRegistrationLock();
        ReapOrphans();
        var directories = ReadAlternateDirectories();
        if (!directories.Contains(ConfigDirectory))
        {
            directories.Add(ConfigDirectory);
        }

        WriteAlternateDirectories(directories);
    }

    private static void Unregister(string root)
    {
        using var gate = AcquireRegistrationLock();
        var configDirectory = Path.Combine(root, "etc");
        var directories = ReadAlternateDirectories();
        if (directories.Remove(configDirectory))
        {
            WriteAlternateDirectories(directories);
        }
    }

    // A test host killed by the hang timeout leaves its instances running and holding their
    // addresses; stop those whose owning process is gone.
    private static void ReapOrphans()
    {
        foreach (var config in ReadAlternateDirectories().Where(d => d.StartsWith(BaseDirectory + "/", StringComparison.Ordinal)))
        {
            var root = Path.GetDirectoryName(config)!;
            var ownerFile = Path.Combine(root, "owner");
            if (File.Exists(ownerFile) && int.TryParse(File.ReadAllText(ownerFile).Trim(), out var owner) &&
                Directory.Exists($"/proc/{owner}"))
            {
                continue;
            }

            if (Directory.Exists(config))
            {
                ExternalProcess.Run(InteropTools.Require("postfix"), ["-c", config, "stop"], timeout: CommandTimeout);
            }

            var remaining = ReadAlternateDirectories();
            remaining.Remove(config);
            WriteAlternateDirectories(remaining);
            TryDelete(root);
        }
    }

    private static List<string> ReadAlternateDirectories()
    {
        if (!File.Exists(DefaultMainCf))
        {
            // Debian's "No configuration" leaves no default main.cf; postfix -c needs one to name us.
            File.WriteAllText(DefaultMainCf, "compatibility_level = 3.6\n");
        }

        var result = ExternalProcess.Run(InteropTools.Require("postconf"), ["-h", "alternate_config_directories"], timeout: CommandTimeout)
            .EnsureSuccess();
        return result.StandardOutput
            .Split([',', ' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)
            .ToList();
    }

    private static void WriteAlternateDirectories(List<string> directories) =>
        ExternalProcess.Run(
                InteropTools.Require("postconf"),
                ["-e", $"alternate_config_directories = {string.Join(", ", directories)}"],
                timeout: CommandTimeout)
            .EnsureSuccess();

    private static FileStream AcquireRegistrationLock()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                return new FileStream(RegistrationLock, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static void MakeTraversable(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Postfix instances run on Linux only");
        }

        // Postfix daemons and the virtual delivery user must reach their directories.
        File.SetUnixFileMode(directory, Traversable);
    }

    private static string IdOf(string flag, string user) =>
        ExternalProcess.Run("id", flag, user).EnsureSuccess().StandardOutput.Trim();

    private static string Sanitize(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '-').Take(40).ToArray());

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}

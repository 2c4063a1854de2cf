using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Hosting;
using Postern.Tls;

namespace Postern.Cli;

/// <summary><c>postern serve</c>: runs the gateway under the Generic Host until SIGTERM/SIGINT.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        Option<FileInfo?> config = CommonOptions.Config();
        var format = new Option<string>("--log-format")
        {
            Description = "Log lines on standard output: 'text' (one line per event: UTC time, level, category[event id], message; "
                + "under systemd, journald's <N> priority prefixes without a time) or 'json' (one JSON object per line, "
                + "every field of the event as a property under State). Event ids: docs/logging.md.",
            DefaultValueFactory = _ => "text",
        };
        format.AcceptOnlyFromAmong("text", "json");
        var level = new Option<LogLevel>("--log-level")
        {
            Description = "Lowest level logged; Debug adds a line for each connection and spool write.",
            DefaultValueFactory = _ => LogLevel.Information,
        };
        var command = new Command("serve", "Run the gateway: receive, spool and deliver. Reloads its configuration file on change or SIGHUP; stops gracefully on SIGTERM or Ctrl+C.")
        {
            config,
            format,
            level,
        };
        command.SetAction((parse, cancellation) => RunAsync(parse.GetValue(config), parse.GetValue(format) ?? "text", parse.GetValue(level), cancellation));
        return command;
    }

    private static async Task<int> RunAsync(FileInfo? file, string logFormat, LogLevel logLevel, CancellationToken cancellation)
    {
        PosternConfiguration? configuration = CommonOptions.LoadOrReport(file, Console.Error, out int errors);
        if (configuration is null)
        {
            Console.Error.WriteLine($"{errors} error(s) in {file?.FullName}; run 'postern check-config --config {file?.FullName}' for details.");
            return 1;
        }

        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSystemd();
        ServeLogging.Configure(builder.Logging, logFormat, logLevel, ServeLogging.UnderJournal());
        builder.Services.Configure<HostOptions>(o =>
            o.ShutdownTimeout = TimeSpan.FromSeconds(configuration.Gateway.Limits.ShutdownGraceSeconds + 15));
        var holder = new GatewayHolder();
        builder.Services.AddSingleton(holder);
        builder.Services.AddHostedService<GatewayService>();
        using IHost host = builder.Build();

        ILoggerFactory loggers = host.Services.GetRequiredService<ILoggerFactory>();
        try
        {
            holder.Gateway = await PosternGateway.StartAsync(configuration, loggers, cancellation);
        }
        catch (Exception e) when (e is CertificateLoadException or TlsSettingsException or System.Security.Cryptography.CryptographicException or InvalidOperationException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or FormatException)
        {
            Console.Error.WriteLine($"postern: cannot start: {e.Message}");
            if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
                Console.Error.WriteLine("Another process is listening on that address; stop it or change gateway.listeners.");
            return 1;
        }

        // A changed file or SIGHUP reloads; a configuration that fails validation changes nothing.
        using ConfigurationWatcher? watcher = file is null ? null
            : new ConfigurationWatcher(file.FullName, () => holder.Gateway!.ReloadAsync(file.FullName));
        await host.RunAsync(cancellation);
        return 0;
    }

    private sealed class GatewayHolder
    {
        public PosternGateway? Gateway { get; set; }
    }

    /// <summary>Ties the gateway's life to the host's: the host's stop is the gateway's graceful stop.</summary>
    private sealed class GatewayService(GatewayHolder holder) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            if (holder.Gateway is { } gateway) await gateway.DisposeAsync();
        }
    }
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Postern.Hosting;

/// <summary>
/// A set of routes served on the admin endpoint. Queue administration is one; others (metrics,
/// trace queries) add theirs the same way, each owning a path prefix.
/// </summary>
public interface IAdminEndpointRoutes
{
    /// <summary>Registers what the routes need in the admin server's services, before it is built; what is registered there is disposed with the server.</summary>
    void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>Adds the routes, e.g. <c>routes.MapGet("/queue", ...)</c>.</summary>
    void Map(IEndpointRouteBuilder routes);
}

/// <summary>
/// The gateway's administrative HTTP/1.1 server (Kestrel), bound only to a loopback address or a
/// Unix socket: it has no authentication, so reaching it must already mean being on the machine
/// (as Postfix's <c>postqueue</c> talks to a local socket). Errors are JSON <c>{"error": "..."}</c>.
/// </summary>
public sealed class AdminEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILogger _logger;
    private readonly string? _socketPath;
    private int _stopped;
    private int _disposed;

    private AdminEndpoint(WebApplication app, EndPoint boundTo, string? socketPath, ILogger logger)
    {
        _app = app;
        LocalEndPoint = boundTo;
        _socketPath = socketPath;
        _logger = logger;
    }

    /// <summary>Where the server listens: an <see cref="IPEndPoint"/> (the port the kernel chose for :0) or a <see cref="UnixDomainSocketEndPoint"/>.</summary>
    public EndPoint LocalEndPoint { get; }

    /// <summary>The endpoint in the configuration's spelling: "127.0.0.1:8025", "[::1]:8025" or "unix:/path".</summary>
    public string Address => Describe(LocalEndPoint);

    /// <summary>
    /// Parses an admin endpoint ("127.0.0.1:8025", "[::1]:8025", "localhost:8025", "unix:/path").
    /// Anything that is not loopback or a Unix socket is refused here, whatever the validator said.
    /// </summary>
    /// <exception cref="InvalidOperationException">The endpoint is malformed or not loopback.</exception>
    public static EndPoint ParseEndPoint(string endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = endpoint[5..];
            if (!Path.IsPathFullyQualified(path))
                throw new InvalidOperationException($"admin endpoint \"{endpoint}\": a Unix socket path must be absolute, e.g. \"unix:/run/postern/admin.sock\"");
            return new UnixDomainSocketEndPoint(path);
        }

        int colon = endpoint.LastIndexOf(':');
        if (colon > 0 && string.Equals(endpoint[..colon], "localhost", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int localPort) && localPort <= IPEndPoint.MaxPort)
        {
            return new IPEndPoint(IPAddress.Loopback, localPort);
        }
        if (!IPEndPoint.TryParse(endpoint, out IPEndPoint? ip) || (ip.Port == 0 && !endpoint.EndsWith(":0", StringComparison.Ordinal)))
            throw new InvalidOperationException($"admin endpoint \"{endpoint}\": expected \"127.0.0.1:port\", \"[::1]:port\", \"localhost:port\" or \"unix:/path\"");
        if (!IPAddress.IsLoopback(ip.Address))
            throw new InvalidOperationException($"admin endpoint \"{endpoint}\": {ip.Address} is not a loopback address; the admin endpoint has no authentication and binds only to 127.0.0.0/8, ::1 or a Unix socket");
        return ip;
    }

    /// <summary>"127.0.0.1:8025", "[::1]:8025" or "unix:/path".</summary>
    public static string Describe(EndPoint endpoint) => endpoint switch
    {
        UnixDomainSocketEndPoint unix => "unix:" + unix.ToString(),
        _ => endpoint.ToString() ?? "",
    };

    /// <summary>Binds <paramref name="endpoint"/> and starts serving <paramref name="routes"/>.</summary>
    /// <exception cref="InvalidOperationException">The endpoint is not loopback or a Unix socket.</exception>
    /// <exception cref="IOException">The address is in use (another gateway runs), or the socket cannot be created.</exception>
    public static async Task<AdminEndpoint> StartAsync(string endpoint, IReadOnlyList<IAdminEndpointRoutes> routes, ILoggerFactory loggers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(loggers);
        EndPoint target = ParseEndPoint(endpoint);
        ILogger logger = loggers.CreateLogger("Postern.Admin");
        string? socketPath = (target as UnixDomainSocketEndPoint)?.ToString();
        if (socketPath is not null) RemoveStaleSocket(socketPath);

        // The empty builder reads no ASPNETCORE_* variables or appsettings files, so nothing but
        // the endpoint below can add a binding.
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddProvider(new GatewayLoggerProvider(loggers));
        // Request-by-request and lifetime chatter stays out of the gateway's log; failures do not.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // The gateway owns SIGTERM and Ctrl+C; this server stops when the gateway stops it.
        builder.Services.AddSingleton<IHostLifetime, GatewayOwnedLifetime>();
        builder.Services.AddRoutingCore();
        foreach (IAdminEndpointRoutes set in routes) set.ConfigureServices(builder.Services);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxConcurrentConnections = 64;
            Action<ListenOptions> http1 = listen => listen.Protocols = HttpProtocols.Http1;
            if (target is IPEndPoint ip) kestrel.Listen(ip, http1);
            else kestrel.ListenUnixSocket(socketPath!, http1);
        });

        WebApplication app = builder.Build();
        app.Use(async (HttpContext context, RequestDelegate next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException && !context.Response.HasStarted)
            {
                AdminEndpointLog.RequestFailed(logger, context.Request.Method, context.Request.Path, e);
                await AdminEndpointResults.Error(StatusCodes.Status500InternalServerError, e.Message).ExecuteAsync(context).ConfigureAwait(false);
            }
        });
        foreach (IAdminEndpointRoutes set in routes) set.Map(app);
        app.MapFallback(() => AdminEndpointResults.Error(StatusCodes.Status404NotFound, "no such endpoint"));

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"cannot listen on admin endpoint {endpoint}: {e.Message}", e);
        }

        EndPoint bound = target;
        if (target is IPEndPoint requested)
        {
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            bound = new IPEndPoint(requested.Address, new Uri(address).Port);
        }
        var admin = new AdminEndpoint(app, bound, socketPath, logger);
        AdminEndpointLog.Listening(logger, admin.Address);
        return admin;
    }

    /// <summary>A socket file left by a gateway that was killed is removed; one that still answers means another gateway runs.</summary>
    private static void RemoveStaleSocket(string path)
    {
        if (!File.Exists(path)) return;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // A regular file refuses connections too; only a socket fails open(2) with ENXIO.
            if (!IsSocketFile(path))
                throw new IOException($"cannot listen on admin endpoint unix:{path}: the file exists and is not a socket", e);
            File.Delete(path);
            return;
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on admin endpoint unix:{path}: {e.Message}", e);
        }
        throw new IOException($"cannot listen on admin endpoint unix:{path}: another process is listening on it");
    }

    private static bool IsSocketFile(string path)
    {
        const int ENXIO = 6;
        try
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            return false;
        }
        catch (IOException e) when (e.HResult == ENXIO)
        {
            return true;
        }
    }

    /// <summary>Stops accepting, lets requests in progress finish (briefly), and removes the Unix socket.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(grace.Token).ConfigureAwait(false);
        if (_socketPath is not null && File.Exists(_socketPath)) File.Delete(_socketPath);
        AdminEndpointLog.Stopped(_logger, Address);
    }

    /// <summary>Stops (once) and releases the server; safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _disposed, 1) == 0) await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Writes the server's own log lines through the gateway's logger factory.</summary>
    private sealed class GatewayLoggerProvider(ILoggerFactory loggers) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => loggers.CreateLogger(categoryName);

        public void Dispose()
        {
            // The factory belongs to the gateway.
        }
    }

    /// <summary>A lifetime that listens to no signals: the gateway's host does that.</summary>
    private sealed class GatewayOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

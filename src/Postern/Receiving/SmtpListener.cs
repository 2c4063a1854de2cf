using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Postern.Configuration;
using Postern.Smtp;
using Postern.Telemetry;

namespace Postern.Receiving;

/// <summary>
/// Connection limits shared by all listeners: overall (as Postfix default_process_limit) and per
/// client address (as smtpd_client_connection_count_limit).
/// </summary>
public sealed class ConnectionLimiter(int maxConnections, int maxPerClient)
{
    private readonly ConcurrentDictionary<IPAddress, int> _perClient = new();
    private int _total;

    public int Current => Volatile.Read(ref _total);

    public SmtpReply? TryAcquire(IPAddress client)
    {
        if (Interlocked.Increment(ref _total) > maxConnections)
        {
            Interlocked.Decrement(ref _total);
            return Replies.TooManyConnections;
        }
        int count = _perClient.AddOrUpdate(client, 1, (_, n) => n + 1);
        if (count > maxPerClient)
        {
            Release(client);
            return Replies.TooManyConnectionsFromClient;
        }
        return null;
    }

    public void Release(IPAddress client)
    {
        Interlocked.Decrement(ref _total);
        while (true)
        {
            if (!_perClient.TryGetValue(client, out int n)) return;
            if (n <= 1)
            {
                if (_perClient.TryRemove(new KeyValuePair<IPAddress, int>(client, n))) return;
            }
            else if (_perClient.TryUpdate(client, n - 1, n)) return;
        }
    }
}

/// <summary>Accepts connections on one endpoint and runs a session for each.</summary>
public sealed class SmtpListener : IAsyncDisposable
{
    private readonly ListenerSettings _settings;
    private readonly Func<ReceivingContext> _context;
    private readonly ConnectionLimiter _limiter;
    private readonly ILogger _logger;
    private readonly PosternMetrics? _metrics;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    private Socket? _socket;
    private string _name = "";
    private int _running;
    private Task? _acceptLoop;

    public SmtpListener(ListenerSettings settings, Func<ReceivingContext> context, ConnectionLimiter limiter, ILogger logger, PosternMetrics? metrics = null)
    {
        _settings = settings;
        _context = context;
        _limiter = limiter;
        _logger = logger;
        _metrics = metrics;
    }

    public ListenerSettings Settings => _settings;

    /// <summary>The bound endpoint (with the real port when the configuration said 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_socket?.LocalEndPoint ?? throw new InvalidOperationException("The listener is not started."));

    public int ActiveSessions => _sessions.Count;

    public static IPEndPoint ParseEndpoint(string endpoint) =>
        IPEndPoint.TryParse(endpoint, out IPEndPoint? parsed) && endpoint.Contains(':')
            ? parsed
            : throw new FormatException($"'{endpoint}' is not address:port");

    public void Start()
    {
        IPEndPoint endpoint = ParseEndpoint(_settings.Endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        // The bound endpoint names the listener in metrics: the configured one unless its port was 0.
        _name = LocalEndPoint.ToString();
        _metrics?.ObserveListener(_name, () => Volatile.Read(ref _running));
        ReceivingLog.Listening(_logger, LocalEndPoint.ToString(), _settings.Security.ToString());
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket!.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // E.g. EMFILE: keep serving the connections we have, try again shortly.
                ReceivingLog.ConnectionRefused(_logger, "(accept)", e.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }

            client.NoDelay = true;
            Task session = RunSessionAsync(client);
            _sessions.TryAdd(session, true);
            _ = session.ContinueWith(t => _sessions.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task RunSessionAsync(Socket client)
    {
        await Task.Yield();
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        IPAddress address = InboundPolicy.Normalize(remote.Address);
        SmtpReply? refusal = _limiter.TryAcquire(address);
        if (refusal is not null)
        {
            ReceivingLog.ConnectionRefused(_logger, $"[{address}]:{remote.Port}", refusal.ToString());
            await RefuseAsync(client, refusal).ConfigureAwait(false);
            return;
        }
        _metrics?.SessionStarted(_name);
        Interlocked.Increment(ref _running);
        try
        {
            ReceivingContext context = _context();
            ReceivingLog.Connected(context.Logger, $"[{address}]:{remote.Port}", _settings.Endpoint);
            var session = new SmtpServerSession(client, context, _settings, _metrics);
            await session.RunAsync(_stopping.Token, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            ReceivingLog.SessionFailed(_logger, $"[{address}]:{remote.Port}", e);
            client.Dispose();
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            _limiter.Release(address);
        }
    }

    private static async Task RefuseAsync(Socket client, SmtpReply refusal)
    {
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(refusal.ToWireString()), SocketFlags.None, bound.Token).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>
    /// Stops accepting, lets sessions finish for up to <paramref name="grace"/> (idle ones are told
    /// 421 at once), then ends the rest. A message not yet acknowledged is not kept, so nothing
    /// acknowledged is lost.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        _socket?.Dispose();
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
        ReceivingLog.Draining(_logger, _settings.Endpoint, (int)grace.TotalSeconds, _sessions.Count);
        Task all = Task.WhenAll(_sessions.Keys);
        if (await Task.WhenAny(all, Task.Delay(grace)).ConfigureAwait(false) != all)
        {
            _abort.Cancel();
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        _stopping.Dispose();
        _abort.Dispose();
    }
}

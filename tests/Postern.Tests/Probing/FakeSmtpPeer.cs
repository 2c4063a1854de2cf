using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Tests.Probing;

/// <summary>
/// A scripted SMTP server on 127.0.0.1 (a fake of the peer, for behaviour real servers do not
/// show): each accepted connection runs the script. Failures of the script are kept for the test.
/// </summary>
internal sealed class FakeSmtpPeer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Task> _sessions = [];

    public FakeSmtpPeer(Func<PeerConnection, CancellationToken, Task> script)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync(script);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Target => $"[127.0.0.1]:{Port}";

    public int Connections { get; private set; }

    private async Task AcceptAsync(Func<PeerConnection, CancellationToken, Task> script)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                Connections++;
                lock (_sessions)
                {
                    _sessions.Add(RunAsync(socket, script));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
    }

    private async Task RunAsync(Socket socket, Func<PeerConnection, CancellationToken, Task> script)
    {
        using var connection = new PeerConnection(socket);
        try
        {
            await script(connection, _stop.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away: expected in hostile scripts.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}

/// <summary>One accepted connection of a <see cref="FakeSmtpPeer"/>.</summary>
internal sealed class PeerConnection(Socket socket) : IDisposable
{
    private readonly NetworkStream _network = new(socket, ownsSocket: true);

    public Socket Socket { get; } = socket;

    public Stream? Stream { get; set; }

    private Stream Current => Stream ?? _network;

    public NetworkStream Network => _network;

    public async Task SendAsync(string text, CancellationToken cancellationToken)
    {
        await Current.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await Current.FlushAsync(cancellationToken);
    }

    /// <summary>Reads one line (without CRLF) a byte at a time, so nothing after it is consumed.</summary>
    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var read = await Current.ReadAsync(one, cancellationToken);
            if (read == 0)
            {
                return bytes.Count == 0 ? null : Encoding.UTF8.GetString([.. bytes]);
            }

            if (one[0] == '\n')
            {
                return Encoding.UTF8.GetString([.. bytes]).TrimEnd('\r');
            }

            bytes.Add(one[0]);
        }
    }

    /// <summary>Closes with a TCP reset instead of a FIN.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    public void Dispose()
    {
        Stream?.Dispose();
        _network.Dispose();
    }
}

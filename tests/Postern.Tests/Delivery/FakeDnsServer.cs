using System.Net;
using System.Net.Sockets;

namespace Postern.Tests.Delivery;

/// <summary>How <see cref="FakeDnsServer"/> answers.</summary>
public enum FakeDnsBehavior
{
    /// <summary>Every query gets SERVFAIL (response code 2).</summary>
    ServerFailure,

    /// <summary>Every query gets REFUSED (response code 5).</summary>
    Refused,

    /// <summary>Queries are read and never answered, so the client times out.</summary>
    Silent,
}

/// <summary>
/// A UDP DNS server on 127.0.0.1 that fails every query in one way: the failures a real resolver
/// cannot be made to produce on demand (unbound answers a local zone, it does not SERVFAIL it).
/// </summary>
public sealed class FakeDnsServer : IDisposable
{
    private readonly UdpClient _udp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _queries;

    /// <summary>Starts answering on a free port.</summary>
    public FakeDnsServer(FakeDnsBehavior behavior)
    {
        Behavior = behavior;
        _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_udp.Client.LocalEndPoint!).Port;
        _loop = Task.Run(ServeAsync);
    }

    /// <summary>How it answers.</summary>
    public FakeDnsBehavior Behavior { get; }

    /// <summary>The UDP port.</summary>
    public int Port { get; }

    /// <summary>The server as <c>gateway.dns.servers</c> takes it.</summary>
    public string Server => $"127.0.0.1:{Port}";

    /// <summary>How many queries arrived.</summary>
    public int Queries => Volatile.Read(ref _queries);

    /// <summary>Stops answering and closes the socket.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _udp.Dispose();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends with the socket's disposal.
        }
        _stop.Dispose();
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult received;
            try
            {
                received = await _udp.ReceiveAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            Interlocked.Increment(ref _queries);
            if (Behavior == FakeDnsBehavior.Silent || Answer(received.Buffer) is not { } answer)
            {
                continue;
            }
            try
            {
                await _udp.SendAsync(answer, received.RemoteEndPoint, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
        }
    }

    /// <summary>The query's header and question, flagged as a response with the failure's code (RFC 1035 4.1).</summary>
    private byte[]? Answer(byte[] query)
    {
        if (query.Length < 12 || query[4] != 0 || query[5] != 1)
        {
            return null;
        }
        var end = 12;
        while (end < query.Length && query[end] != 0)
        {
            end += 1 + query[end];
        }
        end += 1 + 4; // the root label, QTYPE and QCLASS
        if (end > query.Length)
        {
            return null;
        }
        var answer = query[..end];
        var rcode = Behavior == FakeDnsBehavior.ServerFailure ? 2 : 5;
        answer[2] = (byte)(0x80 | (query[2] & 0x79)); // QR, the opcode, RD
        answer[3] = (byte)(0x80 | rcode); // RA, RCODE
        answer[6] = answer[7] = answer[8] = answer[9] = answer[10] = answer[11] = 0;
        return answer;
    }
}

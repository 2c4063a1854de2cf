using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Postern.Hosting;

namespace Postern.Cli;

/// <summary>What every command that talks to a running gateway shares: the HTTP client for its admin endpoint and the wording of failures.</summary>
internal static class AdminClient
{
    /// <summary>HTTP over TCP to a loopback address, or over the Unix socket.</summary>
    public static HttpClient Create(EndPoint endpoint, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = endpoint is UnixDomainSocketEndPoint
                    ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                    : new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(endpoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = timeout };
    }

    /// <summary>Why the endpoint could not be reached, in a few words ("connection refused", "no such socket").</summary>
    public static string Describe(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.AddressNotAvailable => "no such socket",
                    SocketError.AccessDenied => "permission denied",
                    SocketError.TimedOut => "connection timed out",
                    _ => socket.Message,
                };
            }
        }
        return e.Message;
    }

    /// <summary>The endpoint's <c>{"error": "..."}</c>, or the status when the answer is not that.</summary>
    public static string ErrorMessage(string body, int status, string? reason = null)
    {
        try
        {
            if (JsonSerializer.Deserialize(body, AdminEndpointJsonContext.Default.AdminError) is { Error.Length: > 0 } problem) return problem.Error;
        }
        catch (JsonException)
        {
            // Not our JSON: fall back to the status.
        }
        return reason is null ? $"the admin endpoint answered {status}" : $"the admin endpoint answered {status} {reason}";
    }
}

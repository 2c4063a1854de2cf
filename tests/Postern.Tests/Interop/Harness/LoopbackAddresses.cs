using System.Net;
using System.Net.NetworkInformation;

namespace Postern.Tests.Interop;

/// <summary>
/// Assigns extra 127.0.0.0/8 addresses to <c>lo</c>. The range is routed to loopback but only
/// 127.0.0.1 is assigned, and Postfix refuses to listen on an unassigned address.
/// </summary>
public static class LoopbackAddresses
{
    private static readonly Lock Gate = new();

    /// <summary>Makes sure <paramref name="address"/> is assigned to <c>lo</c>.</summary>
    public static void Ensure(string address)
    {
        var ip = IPAddress.Parse(address);
        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !IPAddress.IsLoopback(ip))
        {
            throw new ArgumentException($"{address} is not an IPv4 loopback address", nameof(address));
        }

        lock (Gate)
        {
            if (IsAssigned(ip))
            {
                return;
            }

            var result = ExternalProcess.Run(InteropTools.Require("ip"), "addr", "add", $"{address}/32", "dev", "lo");
            if (result.ExitCode != 0 && !IsAssigned(ip))
            {
                throw new InteropPrerequisiteException($"cannot assign {address} to lo (tests must run as root)\n{result.Describe()}");
            }
        }
    }

    /// <summary>Makes sure every one of <paramref name="addresses"/> is assigned.</summary>
    public static void Ensure(params string[] addresses)
    {
        foreach (var address in addresses)
        {
            Ensure(address);
        }
    }

    /// <summary>Whether <paramref name="address"/> is assigned to some interface.</summary>
    public static bool IsAssigned(IPAddress address) =>
        NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Any(u => u.Address.Equals(address));
}

using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace Postern.Probing;

/// <summary>A mail host to probe: its name (or address) and MX preference.</summary>
/// <param name="Name">Host name or literal address.</param>
/// <param name="Preference">MX preference, or null when not from an MX record.</param>
public sealed record MailHost(string Name, int? Preference);

/// <summary>MX, A and AAAA lookups for the probe with DnsClient; a given server, or the system's.</summary>
public sealed class MxLookup
{
    private readonly LookupClient _client;
    private readonly bool _systemResolver;

    /// <summary>Creates the lookup; <paramref name="server"/> null uses the system's resolvers (and /etc/hosts for addresses).</summary>
    public MxLookup(IPEndPoint? server, TimeSpan timeout)
    {
        var options = server is null ? new LookupClientOptions() : new LookupClientOptions(server);
        options.UseCache = false;
        options.Timeout = timeout;
        options.Retries = 1;
        options.ThrowDnsErrors = false;
        options.ContinueOnDnsError = false;
        _client = new LookupClient(options);
        _systemResolver = server is null;
    }

    /// <summary>
    /// The domain's MX hosts by preference (stable among equals, so the report reads the same twice);
    /// the domain itself when it has no MX (RFC 5321 5.1). Throws <see cref="DnsLookupException"/>
    /// for a failed lookup, a domain that does not exist or a null MX (RFC 7505).
    /// </summary>
    public async Task<(IReadOnlyList<MailHost> Hosts, IReadOnlyList<MxRecordReport> Records, bool ImplicitMx)> MailHostsAsync(string domain, CancellationToken cancellationToken)
    {
        var response = await QueryAsync(domain, QueryType.MX, cancellationToken).ConfigureAwait(false);
        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            throw new DnsLookupException($"the domain {domain} does not exist (NXDOMAIN)");
        }

        if (response.HasError)
        {
            throw new DnsLookupException($"MX lookup for {domain} failed: {response.ErrorMessage}");
        }

        var records = response.Answers.MxRecords()
            .Select(mx => new MxRecordReport(mx.Preference, mx.Exchange.Value.TrimEnd('.')))
            .OrderBy(mx => mx.Preference)
            .ToList();
        if (records.Count == 1 && records[0].Host.Length == 0)
        {
            throw new DnsLookupException($"{domain} accepts no mail (null MX, RFC 7505)");
        }

        if (records.Count == 0)
        {
            return ([new MailHost(domain, null)], records, true);
        }

        return (records.Where(r => r.Host.Length > 0).Select(r => new MailHost(r.Host, r.Preference)).ToList(), records, false);
    }

    /// <summary>IPv4 then IPv6 addresses of a host; empty when it has none.</summary>
    public async Task<IReadOnlyList<IPAddress>> AddressesAsync(string host, CancellationToken cancellationToken)
    {
        if (_systemResolver)
        {
            try
            {
                var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
                return addresses.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).ToArray();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData)
            {
                return [];
            }
            catch (SocketException e)
            {
                throw new DnsLookupException($"address lookup for {host} failed: {e.Message}");
            }
        }

        var result = new List<IPAddress>();
        foreach (var type in new[] { QueryType.A, QueryType.AAAA })
        {
            var response = await QueryAsync(host, type, cancellationToken).ConfigureAwait(false);
            if (response.HasError && response.Header.ResponseCode != DnsHeaderResponseCode.NotExistentDomain)
            {
                throw new DnsLookupException($"{type} lookup for {host} failed: {response.ErrorMessage}");
            }

            // CNAMEs are followed by the server; the answer section carries the final addresses.
            result.AddRange(response.Answers.OfType<AddressRecord>().Select(a => a.Address));
        }

        return result;
    }

    private async Task<IDnsQueryResponse> QueryAsync(string name, QueryType type, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.QueryAsync(name, type, QueryClass.IN, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException e)
        {
            throw new DnsLookupException($"{type} lookup for {name} failed: {e.Message}");
        }
    }
}

/// <summary>A DNS lookup the probe needs failed.</summary>
public sealed class DnsLookupException(string message) : Exception(message);

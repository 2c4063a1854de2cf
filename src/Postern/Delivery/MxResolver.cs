using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Postern.Configuration;
using Postern.Smtp;

namespace Postern.Delivery;

/// <summary>
/// Finds the hosts to deliver to: a recipient domain's MX hosts (RFC 5321 5.1) with their
/// addresses, or a smart host's addresses. Failures are values: a DNS temporary failure is
/// transient (the message waits), a domain that does not exist or publishes a null MX is
/// permanent (the message bounces).
/// </summary>
/// <remarks>
/// Decisions that follow Postfix's <c>smtp</c> client:
/// <list type="bullet">
/// <item>An MX host that has no address (NXDOMAIN, no A/AAAA, or a lookup failure) is skipped. When
/// no MX host has an address, the result is transient <c>4.4.3</c> if any lookup failed
/// temporarily (the missing address may appear on a retry), and permanent <c>5.4.4</c> ("Host or
/// domain name not found") only when every lookup gave a definite answer: Postfix does the same
/// (<c>DNS_RETRY</c> → 4.4.3, <c>DNS_NOTFOUND</c> → 5.4.4).</item>
/// <item>An MX exchange that is an IP address ("MX 10 192.0.2.1.") is used as that address, as
/// Postfix's <c>smtp_addr_one</c> does (it warns "numeric domain name in resource data").</item>
/// <item>An MX exchange that is a CNAME (forbidden by RFC 2181 10.3, common in practice) is
/// followed to its addresses; the host keeps the MX name, which is what TLS verification checks
/// (Postfix's default, <c>smtp_cname_overrides_servername = no</c>).</item>
/// <item>A domain name that is a CNAME is followed for its MX and implicit A/AAAA records
/// (RFC 5321 5.1: the resulting name is processed as if it were the initial one).</item>
/// </list>
/// </remarks>
public sealed class MxResolver
{
    /// <summary>RFC 7505 3: the domain accepts no mail.</summary>
    public static readonly EnhancedStatusCode NullMxStatus = new(5, 1, 10);

    /// <summary>The recipient domain does not exist (RFC 3463 X.1.2, bad destination system address).</summary>
    public static readonly EnhancedStatusCode NoSuchDomainStatus = new(5, 1, 2);

    /// <summary>A DNS lookup failed temporarily (RFC 3463 X.4.3, directory server failure).</summary>
    public static readonly EnhancedStatusCode TemporaryFailureStatus = new(4, 4, 3);

    /// <summary>No host of the destination has an address (RFC 3463 X.4.4, unable to route).</summary>
    public static readonly EnhancedStatusCode NoRouteStatus = new(5, 4, 4);

    /// <summary>A smart host name does not resolve: a configuration error to fix, so mail waits.</summary>
    public static readonly EnhancedStatusCode SmartHostNotFoundStatus = new(4, 4, 4);

    /// <summary>An address literal that is not an IP address (RFC 3463 X.1.3, bad address syntax).</summary>
    public static readonly EnhancedStatusCode BadAddressLiteralStatus = new(5, 1, 3);

    /// <summary>
    /// At most this many MX hosts (after ordering) are looked up, so that a domain publishing
    /// hundreds of MX records cannot make one delivery send hundreds of queries.
    /// </summary>
    public const int MaxMxHosts = 20;

    /// <summary>How many CNAMEs are followed for one name before the lookup counts as failed.</summary>
    private const int MaxCnameHops = 8;

    /// <summary>DnsClient's retries per server: three tries in all, as the resolver library defaults.</summary>
    private const int Retries = 2;

    private readonly DnsSettings _settings;
    private readonly Random _random;
    private readonly bool _lockRandom;
    private readonly bool _preferIPv6;
    private LookupClient? _client;

    /// <summary>Creates a resolver for <c>gateway.dns</c>.</summary>
    /// <param name="settings">The servers ("host" or "host:port"; empty: the system's resolvers) and the timeout per try.</param>
    /// <param name="random">Orders MX hosts of equal preference; <see langword="null"/> for <see cref="Random.Shared"/>. Tests pass a seeded one.</param>
    /// <param name="preferIPv6">Whether a host's IPv6 addresses are tried before its IPv4 ones.</param>
    public MxResolver(DnsSettings settings, Random? random = null, bool preferIPv6 = false)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _random = random ?? Random.Shared;
        _lockRandom = random is not null;
        _preferIPv6 = preferIPv6;
    }

    /// <summary>
    /// The longest a single query can take before it counts as a temporary failure: the timeout
    /// per try times the tries per server times the servers.
    /// </summary>
    public TimeSpan MaxQueryTime =>
        TimeSpan.FromSeconds(_settings.TimeoutSeconds) * (Retries + 1) * Math.Max(1, _settings.Servers.Count);

    /// <summary>
    /// Resolves a recipient domain to the hosts to try, in order: MX hosts by preference, in random
    /// order among equal preferences (RFC 5321 5.1); the domain itself when it has no MX records;
    /// the address of an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") without DNS.
    /// </summary>
    /// <param name="domain">The domain part of a recipient address (a U-label domain is converted to its A-label form).</param>
    /// <param name="cancellationToken">Cancels the lookup; cancellation throws rather than returning a result.</param>
    public async Task<MxResolution> ResolveAsync(string domain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (domain.StartsWith('['))
        {
            return ResolveAddressLiteral(domain);
        }
        if (!TryNormalize(domain, out var name))
        {
            return MxResolution.Permanent(NoSuchDomainStatus, $"{domain}: not a valid domain name");
        }
        var client = await GetClientAsync(cancellationToken).ConfigureAwait(false);
        if (client.Error is { } clientError)
        {
            return MxResolution.Transient(TemporaryFailureStatus, $"DNS temporary failure: {clientError}");
        }

        var mx = await QueryAsync(client.Client!, name, QueryType.MX, cancellationToken).ConfigureAwait(false);
        switch (mx.Outcome)
        {
            case LookupOutcome.Failed:
                return MxResolution.Transient(TemporaryFailureStatus, $"DNS temporary failure: {mx.Error}");
            case LookupOutcome.NotFound:
                return MxResolution.Permanent(NoSuchDomainStatus, $"{name}: domain does not exist (NXDOMAIN)");
            case LookupOutcome.NoData:
                return await ResolveImplicitMxAsync(client.Client!, name, cancellationToken).ConfigureAwait(false);
        }

        var records = mx.Records.OfType<MxRecord>().ToList();
        if (records.Count == 1 && records[0].Preference == 0 && IsRoot(records[0].Exchange))
        {
            return MxResolution.Permanent(NullMxStatus, $"Recipient address has null MX: {name} accepts no mail (RFC 7505)");
        }

        var exchanges = OrderExchanges(records);
        if (exchanges.Count == 0)
        {
            // Only "." exchanges next to other records: not a valid null MX, and nothing to try.
            return MxResolution.Permanent(NoRouteStatus, $"Host or domain name not found: the MX records of {name} name no host");
        }

        var lookups = await Task.WhenAll(exchanges.Select(e => ResolveAddressesAsync(client.Client!, e.Name, cancellationToken))).ConfigureAwait(false);
        var hosts = new List<MxHost>();
        for (var i = 0; i < exchanges.Count; i++)
        {
            if (lookups[i].Addresses.Count > 0)
            {
                hosts.Add(new MxHost(exchanges[i].Name, exchanges[i].Preference, lookups[i].Addresses, IsImplicit: false));
            }
        }
        if (hosts.Count > 0)
        {
            return MxResolution.Success(hosts);
        }

        var failed = lookups.Where(l => l.Outcome == LookupOutcome.Failed).Select(l => l.Error).ToList();
        return failed.Count > 0
            ? MxResolution.Transient(TemporaryFailureStatus, $"DNS temporary failure: no address for any MX host of {name}: {string.Join("; ", failed)}")
            : MxResolution.Permanent(NoRouteStatus,
                $"Host or domain name not found: no MX host of {name} has an address ({string.Join("; ", lookups.Select(l => l.Error))})");
    }

    /// <summary>
    /// Resolves a smart host: "host" or "host:port" to the host's A/AAAA addresses (no MX lookup),
    /// "[IP]" or "[IP]:port" (or a bare IPv4 address) to that address. The port is carried through
    /// in <see cref="MxHost.Port"/>. A name that does not resolve is transient <c>4.4.4</c>, not a
    /// bounce: the smart host is the operator's configuration, and mail should wait for the fix.
    /// </summary>
    /// <param name="host">The smart host, in the syntax of the configuration contract.</param>
    /// <param name="cancellationToken">Cancels the lookup; cancellation throws rather than returning a result.</param>
    public async Task<MxResolution> ResolveHostAsync(string host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!ConfigurationSyntax.TryParseHostAndPort(host, allowBareIPv6: false, out var name, out var port))
        {
            return MxResolution.Transient(SmartHostNotFoundStatus, $"smart host '{host}' is not \"host\", \"host:port\", \"[IP]\" or \"[IP]:port\"");
        }
        if (ConfigurationSyntax.TryParseIPAddress(name, out var literal))
        {
            return MxResolution.Success([new MxHost(name, 0, [literal!], IsImplicit: true, port)]);
        }
        if (!TryNormalize(name, out var normalized))
        {
            return MxResolution.Transient(SmartHostNotFoundStatus, $"smart host '{host}' is not a valid host name");
        }
        var client = await GetClientAsync(cancellationToken).ConfigureAwait(false);
        if (client.Error is { } clientError)
        {
            return MxResolution.Transient(TemporaryFailureStatus, $"DNS temporary failure: {clientError}");
        }
        var lookup = await ResolveAddressesAsync(client.Client!, normalized, cancellationToken).ConfigureAwait(false);
        return lookup.Outcome switch
        {
            LookupOutcome.Found => MxResolution.Success([new MxHost(normalized, 0, lookup.Addresses, IsImplicit: true, port)]),
            LookupOutcome.Failed => MxResolution.Transient(TemporaryFailureStatus, $"DNS temporary failure: {lookup.Error}"),
            _ => MxResolution.Transient(SmartHostNotFoundStatus, $"smart host not found: {lookup.Error}"),
        };
    }

    private async Task<MxResolution> ResolveImplicitMxAsync(LookupClient client, string name, CancellationToken cancellationToken)
    {
        // RFC 5321 5.1: no MX RRset, so the domain itself is the single implicit MX with preference 0.
        var lookup = await ResolveAddressesAsync(client, name, cancellationToken).ConfigureAwait(false);
        return lookup.Outcome switch
        {
            LookupOutcome.Found => MxResolution.Success([new MxHost(name, 0, lookup.Addresses, IsImplicit: true)]),
            LookupOutcome.Failed => MxResolution.Transient(TemporaryFailureStatus, $"DNS temporary failure: {lookup.Error}"),
            _ => MxResolution.Permanent(NoRouteStatus, $"Host or domain name not found: {name} has no MX and no A/AAAA records ({lookup.Error})"),
        };
    }

    private static MxResolution ResolveAddressLiteral(string domain)
    {
        // RFC 5321 4.1.3: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
        if (domain.Length < 3 || domain[^1] != ']')
        {
            return MxResolution.Permanent(BadAddressLiteralStatus, $"{domain}: malformed address literal");
        }
        var inner = domain[1..^1];
        var isIPv6 = inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase);
        var text = isIPv6 ? inner[5..] : inner;
        if (!ConfigurationSyntax.TryParseIPAddress(text, out var address)
            || (address!.AddressFamily == AddressFamily.InterNetworkV6) != isIPv6)
        {
            return MxResolution.Permanent(BadAddressLiteralStatus, $"{domain}: malformed address literal");
        }
        return MxResolution.Success([new MxHost(address.ToString(), 0, [address], IsImplicit: true)]);
    }

    /// <summary>Sorts by preference, shuffles equal preferences (RFC 5321 5.1), drops "." and duplicates.</summary>
    private List<(string Name, int Preference)> OrderExchanges(List<MxRecord> records)
    {
        var best = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var record in records)
        {
            if (IsRoot(record.Exchange))
            {
                continue;
            }
            var name = record.Exchange.Value.TrimEnd('.');
            if (!best.TryGetValue(name, out var preference) || record.Preference < preference)
            {
                best[name] = record.Preference;
            }
        }

        var ordered = new List<(string Name, int Preference)>(best.Count);
        foreach (var group in best.GroupBy(p => p.Value).OrderBy(g => g.Key))
        {
            // Sort first so the shuffle's input does not depend on the order the server answered in.
            var names = group.Select(p => p.Key).Order(StringComparer.OrdinalIgnoreCase).ToArray();
            Shuffle(names);
            ordered.AddRange(names.Select(n => (n, group.Key)));
        }
        return ordered.Count > MaxMxHosts ? ordered[..MaxMxHosts] : ordered;
    }

    private void Shuffle(string[] names)
    {
        if (names.Length < 2)
        {
            return;
        }
        if (!_lockRandom)
        {
            _random.Shuffle(names);
            return;
        }
        lock (_random)
        {
            _random.Shuffle(names);
        }
    }

    /// <summary>A host's A and AAAA addresses, CNAMEs followed, in the configured family order.</summary>
    private async Task<AddressLookup> ResolveAddressesAsync(LookupClient client, string host, CancellationToken cancellationToken)
    {
        if (ConfigurationSyntax.TryParseIPAddress(host, out var literal))
        {
            return new AddressLookup(LookupOutcome.Found, [literal!], null);
        }
        var a = QueryAsync(client, host, QueryType.A, cancellationToken);
        var aaaa = QueryAsync(client, host, QueryType.AAAA, cancellationToken);
        var v4 = await a.ConfigureAwait(false);
        var v6 = await aaaa.ConfigureAwait(false);
        var v4Addresses = v4.Records.OfType<ARecord>().Select(r => r.Address);
        var v6Addresses = v6.Records.OfType<AaaaRecord>().Select(r => r.Address);
        var addresses = (_preferIPv6 ? v6Addresses.Concat(v4Addresses) : v4Addresses.Concat(v6Addresses)).Distinct().ToList();
        if (addresses.Count > 0)
        {
            return new AddressLookup(LookupOutcome.Found, addresses, null);
        }
        if (v4.Outcome == LookupOutcome.Failed || v6.Outcome == LookupOutcome.Failed)
        {
            return new AddressLookup(LookupOutcome.Failed, [], v4.Outcome == LookupOutcome.Failed ? v4.Error : v6.Error);
        }
        return v4.Outcome == LookupOutcome.NotFound
            ? new AddressLookup(LookupOutcome.NotFound, [], $"{host}: host not found (NXDOMAIN)")
            : new AddressLookup(LookupOutcome.NoData, [], $"{host}: no A or AAAA record");
    }

    /// <summary>
    /// One query, CNAMEs followed: a recursive server normally answers with the whole chain, and
    /// when it returns only the CNAME the target is asked for, up to <see cref="MaxCnameHops"/>.
    /// </summary>
    private async Task<Lookup> QueryAsync(LookupClient client, string name, QueryType type, CancellationToken cancellationToken)
    {
        var current = name;
        for (var hop = 0; hop <= MaxCnameHops; hop++)
        {
            IDnsQueryResponse response;
            try
            {
                response = await client.QueryAsync(current + ".", type, QueryClass.IN, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (DnsResponseException e)
            {
                // DnsClient reports a cancelled query as a failed one.
                cancellationToken.ThrowIfCancellationRequested();
                var reason = e.Code == DnsResponseCode.ConnectionTimeout ? "timed out" : e.DnsError;
                return Lookup.Failure($"{current} {type}: {reason}");
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or TimeoutException)
            {
                cancellationToken.ThrowIfCancellationRequested();
                return Lookup.Failure($"{current} {type}: {e.Message}");
            }

            switch (response.Header.ResponseCode)
            {
                case DnsHeaderResponseCode.NoError:
                    break;
                case DnsHeaderResponseCode.NotExistentDomain:
                    return new Lookup(LookupOutcome.NotFound, [], $"{current} {type}: NXDOMAIN");
                default:
                    return Lookup.Failure($"{current} {type}: {DescribeResponseCode(response.Header.ResponseCode)} from {response.NameServer}");
            }

            var records = response.Answers.Where(r => r.RecordType == (ResourceRecordType)type).ToList();
            if (records.Count > 0)
            {
                return new Lookup(LookupOutcome.Found, records, null);
            }
            var target = FinalCnameTarget(response.Answers, current);
            if (target is null)
            {
                return new Lookup(LookupOutcome.NoData, [], $"{current} {type}: no record");
            }
            current = target;
        }
        return Lookup.Failure($"{name} {type}: more than {MaxCnameHops} CNAMEs");
    }

    /// <summary>Where the CNAME chain that starts at <paramref name="name"/> ends within one answer, or null without a CNAME.</summary>
    private static string? FinalCnameTarget(IReadOnlyList<DnsResourceRecord> answers, string name)
    {
        var cnames = answers.OfType<CNameRecord>().ToList();
        string? target = null;
        var current = name;
        for (var i = 0; i <= cnames.Count; i++)
        {
            var next = cnames.FirstOrDefault(c => string.Equals(c.DomainName.Value.TrimEnd('.'), current, StringComparison.OrdinalIgnoreCase));
            if (next is null)
            {
                break;
            }
            target = current = next.CanonicalName.Value.TrimEnd('.');
        }
        return target;
    }

    private static string DescribeResponseCode(DnsHeaderResponseCode code) => code switch
    {
        DnsHeaderResponseCode.ServerFailure => "SERVFAIL",
        DnsHeaderResponseCode.Refused => "REFUSED",
        DnsHeaderResponseCode.FormatError => "FORMERR",
        DnsHeaderResponseCode.NotImplemented => "NOTIMP",
        _ => $"response code {(int)code}",
    };

    private static bool IsRoot(DnsString name) => name.Value is "." or "";

    /// <summary>Lower case A-label form without the trailing dot; false when it is not a domain name.</summary>
    private static bool TryNormalize(string domain, out string name)
    {
        name = domain.Trim().TrimEnd('.');
        if (!name.All(char.IsAscii))
        {
            try
            {
                name = new IdnMapping().GetAscii(name);
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
        name = name.ToLowerInvariant();
        // Underscores are not valid in host names, but they are in DNS; accept what DNS accepts.
        return name.Length is > 0 and <= ConfigurationSyntax.MaxDomainNameLength
            && name.Split('.').All(l => l.Length is > 0 and <= 63 && l.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'));
    }

    private async Task<(LookupClient? Client, string? Error)> GetClientAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _client) is { } existing)
        {
            return (existing, null);
        }
        var servers = new List<NameServer>();
        foreach (var server in _settings.Servers)
        {
            if (!ConfigurationSyntax.TryParseHostAndPort(server, allowBareIPv6: true, out var host, out var port))
            {
                return (null, $"DNS server '{server}' is not \"host\" or \"host:port\"");
            }
            IPAddress[] addresses;
            if (ConfigurationSyntax.TryParseIPAddress(host, out var address))
            {
                addresses = [address!];
            }
            else
            {
                // A server given by name is found once with the system resolver; a failure is not
                // remembered, so the next delivery tries again.
                try
                {
                    addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    return (null, $"DNS server '{host}': {e.Message}");
                }
            }
            servers.AddRange(addresses.Select(a => new NameServer(a, port ?? NameServer.DefaultPort)));
        }

        var options = servers.Count > 0 ? new LookupClientOptions([.. servers]) : new LookupClientOptions();
        options.Timeout = TimeSpan.FromSeconds(_settings.TimeoutSeconds);
        options.Retries = Retries;
        // Cached answers live as long as their TTLs; failures are never cached, so a retry asks again.
        options.UseCache = true;
        options.CacheFailedResults = false;
        options.UseTcpFallback = true;
        options.UseTcpOnly = false;
        options.ThrowDnsErrors = false;
        // An empty answer (no MX) is an answer; asking the next server would only waste time. A
        // SERVFAIL from one server is worth asking the next one.
        options.ContinueOnEmptyResponse = false;
        options.ContinueOnDnsError = true;
        var client = new LookupClient(options);
        return (Interlocked.CompareExchange(ref _client, client, null) ?? client, null);
    }

    private enum LookupOutcome { Found, NoData, NotFound, Failed }

    private sealed record Lookup(LookupOutcome Outcome, IReadOnlyList<DnsResourceRecord> Records, string? Error)
    {
        public static Lookup Failure(string error) => new(LookupOutcome.Failed, [], error);
    }

    private sealed record AddressLookup(LookupOutcome Outcome, IReadOnlyList<IPAddress> Addresses, string? Error);
}

using System.Net;
using Postern.Configuration;
using Postern.Delivery;
using Postern.Smtp;
using Postern.Tests.Interop;

namespace Postern.Tests.Delivery;

/// <summary>The resolver against a real unbound answering a private "test." zone on loopback.</summary>
[Collection(InteropCollection.Name)]
public sealed class MxResolverInteropTests : IClassFixture<MxResolverInteropTests.Zone>
{
    private readonly Zone _zone;

    public MxResolverInteropTests(InteropEnvironment environment, Zone zone)
    {
        _ = environment;
        _zone = zone;
    }

    /// <summary>One unbound for the class, with every record the tests ask about.</summary>
    public sealed class Zone : IAsyncLifetime
    {
        public static readonly string[] Records =
        [
            // Preference order; the second host has IPv4 and IPv6.
            "example.test. MX 20 mx2.example.test.",
            "example.test. MX 10 mx1.example.test.",
            "mx1.example.test. A 192.0.2.11",
            "mx2.example.test. A 192.0.2.12",
            "mx2.example.test. AAAA 2001:db8::12",
            // Equal preferences.
            "equal.test. MX 10 a.equal.test.",
            "equal.test. MX 10 b.equal.test.",
            "equal.test. MX 10 c.equal.test.",
            "equal.test. MX 20 z.equal.test.",
            "a.equal.test. A 192.0.2.21",
            "b.equal.test. A 192.0.2.22",
            "c.equal.test. A 192.0.2.23",
            "z.equal.test. A 192.0.2.29",
            // No MX: the domain's own addresses.
            "implicit.test. A 192.0.2.30",
            "implicit.test. AAAA 2001:db8::30",
            // RFC 7505.
            "nullmx.test. MX 0 .",
            // An MX host that is a CNAME, and a domain that is a CNAME.
            "cname.test. MX 10 alias.cname.test.",
            "alias.cname.test. CNAME real.cname.test.",
            "real.cname.test. A 192.0.2.40",
            "aliasdomain.test. CNAME example.test.",
            // IPv6 only.
            "v6only.test. MX 10 mx.v6only.test.",
            "mx.v6only.test. AAAA 2001:db8::60",
            // Hosts without addresses are skipped.
            "skip.test. MX 10 gone.skip.test.",
            "skip.test. MX 20 noaddr.skip.test.",
            "skip.test. MX 30 ok.skip.test.",
            "noaddr.skip.test. TXT no-address",
            "ok.skip.test. A 192.0.2.70",
            // No MX host has an address.
            "noaddress.test. MX 10 gone.noaddress.test.",
            "noaddress.test. MX 20 txt.noaddress.test.",
            "txt.noaddress.test. TXT no-address",
            // Exists, no MX, no address.
            "empty.test. TXT nothing-here",
            // An MX exchange written as an IP address.
            "ipmx.test. MX 10 192.0.2.80.",
            // A smart host.
            "relay.test. A 192.0.2.90",
            "relay.test. AAAA 2001:db8::90",
            // An MX host in a zone that refuses queries.
            "mixed.test. MX 10 mx.refused.test.",
            "mixed.test. MX 20 mx.example.test.",
            "mx.example.test. A 192.0.2.99",
            "refusedonly.test. MX 10 mx.refused.test.",
        ];

        public UnboundServer Server { get; private set; } = null!;

        public async Task InitializeAsync() => Server = await UnboundServer.StartAsync(Records, refusedZones: ["refused.test"]);

        public Task DisposeAsync()
        {
            Server?.Dispose();
            return Task.CompletedTask;
        }
    }

    private MxResolver Resolver(Random? random = null, bool preferIPv6 = false) =>
        new(new DnsSettings { Servers = [_zone.Server.Server], TimeoutSeconds = 2 }, random ?? new Random(1), preferIPv6);

    private static IPAddress[] Ips(params string[] addresses) => addresses.Select(IPAddress.Parse).ToArray();

    [InteropFact]
    public async Task Mx_hosts_come_in_preference_order_with_all_their_addresses()
    {
        var result = await Resolver().ResolveAsync("example.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(["mx1.example.test", "mx2.example.test"], result.Hosts.Select(h => h.Name));
        Assert.Equal([10, 20], result.Hosts.Select(h => h.Preference));
        Assert.Equal(Ips("192.0.2.11"), result.Hosts[0].Addresses);
        Assert.Equal(Ips("192.0.2.12", "2001:db8::12"), result.Hosts[1].Addresses);
        Assert.All(result.Hosts, h => Assert.False(h.IsImplicit));
        Assert.Null(result.Status);
        Assert.Null(result.Error);
    }

    [InteropFact]
    public async Task Equal_preferences_are_shuffled_by_the_random_source_and_stay_ahead_of_higher_ones()
    {
        var orders = new HashSet<string>();
        for (var seed = 0; seed < 40; seed++)
        {
            var result = await Resolver(new Random(seed)).ResolveAsync("equal.test", CancellationToken.None);
            Assert.True(result.IsSuccess, result.ToString());
            var names = result.Hosts.Select(h => h.Name).ToList();
            Assert.Equal(["a.equal.test", "b.equal.test", "c.equal.test"], names.Take(3).Order());
            Assert.Equal("z.equal.test", names[3]);
            orders.Add(string.Join(' ', names));

            // The same seed gives the same order.
            var again = await Resolver(new Random(seed)).ResolveAsync("equal.test", CancellationToken.None);
            Assert.Equal(names, again.Hosts.Select(h => h.Name));
        }
        // 3! = 6 orders of the three equal hosts; 40 seeds show every one.
        Assert.Equal(6, orders.Count);
    }

    [InteropFact]
    public async Task Domain_without_mx_is_its_own_implicit_mx()
    {
        var result = await Resolver().ResolveAsync("implicit.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        var host = Assert.Single(result.Hosts);
        Assert.Equal("implicit.test", host.Name);
        Assert.True(host.IsImplicit);
        Assert.Equal(0, host.Preference);
        Assert.Equal(Ips("192.0.2.30", "2001:db8::30"), host.Addresses);
    }

    [InteropFact]
    public async Task IPv6_first_when_preferred()
    {
        var result = await Resolver(preferIPv6: true).ResolveAsync("implicit.test", CancellationToken.None);

        Assert.Equal(Ips("2001:db8::30", "192.0.2.30"), Assert.Single(result.Hosts).Addresses);
    }

    [InteropFact]
    public async Task Null_mx_bounces_with_5_1_10()
    {
        var result = await Resolver().ResolveAsync("nullmx.test", CancellationToken.None);

        Assert.True(result.IsPermanentFailure, result.ToString());
        Assert.False(result.IsTransientFailure);
        Assert.Equal(EnhancedStatusCode.Parse("5.1.10"), result.Status);
        Assert.Contains("null MX", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Hosts);
    }

    [InteropFact]
    public async Task Nonexistent_domain_bounces_with_5_1_2_and_gets_no_implicit_mx()
    {
        var result = await Resolver().ResolveAsync("nosuch.test", CancellationToken.None);

        Assert.True(result.IsPermanentFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("5.1.2"), result.Status);
        Assert.Contains("domain does not exist", result.Error, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Cname_mx_host_is_followed_and_keeps_its_mx_name()
    {
        var result = await Resolver().ResolveAsync("cname.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        var host = Assert.Single(result.Hosts);
        Assert.Equal("alias.cname.test", host.Name);
        Assert.Equal(Ips("192.0.2.40"), host.Addresses);
    }

    [InteropFact]
    public async Task Cname_domain_is_followed_to_the_target_mx()
    {
        var result = await Resolver().ResolveAsync("aliasdomain.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(["mx1.example.test", "mx2.example.test"], result.Hosts.Select(h => h.Name));
    }

    [InteropFact]
    public async Task IPv6_only_mx_host_has_its_AAAA_address()
    {
        var result = await Resolver().ResolveAsync("v6only.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(Ips("2001:db8::60"), Assert.Single(result.Hosts).Addresses);
    }

    [InteropFact]
    public async Task Mx_hosts_without_addresses_are_skipped()
    {
        var result = await Resolver().ResolveAsync("skip.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        var host = Assert.Single(result.Hosts);
        Assert.Equal("ok.skip.test", host.Name);
        Assert.Equal(30, host.Preference);
    }

    [InteropFact]
    public async Task No_mx_host_with_an_address_bounces_with_5_4_4()
    {
        var result = await Resolver().ResolveAsync("noaddress.test", CancellationToken.None);

        Assert.True(result.IsPermanentFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("5.4.4"), result.Status);
        Assert.Contains("gone.noaddress.test", result.Error, StringComparison.Ordinal);
        Assert.Contains("txt.noaddress.test", result.Error, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Existing_domain_without_mx_or_address_bounces_with_5_4_4()
    {
        var result = await Resolver().ResolveAsync("empty.test", CancellationToken.None);

        Assert.True(result.IsPermanentFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("5.4.4"), result.Status);
    }

    [InteropFact]
    public async Task Mx_host_failing_temporarily_is_skipped_when_another_resolves()
    {
        var result = await Resolver().ResolveAsync("mixed.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal("mx.example.test", Assert.Single(result.Hosts).Name);
    }

    [InteropFact]
    public async Task Only_mx_host_failing_temporarily_defers()
    {
        var result = await Resolver().ResolveAsync("refusedonly.test", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("4.4.3"), result.Status);
        Assert.Contains("REFUSED", result.Error, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Refused_domain_lookup_defers()
    {
        var result = await Resolver().ResolveAsync("x.refused.test", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("4.4.3"), result.Status);
    }

    [InteropFact]
    public async Task Mx_exchange_written_as_an_ip_address_is_that_address()
    {
        var result = await Resolver().ResolveAsync("ipmx.test", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(Ips("192.0.2.80"), Assert.Single(result.Hosts).Addresses);
    }

    [InteropFact]
    public async Task Domain_name_is_case_and_trailing_dot_insensitive()
    {
        var result = await Resolver().ResolveAsync("Example.TEST.", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal("mx1.example.test", result.Hosts[0].Name);
    }

    [InteropFact]
    public async Task Smart_host_name_resolves_to_its_addresses_and_keeps_its_port()
    {
        var result = await Resolver().ResolveHostAsync("relay.test:2525", CancellationToken.None);

        Assert.True(result.IsSuccess, result.ToString());
        var host = Assert.Single(result.Hosts);
        Assert.Equal("relay.test", host.Name);
        Assert.Equal(2525, host.Port);
        Assert.Equal(Ips("192.0.2.90", "2001:db8::90"), host.Addresses);
    }

    [InteropFact]
    public async Task Smart_host_is_not_looked_up_as_an_mx()
    {
        // example.test has MX records but no A record of its own.
        var result = await Resolver().ResolveHostAsync("example.test", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("4.4.4"), result.Status);
    }

    [InteropFact]
    public async Task Unknown_smart_host_defers_with_4_4_4()
    {
        var result = await Resolver().ResolveHostAsync("nosuch.test", CancellationToken.None);

        Assert.True(result.IsTransientFailure, result.ToString());
        Assert.Equal(EnhancedStatusCode.Parse("4.4.4"), result.Status);
        Assert.Empty(result.Hosts);
        Assert.Contains("nosuch.test", result.Error, StringComparison.Ordinal);
    }

    [InteropFact]
    public async Task Several_servers_and_the_first_one_failing_still_resolves()
    {
        using var broken = new FakeDnsServer(FakeDnsBehavior.ServerFailure);
        var settings = new DnsSettings { Servers = [broken.Server, _zone.Server.Server], TimeoutSeconds = 2 };

        for (var i = 0; i < 4; i++)
        {
            var result = await new MxResolver(settings).ResolveAsync("example.test", CancellationToken.None);
            Assert.True(result.IsSuccess, result.ToString());
        }
    }
}

namespace Postern.Tests.Interop;

/// <summary>
/// Shared by every interop test class (<c>[Collection("Interop")]</c>): checks that the machine
/// has the tools, root rights and loopback addresses, and holds one <see cref="TestPki"/> per
/// test run. If anything is missing the constructor throws, and every interop test fails with
/// that message instead of being skipped.
/// </summary>
public sealed class InteropEnvironment : IDisposable
{
    /// <summary>Loopback addresses the interop tests use (127.0.0.2 to 127.0.0.9).</summary>
    public static readonly IReadOnlyList<string> Addresses =
        Enumerable.Range(2, 8).Select(n => $"127.0.0.{n}").ToList();

    private readonly Lazy<TestPki> _pki = new(() => TestPki.CreateAsync().GetAwaiter().GetResult());

    /// <summary>Checks the prerequisites.</summary>
    public InteropEnvironment()
    {
        InteropTools.Require("postfix", "postconf", "postqueue", "posttls-finger", "swaks", "openssl", "faketime", "ip");
        InteropTools.RequireRoot();
        foreach (var address in Addresses)
        {
            LoopbackAddresses.Ensure(address);
        }
    }

    /// <summary>The run's PKI (root, intermediate, leaves on demand), made on first use.</summary>
    public TestPki Pki => _pki.Value;

    /// <summary>Deletes the PKI files.</summary>
    public void Dispose()
    {
        if (_pki.IsValueCreated)
        {
            _pki.Value.Dispose();
        }
    }
}

/// <summary>
/// Interop tests share Postfix instances' addresses, port 25 and /etc/postfix/main.cf, so they
/// run one at a time, after the parallel unit tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InteropCollection : ICollectionFixture<InteropEnvironment>
{
    /// <summary>The collection name to put on interop test classes.</summary>
    public const string Name = "Interop";
}

/// <summary>
/// A test against real peers: <see cref="FactAttribute"/> with a two-minute timeout so a stuck
/// peer fails the test instead of hanging the run. The test method must be async (xunit only
/// enforces timeouts there); use a plain <c>[Fact]</c> for synchronous ones.
/// </summary>
public sealed class InteropFactAttribute : FactAttribute
{
    /// <summary>Sets the default timeout of two minutes.</summary>
    public InteropFactAttribute()
    {
        Timeout = 120_000;
    }
}

using Postern.Smtp;

namespace Postern.Delivery;

/// <summary>
/// The outcome of resolving a destination: the hosts to try, in order, or why there are none. A
/// transient failure defers delivery; a permanent one bounces.
/// </summary>
public sealed record MxResolution
{
    private MxResolution(IReadOnlyList<MxHost> hosts, EnhancedStatusCode? status, string? error, bool transient)
    {
        Hosts = hosts;
        Status = status;
        Error = error;
        IsTransientFailure = status is not null && transient;
        IsPermanentFailure = status is not null && !transient;
    }

    /// <summary>Whether the lookup failed temporarily (SERVFAIL, timeout, refused): try again later, never bounce.</summary>
    public bool IsTransientFailure { get; }

    /// <summary>Whether the destination can never be reached (no such domain, null MX, no host with an address): bounce.</summary>
    public bool IsPermanentFailure { get; }

    /// <summary>Whether there are hosts to try.</summary>
    public bool IsSuccess => !IsTransientFailure && !IsPermanentFailure;

    /// <summary>The enhanced status code of a failure (4.4.3, 5.1.2, 5.1.10, ...); <see langword="null"/> on success.</summary>
    public EnhancedStatusCode? Status { get; }

    /// <summary>What went wrong, precise enough for a DSN's diagnostic; <see langword="null"/> on success.</summary>
    public string? Error { get; }

    /// <summary>The hosts to try, in order; empty on failure.</summary>
    public IReadOnlyList<MxHost> Hosts { get; }

    /// <summary>A successful resolution with at least one host.</summary>
    public static MxResolution Success(IReadOnlyList<MxHost> hosts)
    {
        ArgumentOutOfRangeException.ThrowIfZero(hosts.Count);
        return new(hosts, null, null, transient: false);
    }

    /// <summary>A temporary failure (class 4 status).</summary>
    public static MxResolution Transient(EnhancedStatusCode status, string error)
    {
        if (status.Class != 4)
        {
            throw new ArgumentException($"a transient failure needs a class 4 status, not {status}", nameof(status));
        }
        return new([], status, error, transient: true);
    }

    /// <summary>A permanent failure (class 5 status).</summary>
    public static MxResolution Permanent(EnhancedStatusCode status, string error)
    {
        if (status.Class != 5)
        {
            throw new ArgumentException($"a permanent failure needs a class 5 status, not {status}", nameof(status));
        }
        return new([], status, error, transient: false);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        IsSuccess
            ? string.Join(", ", Hosts.Select(h => $"{h.Name}({h.Preference}):[{string.Join(' ', h.Addresses)}]"))
            : $"{(IsTransientFailure ? "transient" : "permanent")} {Status} {Error}";
}

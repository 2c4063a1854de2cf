using Postern.Configuration;

namespace Postern.Delivery;

/// <summary>
/// When to try again, when to warn and when to give up, from <c>gateway.queue</c>. The backoff
/// doubles from the minimum to the maximum, as Postfix's minimal_backoff_time/maximal_backoff_time
/// do; the queue lifetime (maximal_queue_lifetime) and the delay warning (delay_warning_time) count
/// from arrival.
/// </summary>
public sealed class RetrySchedule(QueueSettings settings)
{
    public TimeSpan MinimumBackoff { get; } = TimeSpan.FromSeconds(settings.MinimumBackoffSeconds);
    public TimeSpan MaximumBackoff { get; } = TimeSpan.FromSeconds(settings.MaximumBackoffSeconds);
    public TimeSpan Lifetime { get; } = TimeSpan.FromHours(settings.LifetimeHours);
    /// <summary>Zero: no delay warnings.</summary>
    public TimeSpan DelayWarning { get; } = TimeSpan.FromHours(settings.DelayWarningHours);

    /// <summary>The wait after the given number of failed attempts (1 = after the first).</summary>
    public TimeSpan BackoffAfter(int attempts)
    {
        if (attempts <= 1) return MinimumBackoff;
        double seconds = MinimumBackoff.TotalSeconds * Math.Pow(2, Math.Min(attempts - 1, 30));
        return TimeSpan.FromSeconds(Math.Min(seconds, MaximumBackoff.TotalSeconds));
    }

    /// <summary>The next attempt, never past the end of the lifetime (a last try just before expiry).</summary>
    public DateTimeOffset NextAttempt(DateTimeOffset arrival, DateTimeOffset now, int attempts)
    {
        DateTimeOffset next = now + BackoffAfter(attempts);
        DateTimeOffset expiry = arrival + Lifetime;
        return next < expiry ? next : expiry;
    }

    public bool IsExpired(DateTimeOffset arrival, DateTimeOffset now) => now >= arrival + Lifetime;

    public bool DelayWarningDue(DateTimeOffset arrival, DateTimeOffset now) =>
        DelayWarning > TimeSpan.Zero && now >= arrival + DelayWarning && now < arrival + Lifetime;
}

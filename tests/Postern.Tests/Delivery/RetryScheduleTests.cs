using Postern.Configuration;
using Postern.Delivery;

namespace Postern.Tests.Delivery;

public sealed class RetryScheduleTests
{
    private static readonly RetrySchedule Schedule = new(new QueueSettings { MinimumBackoffSeconds = 300, MaximumBackoffSeconds = 3600, LifetimeHours = 48, DelayWarningHours = 4 });

    [Theory]
    [InlineData(1, 300)]
    [InlineData(2, 600)]
    [InlineData(3, 1200)]
    [InlineData(4, 2400)]
    [InlineData(5, 3600)]
    [InlineData(50, 3600)]
    public void Backoff_doubles_up_to_the_maximum(int attempts, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Schedule.BackoffAfter(attempts));

    [Fact]
    public void The_next_attempt_never_passes_the_end_of_the_lifetime()
    {
        var arrival = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        DateTimeOffset now = arrival.AddHours(47).AddMinutes(50);
        Assert.Equal(arrival.AddHours(48), Schedule.NextAttempt(arrival, now, 10));
        Assert.Equal(now.AddMinutes(5), Schedule.NextAttempt(arrival, now, 1));
        Assert.False(Schedule.IsExpired(arrival, now));
        Assert.True(Schedule.IsExpired(arrival, arrival.AddHours(48)));
    }

    [Fact]
    public void A_delay_warning_is_due_after_the_warning_time_and_before_expiry()
    {
        var arrival = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.False(Schedule.DelayWarningDue(arrival, arrival.AddHours(3)));
        Assert.True(Schedule.DelayWarningDue(arrival, arrival.AddHours(4)));
        Assert.False(Schedule.DelayWarningDue(arrival, arrival.AddHours(48)));
        Assert.False(new RetrySchedule(new QueueSettings { DelayWarningHours = 0 }).DelayWarningDue(arrival, arrival.AddHours(5)));
    }
}

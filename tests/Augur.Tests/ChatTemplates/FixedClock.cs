namespace Augur.Tests.ChatTemplates;

/// <summary>A clock stopped at one local time, so strftime_now gives the same date on every run.</summary>
internal sealed class FixedClock(DateTime localNow) : TimeProvider
{
    /// <summary>The reference suite's date: 2026-01-15 00:00:00.</summary>
    public static readonly FixedClock ReferenceDate = new(new DateTime(2026, 1, 15, 0, 0, 0));

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override DateTimeOffset GetUtcNow() => new(localNow, TimeSpan.Zero);
}

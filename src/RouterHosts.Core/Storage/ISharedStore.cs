namespace RouterHosts.Core.Storage;

/// <summary>
/// A store that other agents write to as well (PostgreSQL). The agent waits on it and
/// then catches up by change id (<see cref="Writes.HostWriter.CatchUpAsync"/>): the signal
/// only wakes it early, so a missed signal or a dropped connection delays, never loses, a change.
/// </summary>
public interface ISharedStore
{
    /// <summary>Returns when another writer may have committed, or after <paramref name="timeout"/>.</summary>
    Task WaitForChangeAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// The system clock cut to whole microseconds: what PostgreSQL's timestamptz keeps, so a
/// write's acknowledged times are exactly what every backend stores and reads back.
/// </summary>
public sealed class MicrosecondClock(TimeProvider inner) : TimeProvider
{
    public static readonly MicrosecondClock System = new(TimeProvider.System);

    public override DateTimeOffset GetUtcNow()
    {
        var now = inner.GetUtcNow();
        return now.AddTicks(-(now.UtcTicks % TimeSpan.TicksPerMicrosecond));
    }
}

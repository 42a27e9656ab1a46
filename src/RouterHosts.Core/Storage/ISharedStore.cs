using RouterHosts.Core.Hosts;

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

    /// <summary>
    /// The events committed after <paramref name="changeId"/>, in id order, at most <paramref name="limit"/>:
    /// what a follower applies to catch up (compaction keeps each host's last event, so the result still
    /// ends each host in its current state).
    /// </summary>
    IReadOnlyList<HostEvent> EventsAfter(long changeId, int limit);

    /// <summary>When change <paramref name="changeId"/> was committed, by the committing agent's clock; null when the log no longer has it (compacted).</summary>
    DateTimeOffset? CommittedAt(long changeId);
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

/// <summary>What an agent sharing the store last said about itself (see <see cref="IAgentRegistry"/>).</summary>
/// <param name="AppliedChangeId">The change its hosts file reflects.</param>
/// <param name="SeenAt">When it last reported, by the database's clock (it reports on every change of its file, and every half minute).</param>
public sealed record AgentRecord(string Name, string HostsFile, string Version, long AppliedChangeId, bool FileCurrent, string? FileError,
    DateTimeOffset StartedAt, DateTimeOffset SeenAt);

/// <summary>The agents sharing a store, each recorded by name and hosts file (PostgreSQL).</summary>
public interface IAgentRegistry
{
    /// <summary>Records this agent's state (its seen time is the database's now).</summary>
    void Report(AgentRecord agent);

    /// <summary>Every agent that has reported, by name and hosts file.</summary>
    IReadOnlyList<AgentRecord> Agents();

    /// <summary>The database's latest change (which agents' files are behind it).</summary>
    long LastChangeId();
}

/// <summary>
/// The database's one edit-session slot, as any agent sharing it sees it. The staged changes stay
/// in the memory of the agent that started the session (<paramref name="Agent"/>): the session is
/// used, committed and cancelled through it, and ended (by its owner or an admin) through any.
/// Liveness is judged by the database's clock: not ended, and used within its idle timeout.
/// </summary>
public sealed record SharedEditSession(string SessionId, string Owner, string Holder, string Agent, DateTimeOffset StartedAt,
    DateTimeOffset LastUsed, TimeSpan IdleTimeout, int StagedChanges, string? EndedBy = null, bool IsLive = true)
{
    public DateTimeOffset ExpiresAt => LastUsed + IdleTimeout;
}

/// <summary>One live edit session per database, whichever agent it was started through.</summary>
public interface ISharedEditSessions
{
    /// <summary>Takes the slot for <paramref name="session"/> unless a live session holds it; returns that one, or null when taken.</summary>
    SharedEditSession? TryClaim(SharedEditSession session);

    /// <summary>The slot's session (live or not), or null when it never held one.</summary>
    SharedEditSession? Read();

    /// <summary>Marks the session used now, with its staged count; false when it no longer holds the slot (ended, expired or replaced).</summary>
    bool Touch(string sessionId, int stagedChanges);

    /// <summary>Ends the session if it still holds the slot, saying who ended it; false when it did not.</summary>
    bool End(string sessionId, string endedBy);

    /// <summary>Ends the live session started through <paramref name="agent"/>, if any (it restarted or stopped: its staged changes are gone).</summary>
    void EndHeldBy(string agent, string endedBy);
}

using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Storage;

/// <summary>
/// A storage backend: the event log, the current-state projection and snapshots, one
/// interface per role, plus the health checks. A backend implements this one interface and
/// must pass the compliance suite (tests/RouterHosts.Storage.Compliance: its test project
/// derives from HostStoreComplianceTests). Calls are synchronous: the single writer
/// serialises writes anyway, and the SQLite provider has no real async I/O.
/// </summary>
public interface IHostStore : IHostEventLog, IHostProjection, ISnapshotStore, IDisposable
{
    string BackendName { get; }

    /// <summary>A round trip to the database, for health checks.</summary>
    void Ping();

    /// <summary>
    /// Why the store cannot work as it should right now, as a sentence for health checks: no space
    /// left for writes (until a write succeeds again or space is back), or a corrupt database. Null when fine.
    /// </summary>
    string? Problem();
}

/// <summary>
/// The event log. <see cref="Append"/> is the only way to change hosts: the events and the
/// projection change in one transaction. Only history and as-of reads replay events.
/// </summary>
public interface IHostEventLog
{
    /// <summary>The id of the last committed event; grows with every change. 0 when empty.</summary>
    long LastChangeId();

    /// <summary>
    /// Appends the events and updates the projection atomically; returns the new change id.
    /// With <paramref name="snapshotBefore"/> the snapshot of the state before the change is stored
    /// in the same transaction: if the change fails, no snapshot is left behind.
    /// </summary>
    long Append(IReadOnlyList<PendingEvent> events, string actor, DateTimeOffset now, PendingSnapshot? snapshotBefore = null);

    /// <summary>
    /// Appends several changes, in the order given, in one transaction (one commit, one fsync): the
    /// writer's group commit. Each change keeps its own actor, time and snapshot, and gets its own
    /// change id (the id of its last event), returned in the same order. All commit or none does.
    /// </summary>
    IReadOnlyList<long> AppendGroup(IReadOnlyList<PendingChange> changes);

    IReadOnlyList<HostEvent> History(string id);

    /// <summary>
    /// Folds, for each selected host with at least two events at or before <paramref name="horizon"/>,
    /// those events into one baseline event (the last of them, keeping its event id, version, type
    /// and state, marked with the horizon), all in one transaction. Selection: the one host
    /// <paramref name="hostId"/>; else every host with more than <paramref name="overThreshold"/>
    /// events; else every host. <paramref name="dryRun"/> reports the same and changes nothing.
    /// Returns the hosts folded in id order (the one named host even when nothing was folded).
    /// </summary>
    IReadOnlyList<CompactedHost> Compact(string? hostId, long? overThreshold, DateTimeOffset horizon, bool dryRun);

    /// <summary>The latest compaction horizon of the host, or of any host when <paramref name="hostId"/> is null; null when none.</summary>
    DateTimeOffset? CompactionHorizon(string? hostId);

    /// <summary>The host as it stood at <paramref name="asOf"/>, from its events.</summary>
    HostEntry? GetAsOf(string id, DateTimeOffset asOf);

    /// <summary>Every entry live at <paramref name="asOf"/>, from the log.</summary>
    IReadOnlyList<HostEntry> ListAsOf(DateTimeOffset asOf);
}

/// <summary>The current state, kept by <see cref="IHostEventLog.Append"/>: index lookups, never a replay.</summary>
public interface IHostProjection : Writes.IHostLookup
{
    IReadOnlyList<HostEntry> List(HostQuery query);

    /// <summary>
    /// What <see cref="List"/> answers, produced as it is enumerated: in pages from the
    /// database (bounded memory per stream), all from one consistent view of it.
    /// Writes are not blocked while a stream is open.
    /// </summary>
    IEnumerable<HostEntry> Stream(HostQuery query);

    /// <summary>Every live entry in <see cref="HostQuery.Order"/>: <see cref="Stream"/> of <see cref="HostQuery.All"/>.</summary>
    IEnumerable<HostEntry> StreamAll();

    int CountLive();
}

/// <summary>Snapshots: full copies of the live set and the rendered block, for rollback.</summary>
public interface ISnapshotStore
{
    SnapshotInfo CreateSnapshot(string name, string trigger, IReadOnlyList<HostEntry> entries, string renderedHosts, DateTimeOffset now);
    IReadOnlyList<SnapshotInfo> ListSnapshots(int offset, int? limit);
    SnapshotInfo? GetSnapshot(string snapshotId);
    IReadOnlyList<HostEntry> GetSnapshotEntries(string snapshotId);
    bool DeleteSnapshot(string snapshotId);

    /// <summary>Keeps the newest <paramref name="maxCount"/> and none created before <paramref name="olderThan"/>; returns how many went.</summary>
    int PruneSnapshots(int maxCount, DateTimeOffset olderThan);
}

/// <summary>An event about to be appended: the host's state after it.</summary>
public sealed record PendingEvent(HostEventType Type, HostEntry State);

/// <summary>One change of a group (see <see cref="IHostEventLog.AppendGroup"/>): what <see cref="IHostEventLog.Append"/> takes.</summary>
public sealed record PendingChange(IReadOnlyList<PendingEvent> Events, string Actor, DateTimeOffset Now, PendingSnapshot? SnapshotBefore = null);

/// <summary>One host a compaction folded: its event counts before and after, and its current version.</summary>
public sealed record CompactedHost(string HostId, long EventsBefore, long EventsAfter, long Version);

/// <summary>A snapshot to store with a change (<see cref="IHostStore.Append"/>); its id and time are chosen by the caller.</summary>
public sealed record PendingSnapshot(SnapshotInfo Info, IReadOnlyList<HostEntry> Entries, string RenderedHosts);

public sealed record SnapshotInfo(string Id, string Name, string Trigger, DateTimeOffset CreatedAt, int EntryCount);

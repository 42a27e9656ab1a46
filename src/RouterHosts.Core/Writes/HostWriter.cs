using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;

namespace RouterHosts.Core.Writes;

/// <summary>What a write did: the change id committed (0 when nothing changed) and the hosts file's state after it.</summary>
public sealed record WriteOutcome(long ChangeId, HostsFileState File)
{
    public bool HostsFileStale => !File.Current;
}

public sealed record SnapshotPolicy(int MaxSnapshots = 50, int MaxAgeDays = 30);

/// <summary>
/// The single write path. Every change (single, bulk, import, session commit,
/// rollback) is planned on a <see cref="ChangeSet"/>, then committed here: one
/// writer at a time, events and projection in one transaction, then the hosts
/// file rendered once (which hands the hook runner one trigger) and watchers told.
/// </summary>
public sealed class HostWriter(IHostStore store, HostsFileSync hostsFile, ChangeFeed feed, TimeProvider clock)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public SnapshotPolicy SnapshotPolicy { get; set; } = new();

    /// <summary>
    /// Plans with <paramref name="plan"/> against the committed state and commits its
    /// events. A plan that throws commits nothing. With <paramref name="snapshotBefore"/>
    /// a snapshot of the state before the change is taken first (only if the plan succeeded).
    /// </summary>
    /// <param name="render">
    /// When the file is brought up to date: before returning (the default), or later by the
    /// caller (bulk batches, which regenerate it once in a while and at their end).
    /// </param>
    public async Task<(T Result, WriteOutcome Outcome)> WriteAsync<T>(
        string actor, Func<ChangeSet, T> plan, CancellationToken ct, (string Name, string Trigger)? snapshotBefore = null,
        FileRender render = FileRender.Wait)
    {
        long changeId;
        T result;
        await _gate.WaitAsync(ct);
        try
        {
            var set = new ChangeSet(store, clock.GetUtcNow());
            result = plan(set);
            var snapshot = snapshotBefore is { } before ? CreateSnapshotLocked(before.Name, before.Trigger) : null;
            if (result is ISnapshotAware aware && snapshot is not null) aware.SnapshotTaken(snapshot);
            if (set.Events.Count == 0) return (result, new WriteOutcome(0, hostsFile.State));
            changeId = store.Append(set.Events, actor, set.Now);
            // The change's ids follow the lines' own unless another agent sharing the store committed in between.
            if (changeId - set.Events.Count == hostsFile.Lines.ChangeId) hostsFile.Lines.Apply(set.Events, changeId);
            else ReloadLinesLocked();
        }
        finally { _gate.Release(); }

        feed.Publish(changeId);
        // Outside the gate: the next writer can commit while this one renders; renders coalesce.
        if (render == FileRender.Defer) return (result, new WriteOutcome(changeId, hostsFile.State));
        return (result, new WriteOutcome(changeId, await hostsFile.EnsureCurrentAsync(changeId, CancellationToken.None)));
    }

    /// <summary>
    /// Takes in what other agents sharing the store committed: when the store is ahead of the
    /// rendered lines, reloads them and brings the file up to date. Returns the store's change id.
    /// </summary>
    public async Task<long> CatchUpAsync(CancellationToken ct)
    {
        long changeId;
        await _gate.WaitAsync(ct);
        try
        {
            changeId = store.LastChangeId();
            if (changeId == hostsFile.Lines.ChangeId) return changeId;
            changeId = ReloadLinesLocked();
        }
        finally { _gate.Release(); }
        feed.Publish(changeId);
        await hostsFile.EnsureCurrentAsync(changeId, CancellationToken.None);
        return changeId;
    }

    /// <summary>
    /// The lines from the projection. The change id is read first: a commit racing the read
    /// shows in the lines early and in the id on the next catch-up, never the other way round.
    /// </summary>
    private long ReloadLinesLocked()
    {
        var changeId = store.LastChangeId();
        hostsFile.Lines.Load(store.StreamAll(), changeId);
        return changeId;
    }

    public async Task<SnapshotInfo> CreateSnapshotAsync(string name, string trigger, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try { return CreateSnapshotLocked(name, trigger); }
        finally { _gate.Release(); }
    }

    private SnapshotInfo CreateSnapshotLocked(string name, string trigger)
    {
        var now = clock.GetUtcNow();
        var entries = store.StreamAll().ToList();
        var snapshot = store.CreateSnapshot(name, trigger, entries, hostsFile.Lines.RenderBlock().Block, now);
        store.PruneSnapshots(SnapshotPolicy.MaxSnapshots, now.AddDays(-SnapshotPolicy.MaxAgeDays));
        return snapshot;
    }
}

/// <summary>A plan result that wants to know the id of the snapshot taken before it was committed.</summary>
public interface ISnapshotAware
{
    void SnapshotTaken(SnapshotInfo snapshot);
}

public enum FileRender
{
    /// <summary>Regenerate the hosts file before the write returns.</summary>
    Wait,
    /// <summary>The caller regenerates it (see <see cref="HostsFileSync.EnsureCurrentAsync"/>).</summary>
    Defer,
}

using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;

namespace RouterHosts.Core.Writes;

/// <summary>
/// What a write did: the change id committed (0 when nothing changed), the hosts file's state after it,
/// and the id of the snapshot taken before it, when one was asked for.
/// </summary>
public sealed record WriteOutcome(long ChangeId, HostsFileState File, string? SnapshotId = null)
{
    public bool HostsFileStale => !File.Current;
}

public sealed record SnapshotPolicy(int MaxSnapshots = 50, int MaxAgeDays = 30);

/// <summary>
/// The single write path, and the only place a write becomes a file. Every change (single,
/// bulk, import, session commit, rollback) is planned on a <see cref="ChangeSet"/>, then
/// committed here: one commit at a time, events, projection and any pre-write snapshot in one
/// transaction, then the hosts file rendered once (which hands the hook runner one trigger) and
/// watchers told. Writes that arrive while a commit is in flight join the next one (group commit:
/// one transaction, one fsync, one render), each with its own result, error and change id. It also owns every other render: at start, before stopping, catching up with
/// other agents, bulk calls' periodic renders, and the retry (with backoff) after a failed write.
/// </summary>
public sealed class HostWriter : IDisposable
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(60);

    /// <summary>How often a long bulk call regenerates the file while it runs (it always does at its end).</summary>
    public static readonly TimeSpan BulkRenderInterval = TimeSpan.FromSeconds(1);

    private readonly IHostStore _store;
    private readonly HostsFileSync _hostsFile;
    private readonly ChangeFeed _feed;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _retryLock = new();
    private readonly Timer _retryTimer;
    private TimeSpan _nextRetry = FirstRetry;
    private bool _disposed;

    public HostWriter(IHostStore store, HostsFileSync hostsFile, ChangeFeed feed, TimeProvider clock)
    {
        _store = store;
        _hostsFile = hostsFile;
        _feed = feed;
        _clock = clock;
        _retryTimer = new Timer(_ =>
        {
            if (!Volatile.Read(ref _disposed)) _ = Task.Run(() => RenderAsync(0));
        });
    }

    public SnapshotPolicy SnapshotPolicy { get; set; } = new();

    /// <summary>The hosts file's state as of the last render.</summary>
    public HostsFileState FileState => _hostsFile.State;

    /// <summary>
    /// Plans with <paramref name="plan"/> against the committed state and commits its
    /// events. A plan that throws commits nothing. With <paramref name="snapshotBefore"/>
    /// a snapshot of the state before the change is stored in the change's transaction
    /// (only if the plan succeeded; alone when the plan changed nothing); its id is in the outcome.
    /// </summary>
    public Task<(T Result, WriteOutcome Outcome)> WriteAsync<T>(
        string actor, Func<ChangeSet, T> plan, CancellationToken ct, (string Name, string Trigger)? snapshotBefore = null) =>
        WriteAsync(actor, plan, ct, snapshotBefore, deferRender: false);

    /// <param name="deferRender">The caller brings the file up to date later (bulk batches: see <see cref="BulkWrites"/>).</param>
    private async Task<(T Result, WriteOutcome Outcome)> WriteAsync<T>(
        string actor, Func<ChangeSet, T> plan, CancellationToken ct, (string Name, string Trigger)? snapshotBefore, bool deferRender)
    {
        using var span = Telemetry.RouterHostsTelemetry.Source.StartActivity("commit");
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var write = new QueuedWrite(actor, set => plan(set), snapshotBefore, ct);
        bool lead;
        Telemetry.RouterHostsTelemetry.PendingWrites.Add(1);
        lock (_queueLock)
        {
            _queue.Enqueue(write);
            lead = !_committing;
            _committing = true;
        }
        object? result;
        long changeId;
        string? snapshotId;
        try
        {
            // No commit in flight: this caller commits now, on its own thread (a write alone waits for nothing).
            if (lead) await CommitQueuedAsync();
            (result, changeId, snapshotId) = await write.Done.Task;
        }
        finally { Telemetry.RouterHostsTelemetry.PendingWrites.Add(-1); }
        Telemetry.RouterHostsTelemetry.RecordCommit(write.EventCount, System.Diagnostics.Stopwatch.GetElapsedTime(started), span);
        if (changeId == 0) return ((T)result!, new WriteOutcome(0, _hostsFile.State, snapshotId));
        // Renders coalesce: the first of a group's writes to get here renders the whole group.
        var file = deferRender ? _hostsFile.State : await RenderAsync(changeId);
        return ((T)result!, new WriteOutcome(changeId, file, snapshotId));
    }

    /// <summary>A write waiting for its group's commit; <see cref="Done"/> carries its result, change id (0: none) and snapshot id.</summary>
    private sealed class QueuedWrite(string actor, Func<ChangeSet, object?> plan, (string Name, string Trigger)? snapshotBefore, CancellationToken ct)
    {
        public readonly string Actor = actor;
        public readonly Func<ChangeSet, object?> Plan = plan;
        public readonly (string Name, string Trigger)? SnapshotBefore = snapshotBefore;
        public readonly CancellationToken Ct = ct;
        public readonly TaskCompletionSource<(object? Result, long ChangeId, string? SnapshotId)> Done =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ChangeSet? Set;
        public object? Result;
        public PendingChange? Pending;
        public long ChangeId;
        public string? SnapshotId;
        public int EventCount => Set?.Events.Count ?? 0;
    }

    /// <summary>At most this many writes commit in one group (bounds a group's plan chain and its latency).</summary>
    public const int MaxGroupWrites = 64;

    private readonly Lock _queueLock = new();
    private readonly Queue<QueuedWrite> _queue = new();
    private bool _committing;
    private long _commits;

    /// <summary>Store transactions the writer has committed (a group of writes is one): what tests and /metrics see group commit by.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Writes queued behind the commit in flight: they form the next group.</summary>
    public int QueuedWrites { get { lock (_queueLock) return _queue.Count; } }

    /// <summary>
    /// Group commit: commits what is queued (up to <see cref="MaxGroupWrites"/>) in one transaction, then, if
    /// more writes queued meanwhile, hands the next group to the thread pool so this caller can return. There
    /// is no waiting timer: a group is whatever queued while the previous commit ran.
    /// </summary>
    private async Task CommitQueuedAsync()
    {
        // No token: a queued write's own token is checked when its group is taken.
        await _gate.WaitAsync();
        var group = new List<QueuedWrite>();
        long lastChangeId = 0;
        Exception? failure = null;
        try
        {
            group = TakeGroup();
            lastChangeId = CommitGroupLocked(group);
        }
        // After the append only reading the lines back can throw (as a write did before groups): its writes are told, never left waiting.
        catch (Exception e) { failure = e; }
        finally { _gate.Release(); }
        if (lastChangeId > 0) _feed.Publish(lastChangeId);
        foreach (var write in group)
        {
            if (write.Set is null) continue; // failed or cancelled alone: already told
            if (failure is not null) write.Done.TrySetException(failure);
            else write.Done.TrySetResult((write.Result, write.ChangeId, write.SnapshotId));
        }
        lock (_queueLock)
        {
            if (_queue.Count == 0) { _committing = false; return; }
        }
        _ = Task.Run(CommitQueuedAsync);
    }

    private List<QueuedWrite> TakeGroup()
    {
        lock (_queueLock)
        {
            var group = new List<QueuedWrite>();
            // A write with a snapshot before it commits alone: the snapshot is of the committed state, which must hold every write before it.
            while (_queue.Count > 0 && group.Count < MaxGroupWrites
                   && (group.Count == 0 || (group[0].SnapshotBefore is null && _queue.Peek().SnapshotBefore is null)))
                group.Add(_queue.Dequeue());
            return group;
        }
    }

    /// <summary>
    /// Plans each write of the group, then appends all their events in one transaction. Plan-then-apply rather
    /// than savepoints: each plan runs on a change set over the committed state plus the group's earlier writes
    /// (so its version and key checks see them), and a plan that throws (invalid, conflict) fails that write alone
    /// before anything reaches the store. What can still fail in the store fails the whole group alike (a full disk,
    /// a lost connection), except a clash with another agent sharing the store: then each write is appended alone.
    /// Returns the group's last change id (0 when nothing changed). Writes that failed have their Done set here.
    /// </summary>
    private long CommitGroupLocked(List<QueuedWrite> group)
    {
        IHostLookup view = _store;
        var changes = new List<QueuedWrite>(group.Count);
        foreach (var write in group)
        {
            if (write.Ct.IsCancellationRequested) { write.Done.TrySetCanceled(write.Ct); continue; }
            var set = new ChangeSet(view, _clock.GetUtcNow());
            try
            {
                write.Result = write.Plan(set);
                if (set.Events.Count == 0)
                    write.SnapshotId = write.SnapshotBefore is { } alone ? CreateSnapshotLocked(alone.Name, alone.Trigger).Id : null;
                else
                {
                    write.Pending = new PendingChange(set.Events, write.Actor, set.Now,
                        write.SnapshotBefore is { } before ? PendingSnapshotLocked(before.Name, before.Trigger) : null);
                    write.SnapshotId = write.Pending.SnapshotBefore?.Info.Id;
                    changes.Add(write);
                    view = set;
                }
                write.Set = set;
            }
            catch (Exception e) { write.Done.TrySetException(e); }
        }
        if (changes.Count == 0) return 0;

        try
        {
            _hostsFile.Lines.WaitUntilLoaded();
            var ids = _store.AppendGroup(changes.Select(w => w.Pending!).ToList());
            for (var i = 0; i < changes.Count; i++) changes[i].ChangeId = ids[i];
            Interlocked.Increment(ref _commits);
            Telemetry.RouterHostsTelemetry.RecordGroup(changes.Sum(w => w.EventCount), changes.Count);
        }
        catch (CoreException e) when (e.Kind == CoreErrorKind.Conflict && changes.Count > 1)
        {
            AppendOneByOneLocked(changes);
        }
        catch (Exception e)
        {
            foreach (var write in changes) { write.Set = null; write.Done.TrySetException(e); }
            return 0;
        }
        var committed = changes.Where(w => w.ChangeId > 0).ToList();
        if (committed.Any(w => w.Pending!.SnapshotBefore is not null)) PruneAfterCommitLocked();
        // The changes' ids follow the lines' own unless another agent sharing the store committed in between.
        foreach (var write in committed)
        {
            if (write.ChangeId - write.EventCount == _hostsFile.Lines.ChangeId) _hostsFile.Lines.Apply(write.Pending!.Events, write.ChangeId);
            else { ReloadLinesLocked(); break; }
        }
        return committed.Count == 0 ? 0 : committed[^1].ChangeId;
    }

    /// <summary>
    /// The group clashed with what another agent committed: each write appended in its own transaction, so that
    /// only the ones that clash fail. A write that touches a host a failed write of the group touched was planned
    /// on top of it, so it fails with it.
    /// </summary>
    private void AppendOneByOneLocked(List<QueuedWrite> changes)
    {
        var failedHosts = new HashSet<string>();
        foreach (var write in changes)
        {
            var hosts = write.Pending!.Events.Select(e => e.State.Id).ToList();
            try
            {
                if (hosts.Any(failedHosts.Contains))
                    throw new CoreException(CoreErrorKind.Conflict, "the change builds on a change of its group that conflicted with the stored state");
                write.ChangeId = _store.AppendGroup([write.Pending])[0];
                Interlocked.Increment(ref _commits);
                Telemetry.RouterHostsTelemetry.RecordGroup(write.EventCount, 1);
            }
            catch (Exception e)
            {
                failedHosts.UnionWith(hosts);
                write.Set = null;
                write.Done.TrySetException(e);
            }
        }
    }

    /// <summary>More events than this behind, a follower reloads the projection instead of applying them.</summary>
    public const int MaxCatchUpEvents = 20_000;

    /// <summary>
    /// Takes in what other agents sharing the store committed: applies the events after the
    /// rendered lines' change (or, that far behind, reloads the lines) and brings the file up
    /// to date. Returns the change id the lines reflect.
    /// </summary>
    public async Task<long> CatchUpAsync(ISharedStore shared, CancellationToken ct)
    {
        long changeId;
        await _gate.WaitAsync(ct);
        try
        {
            var from = _hostsFile.Lines.ChangeId;
            var events = shared.EventsAfter(from, MaxCatchUpEvents + 1);
            if (events.Count == 0) return from;
            if (events.Count > MaxCatchUpEvents) changeId = ReloadLinesLocked();
            else
            {
                changeId = events[^1].EventId;
                _hostsFile.Lines.Apply(events.Select(e => new PendingEvent(e.Type, e.State)).ToList(), changeId);
            }
        }
        finally { _gate.Release(); }
        _feed.Publish(changeId);
        await RenderAsync(changeId);
        return changeId;
    }

    /// <summary>At start, before the agent says it is ready: the file made to reflect the database.</summary>
    public Task<HostsFileState> RenderAtStartAsync() => RenderAsync(0);

    /// <summary>After drift of the file was found (see <see cref="HostsFile.HostsFileDrift"/>): the file rendered again.</summary>
    public Task<HostsFileState> RenderForDriftAsync() => RenderAsync(0);

    /// <summary>Before stopping: the file brought up to date when it is behind the database; null when it already was.</summary>
    public async Task<HostsFileState?> RenderBeforeStopAsync()
    {
        var before = _hostsFile.State;
        if (before.Current && before.RenderedChangeId >= _store.LastChangeId()) return null;
        return await RenderAsync(0);
    }

    /// <summary>Starts a bulk call's writes: batches commit at once, the file follows about once a second and at the end.</summary>
    public BulkWrites StartBulk() => new(this);

    /// <summary>A bulk call's batches (see <see cref="StartBulk"/>). One caller at a time.</summary>
    public sealed class BulkWrites
    {
        private readonly HostWriter _writer;
        private long _lastChangeId;
        private DateTime _lastRender = DateTime.UtcNow;

        internal BulkWrites(HostWriter writer) => _writer = writer;

        /// <summary>Commits one batch; the file is not waited for.</summary>
        public async Task<WriteOutcome> WriteBatchAsync(string actor, Action<ChangeSet> plan, CancellationToken ct)
        {
            var (_, outcome) = await _writer.WriteAsync(actor, set => { plan(set); return 0; }, ct, null, deferRender: true);
            _lastChangeId = Math.Max(_lastChangeId, outcome.ChangeId);
            // A long bulk call brings the file along now and then, not after every batch.
            if (_lastChangeId > 0 && DateTime.UtcNow - _lastRender > BulkRenderInterval)
            {
                _ = _writer.RenderAsync(_lastChangeId);
                _lastRender = DateTime.UtcNow;
            }
            return outcome;
        }

        /// <summary>Waits until the file holds every batch committed.</summary>
        public async Task FinishAsync()
        {
            if (_lastChangeId > 0) await _writer.RenderAsync(_lastChangeId);
        }
    }

    /// <summary>
    /// Every render goes through here. A failed one schedules a retry with backoff, so the file
    /// catches up without another change; once the file is current the retries stop. The decision
    /// follows the file's latest state, so a render that finished earlier cannot cancel a later one's retry.
    /// </summary>
    private async Task<HostsFileState> RenderAsync(long changeId)
    {
        TimeSpan retryIn;
        lock (_retryLock) retryIn = _nextRetry;
        var state = await _hostsFile.EnsureCurrentAsync(changeId, CancellationToken.None, retryIn);
        lock (_retryLock)
        {
            if (_disposed) return state;
            if (_hostsFile.State.Current)
            {
                _nextRetry = FirstRetry;
                _retryTimer.Change(Timeout.Infinite, Timeout.Infinite);
            }
            else if (!state.Current)
            {
                _retryTimer.Change(_nextRetry, Timeout.InfiniteTimeSpan);
                _nextRetry = TimeSpan.FromTicks(Math.Min(_nextRetry.Ticks * 2, MaxRetry.Ticks));
            }
        }
        return state;
    }

    /// <summary>
    /// The lines from the projection. The change id is read first: a commit racing the read
    /// shows in the lines early and in the id on the next catch-up, never the other way round.
    /// </summary>
    private long ReloadLinesLocked()
    {
        var changeId = _store.LastChangeId();
        _hostsFile.Lines.Load(_store.StreamAll(), changeId);
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
        var now = _clock.GetUtcNow();
        var snapshot = _store.CreateSnapshot(name, trigger, _store.StreamAll().ToList(), _hostsFile.Lines.RenderBlock().Block, now);
        _store.PruneSnapshots(SnapshotPolicy.MaxSnapshots, now.AddDays(-SnapshotPolicy.MaxAgeDays));
        return snapshot;
    }

    /// <summary>The committed state as a snapshot to store with the change about to be appended.</summary>
    private PendingSnapshot PendingSnapshotLocked(string name, string trigger)
    {
        var now = _clock.GetUtcNow();
        var entries = _store.StreamAll().ToList();
        return new PendingSnapshot(new SnapshotInfo(Ulid.New(now), name, trigger, now, entries.Count), entries,
            _hostsFile.Lines.RenderBlock().Block);
    }

    /// <summary>Pruning is housekeeping: once the change is committed its failure must not fail the write; the next snapshot prunes again.</summary>
    private void PruneAfterCommitLocked()
    {
        var now = _clock.GetUtcNow();
        try { _store.PruneSnapshots(SnapshotPolicy.MaxSnapshots, now.AddDays(-SnapshotPolicy.MaxAgeDays)); }
        catch (CoreException) { }
    }

    public void Dispose()
    {
        lock (_retryLock)
        {
            _disposed = true;
            _retryTimer.Dispose();
        }
    }
}

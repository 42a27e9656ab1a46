using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using RouterHosts.Core.Formats;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core;

/// <summary>What a compaction folded (or, on a dry run, would fold), and up to when.</summary>
public sealed record CompactionReport(DateTimeOffset Horizon, bool DryRun, IReadOnlyList<CompactedHost> Hosts)
{
    public long EventsReclaimed => Hosts.Sum(h => h.EventsBefore - h.EventsAfter);
}

/// <summary>One full set of live hosts as of <paramref name="ChangeId"/> (see <see cref="HostsEngine.WatchAsync"/>).</summary>
public sealed record HostSet(long ChangeId, IEnumerable<HostEntry> Entries);

/// <summary>
/// The core's state, read at once: what Health, Readiness and the systemd status are made of.
/// <paramref name="Unreachable"/>: why a round trip to the database failed; <paramref name="CountFailed"/>:
/// why the live hosts could not be counted (then <paramref name="HostCount"/> is 0);
/// <paramref name="StoreProblem"/>: the store's own report of damage or a full disk (see <see cref="IHostStore.Problem"/>).
/// <paramref name="DatabaseLatency"/> covers those three reads.
/// </summary>
public sealed record EngineStatus(
    string Backend, string? Unreachable, string? CountFailed, string? StoreProblem, TimeSpan DatabaseLatency, int HostCount,
    long ChangeId, HostsFileState HostsFile, HookSet Hooks, IReadOnlyList<HookRunResult> LastHookRuns, EditSessionInfo? EditSession);

/// <summary>
/// The agent's operations on hosts, in domain terms: callers use these, not the parts behind
/// them. Reads go to the projection (or through an edit session's staged view); every write
/// goes through the one <see cref="HostWriter"/>, or is staged in the live edit session when a
/// token is given. By concern: this file (reads, compaction, watch, edit-session lifecycle),
/// HostsEngine.HostWrites.cs, HostsEngine.ImportExport.cs, HostsEngine.Snapshots.cs.
/// </summary>
public sealed partial class HostsEngine(
    IHostStore store, HostWriter writer, EditSessions sessions, HostsFileSync hostsFile, HookRunner hooks,
    ChangeFeed feed, TimeProvider clock)
{
    // ---- reads ----

    public HostEntry Get(string id, EditAccess? edit = null, DateTimeOffset? asOf = null)
    {
        Ulid.Require("id", id);
        if (asOf is { } at) RefuseBeforeHorizon(at, id);
        var entry = asOf is { } time ? store.GetAsOf(id, time)
            : edit is not null ? sessions.View(edit).Get(id)
            : store.Get(id);
        return entry ?? throw CoreException.NotFound(id);
    }

    public IReadOnlyList<HostEntry> List(HostQuery query, EditAccess? edit = null, DateTimeOffset? asOf = null) =>
        Stream(query, edit, asOf).ToList();

    /// <summary>
    /// The list, produced as it is read: the live set in pages from the store's one
    /// consistent view. A staged view and an as-of read are built in memory first.
    /// The query is checked here, before anything is read.
    /// </summary>
    public IEnumerable<HostEntry> Stream(HostQuery query, EditAccess? edit = null, DateTimeOffset? asOf = null)
    {
        if (query.Offset < 0) throw CoreException.Invalid("offset", query.Offset.ToString(), "must not be negative");
        if (query.Limit < 0) throw CoreException.Invalid("limit", query.Limit.ToString(), "must not be negative");
        if (query.IpAddress is { Length: > 0 } ip) query = query with { IpAddress = HostValidator.CanonicalIp(ip) };
        if (asOf is { } time)
        {
            RefuseBeforeHorizon(time, hostId: null);
            return query.Apply(store.ListAsOf(time));
        }
        if (edit is not null) return query.Apply(sessions.StagedEntries(edit));
        return store.Stream(query);
    }

    /// <summary>An as-of read needs every event up to its time; before a compaction horizon some were folded.</summary>
    private void RefuseBeforeHorizon(DateTimeOffset asOf, string? hostId)
    {
        if (store.CompactionHorizon(hostId) is { } horizon && asOf < horizon)
            throw new CoreException(CoreErrorKind.FailedPrecondition,
                $"as_of {asOf.UtcDateTime:O} is before the compaction horizon {horizon.UtcDateTime:O}" +
                (hostId is null ? "" : $" of host {hostId}") + "; the events before it were folded, read at or after the horizon")
            { Reason = RouterHostsReasons.BeforeCompactionHorizon };
    }
    // ---- compaction ----

    /// <summary>
    /// Folds events at or before the horizon into one baseline per host (see <see cref="IHostStore.Compact"/>).
    /// The horizon is <paramref name="before"/>, or now. The live state, the hosts file and snapshots do not
    /// change, so this bypasses the writer; the store serialises it with writes.
    /// </summary>
    public CompactionReport Compact(string? hostId, long? overThreshold, DateTimeOffset? before, bool dryRun)
    {
        var now = clock.GetUtcNow();
        if (before is { } b && b > now)
            throw CoreException.Invalid("before", b.UtcDateTime.ToString("O"), "the compaction horizon may not be in the future");
        if (overThreshold is < 0)
            throw CoreException.Invalid("over_threshold", overThreshold.ToString(), "must not be negative");
        if (hostId is not null && store.Get(Ulid.Require("aggregate_id", hostId), includeDeleted: true) is null)
            throw CoreException.NotFound(hostId);
        var horizon = before ?? now;
        return new CompactionReport(horizon, dryRun, store.Compact(hostId, overThreshold, horizon, dryRun));
    }

    public IReadOnlyList<HostEvent> History(string id)
    {
        var events = store.History(Ulid.Require("id", id));
        return events.Count > 0 ? events : throw CoreException.NotFound(id);
    }
    // ---- watch ----

    /// <summary>
    /// The full live set, then (with <paramref name="follow"/>) the full set again after each
    /// change, until <paramref name="ct"/> ends. Each set's entries are read as they are enumerated.
    /// </summary>
    /// <summary>The live hosts now, with the change they are as of (read lazily, in id order).</summary>
    public HostSet CurrentSet() => new(store.LastChangeId(), store.StreamAll());

    public async IAsyncEnumerable<HostSet> WatchAsync(bool follow, [EnumeratorCancellation] CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var set = CurrentSet();
            yield return set;
            if (!follow) yield break;
            var changed = true;
            try { await feed.WaitAfterAsync(set.ChangeId, ct); }
            catch (OperationCanceledException) { changed = false; }
            if (!changed) yield break;
        }
    }

    /// <summary>The last change id watchers were told of.</summary>
    public long ChangeId => feed.ChangeId;

    /// <summary>Waits for a change after <paramref name="seen"/>; returns the change id then.</summary>
    public Task<long> WaitForChangeAsync(long seen, CancellationToken ct) => feed.WaitAfterAsync(seen, ct);

    // ---- status ----

    /// <summary>A round trip to the database (the watchdog's check); throws when it does not answer.</summary>
    public void Ping() => store.Ping();

    /// <summary>The facts about the database, the hosts file, the hooks and the edit session, read now (see <see cref="EngineStatus"/>).</summary>
    public EngineStatus ReadStatus()
    {
        var timer = Stopwatch.StartNew();
        string? unreachable = null, countFailed = null;
        var hostCount = 0;
        try { store.Ping(); }
        catch (Exception e) { unreachable = e.Message; }
        if (unreachable is null)
        {
            try { hostCount = store.CountLive(); }
            catch (Exception e) { countFailed = e.Message; }
        }
        var problem = store.Problem();
        var latency = timer.Elapsed;
        return new EngineStatus(store.BackendName, unreachable, countFailed, problem, latency, hostCount, feed.ChangeId,
            hostsFile.State, hooks.Hooks, hooks.LastRuns, sessions.Current);
    }

    // ---- edit sessions ----

    /// <summary>Starts an edit session for <paramref name="owner"/> (or, with <paramref name="resume"/>, takes up its own live one).</summary>
    public (EditAccess Access, EditSessionInfo Info) StartEdit(string owner, string holder, bool resume) =>
        sessions.Start(owner, holder, resume);

    /// <summary>Ends the session the token names, discarding its staged changes; returns how many.</summary>
    public int CancelEdit(EditAccess edit) => sessions.End(edit);

    /// <summary>
    /// The live session, if any. With a token, the token is checked first: one that is expired,
    /// unknown or not the caller's is refused as such.
    /// </summary>
    public EditSessionInfo? GetEdit(EditAccess? edit)
    {
        if (edit is not null) sessions.View(edit);
        return sessions.Current;
    }

    /// <summary>The live edit session, if any.</summary>
    public EditSessionInfo? CurrentEdit => sessions.Current;

    /// <summary>Ends the live session without committing it (the agent is stopping); <paramref name="why"/> is what its holder is told.</summary>
    public void AbandonEdit(string why) => sessions.Abandon(why);

    /// <summary>How long an edit session may sit unused before it expires.</summary>
    public TimeSpan EditIdleTimeout
    {
        get => sessions.IdleTimeout;
        set => sessions.IdleTimeout = value;
    }
}

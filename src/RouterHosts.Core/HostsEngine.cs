using System.Text;
using System.Threading.Channels;
using RouterHosts.Core.Formats;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core;

/// <summary>One bulk item's result; <paramref name="EndOfBatch"/> marks the last of a committed batch (a good moment to flush).</summary>
public sealed record BulkItemResult(int Index, HostEntry? Entry, CoreException? Error, WriteOutcome? Outcome, bool EndOfBatch = false);

public sealed record ImportProgress(int Processed, int Created, int Updated, int Skipped, int Failed);

/// <summary><paramref name="FailedLines"/>: for an import that skips invalid lines, each line left out and why ("line N: ...").</summary>
public sealed record ImportResult(int Processed, int Created, int Updated, int Skipped, WriteOutcome? Outcome, bool Staged,
    IReadOnlyList<string>? FailedLines = null)
{
    public int Failed => FailedLines?.Count ?? 0;
}

public sealed record EditCommitResult(int Added, int Changed, int Removed, string SnapshotId, WriteOutcome Outcome);

public sealed record RollbackResult(string BackupSnapshotId, int RestoredEntryCount, WriteOutcome Outcome);

public enum ConflictMode { Skip, Replace, Strict }

/// <summary>What a compaction folded (or, on a dry run, would fold), and up to when.</summary>
public sealed record CompactionReport(DateTimeOffset Horizon, bool DryRun, IReadOnlyList<CompactedHost> Hosts)
{
    public long EventsReclaimed => Hosts.Sum(h => h.EventsBefore - h.EventsAfter);
}

/// <summary>
/// The agent's operations on hosts, in domain terms. Reads go to the projection
/// (or through an edit session's staged view); every write goes through the one
/// <see cref="HostWriter"/>, or is staged in the live edit session when a token is given.
/// </summary>
public sealed class HostsEngine(
    IHostStore store, HostWriter writer, EditSessions sessions, HostsFileSync hostsFile, HookRunner hooks,
    ChangeFeed feed, TimeProvider clock)
{
    public const int BulkBatchSize = 1000;
    public const int ImportProgressEvery = 1000;
    public const int ExportChunkBytes = 64 * 1024;
    public const int MaxImportBytes = 64 * 1024 * 1024;

    public IHostStore Store => store;
    public EditSessions Sessions => sessions;
    public HostsFileSync HostsFile => hostsFile;
    public HookRunner Hooks => hooks;
    public ChangeFeed Feed => feed;

    // ---- single-host writes ----

    public Task<(HostEntry Entry, WriteOutcome? Outcome)> AddAsync(string actor, HostDraft draft, EditAccess? edit, CancellationToken ct) =>
        RunAsync(actor, NewAdd(draft), edit, ct);

    public Task<(HostEntry Entry, WriteOutcome? Outcome)> UpdateAsync(
        string actor, string id, HostPatch patch, string? expectedVersion, EditAccess? edit, CancellationToken ct) =>
        RunAsync(actor, new UpdateHostCommand(Ulid.Require("id", id), patch, expectedVersion), edit, ct);

    public Task<(HostEntry Entry, WriteOutcome? Outcome)> DeleteAsync(
        string actor, string id, string? expectedVersion, EditAccess? edit, CancellationToken ct) =>
        RunAsync(actor, new DeleteHostCommand(Ulid.Require("id", id), expectedVersion), edit, ct);

    /// <summary>Commits a command now, or stages it when an edit token is given (outcome null).</summary>
    private async Task<(HostEntry, WriteOutcome?)> RunAsync(string actor, HostCommand command, EditAccess? edit, CancellationToken ct)
    {
        if (edit is not null) return (sessions.StageOne(edit, command), null);
        var (entry, outcome) = await writer.WriteAsync(actor, command.ApplyTo, ct);
        return (entry, outcome);
    }

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
            { Reason = CoreReasons.BeforeCompactionHorizon };
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

    // ---- bulk add ----

    /// <summary>
    /// Adds each item on its own merits: items are taken in batches of what has
    /// arrived (at most <see cref="BulkBatchSize"/>, waiting up to <see cref="BulkLinger"/>
    /// for more), each batch committed in one transaction, one result per item. The
    /// hosts file is regenerated about once a second while batches commit and once
    /// at the end; the call ends once the file holds every batch.
    /// </summary>
    public Task BulkAddAsync(string actor, ChannelReader<HostDraft> items, EditAccess? edit,
        Func<BulkItemResult, Task> onResult, CancellationToken ct) =>
        BulkAsync(actor, items, edit, NewAdd, (set, draft) => set.Add(draft), onResult, ct);

    /// <summary>
    /// Changes or removes hosts (update and delete commands) in batches, each item on its
    /// own merits, exactly as <see cref="BulkAddAsync"/> adds them.
    /// </summary>
    public Task BulkChangeAsync(string actor, ChannelReader<HostCommand> items, EditAccess? edit,
        Func<BulkItemResult, Task> onResult, CancellationToken ct) =>
        BulkAsync(actor, items, edit, command => command, (set, command) => command.ApplyTo(set), onResult, ct);

    private async Task BulkAsync<T>(string actor, ChannelReader<T> items, EditAccess? edit, Func<T, HostCommand> toCommand,
        Func<ChangeSet, T, HostEntry> apply, Func<BulkItemResult, Task> onResult, CancellationToken ct)
    {
        // The token is the whole call's: one that is not the caller's (or not live) refuses the call, not each item.
        if (edit is not null) sessions.View(edit);
        var index = 0;
        var batch = new List<T>(BulkBatchSize);
        var writes = writer.StartBulk();
        while (await FillBatchAsync(items, batch, ct))
        {
            var results = new List<BulkItemResult>(batch.Count);
            WriteOutcome? outcome = null;
            var first = index;
            if (edit is not null)
            {
                foreach (var item in batch)
                {
                    try { results.Add(new(index, sessions.StageOne(edit, toCommand(item)), null, null)); }
                    catch (CoreException e) { results.Add(new(index, null, e, null)); }
                    index++;
                }
            }
            else
            {
                outcome = await writes.WriteBatchAsync(actor, set =>
                {
                    var i = first;
                    foreach (var item in batch)
                    {
                        try { results.Add(new(i, apply(set, item), null, null)); }
                        catch (CoreException e) { results.Add(new(i, null, e, null)); }
                        i++;
                    }
                }, ct);
                index = first + batch.Count;
            }
            for (var r = 0; r < results.Count; r++)
            {
                var result = results[r];
                await onResult(result with { Outcome = result.Entry is null ? null : outcome, EndOfBatch = r == results.Count - 1 });
            }
        }
        await writes.FinishAsync();
    }

    /// <summary>How long a bulk batch waits for more items before it commits what it has.</summary>
    public static readonly TimeSpan BulkLinger = TimeSpan.FromMilliseconds(5);

    /// <summary>Takes what has arrived, up to a batch, lingering briefly for more; false once the items are done.</summary>
    private static async Task<bool> FillBatchAsync<T>(ChannelReader<T> items, List<T> batch, CancellationToken ct)
    {
        batch.Clear();
        if (!await items.WaitToReadAsync(ct)) return false;
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(ct);
        linger.CancelAfter(BulkLinger);
        while (batch.Count < BulkBatchSize)
        {
            if (items.TryRead(out var draft)) { batch.Add(draft); continue; }
            try
            {
                if (!await items.WaitToReadAsync(linger.Token)) break;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                break; // lingered long enough: commit what we have
            }
        }
        return batch.Count > 0;
    }

    private AddHostCommand NewAdd(HostDraft draft) => new(draft, Ulid.New(clock.GetUtcNow()), IdIsNew: true);

    // ---- import / export ----

    public static ConflictMode ParseConflictMode(string? value) => (value ?? "").ToLowerInvariant() switch
    {
        "" or "skip" => ConflictMode.Skip,
        "replace" => ConflictMode.Replace,
        "strict" => ConflictMode.Strict,
        _ => throw CoreException.Invalid("conflict_mode", value, "use skip, replace or strict"),
    };

    /// <summary>
    /// Imports a whole file all-or-nothing: every line is validated first (errors carry
    /// line numbers), then the changes are planned and committed in one transaction
    /// (or staged in the edit session). Conflicts (same IP and hostname, or same id, as
    /// a live entry) are skipped, replaced, or fail the import in strict mode.
    /// With <paramref name="skipInvalid"/> (router-hosts' behaviour) the lines that fail
    /// validation are left out and named in the result, and the valid ones are imported,
    /// still in one transaction; conflicts are handled as without it.
    /// </summary>
    public async Task<ImportResult> ImportAsync(string actor, byte[] payload, string? format, ConflictMode mode,
        EditAccess? edit, Func<ImportProgress, Task>? onProgress, CancellationToken ct, bool skipInvalid = false)
    {
        if (payload.Length > MaxImportBytes)
            throw new CoreException(CoreErrorKind.ResourceExhausted, $"import payload over {MaxImportBytes / (1024 * 1024)} MiB");
        var errors = new List<string>();
        IReadOnlyList<ImportRecord> records;
        try { records = HostFormats.Parse(HostFormats.Get(format), payload, errors); }
        catch (DecoderFallbackException) { throw CoreException.Invalid("chunk", "(import payload)", "the file is not valid UTF-8"); }
        records = WithoutInvalidIds(records, errors);
        records = WithoutDuplicatesWithinFile(records, errors);
        if (errors.Count > 0 && !skipInvalid)
            throw new CoreException(CoreErrorKind.InvalidArgument,
                $"import rejected: {errors.Count} invalid line(s); nothing was imported", errors);
        var failedLines = skipInvalid ? errors : null;

        if (onProgress is not null)
        {
            for (var done = ImportProgressEvery; done < records.Count; done += ImportProgressEvery)
                await onProgress(new ImportProgress(done, 0, 0, 0, 0));
        }
        if (edit is not null)
        {
            var (staged, stagedPlan) = PlanImport(records, mode, sessions.View(edit));
            sessions.Stage(edit, staged);
            return new ImportResult(records.Count, stagedPlan.Created, stagedPlan.Updated, stagedPlan.Skipped, null, true, failedLines);
        }
        // Planned and applied inside the writer, so nothing can change between the two.
        var (plan, outcome) = await writer.WriteAsync(actor, set =>
        {
            var (_, planned) = PlanImport(records, mode, set, applyTo: set);
            return planned;
        }, ct);
        return new ImportResult(records.Count, plan.Created, plan.Updated, plan.Skipped, outcome, false, failedLines);
    }

    private sealed record ImportPlan(int Created, int Updated, int Skipped);

    /// <summary>
    /// Decides what each record does (add, update, skip, or conflict). With <paramref name="applyTo"/>
    /// (a direct import inside the writer, where it is also the view) each change is applied at once
    /// and a new record costs one lookup; without it (staging) the commands are returned.
    /// </summary>
    private (List<HostCommand>, ImportPlan) PlanImport(IReadOnlyList<ImportRecord> records, ConflictMode mode, IHostLookup view,
        ChangeSet? applyTo = null)
    {
        var commands = new List<HostCommand>(applyTo is null ? records.Count : 0);
        var conflicts = new List<string>();
        int created = 0, updated = 0, skipped = 0;
        void Do(HostCommand command)
        {
            if (applyTo is null) commands.Add(command);
            else command.ApplyTo(applyTo);
        }
        foreach (var record in records)
        {
            if (applyTo is not null && record.Id is null)
            {
                // The common case, a new host: adding checks the key itself, so try that first.
                try
                {
                    applyTo.Add(record.Draft, Ulid.New(clock.GetUtcNow()), idIsNew: true);
                    created++;
                    continue;
                }
                catch (CoreException e) when (e.Kind == CoreErrorKind.AlreadyExists) { }
            }
            var draft = HostValidator.Normalize(record.Draft);
            var byId = record.Id is null ? null : view.Get(record.Id);
            var byKey = view.FindLive(new HostKey(draft.IpAddress, draft.Hostname));
            if (byId is not null && byKey is not null && byId.Id != byKey.Id)
            {
                conflicts.Add($"line {record.Line}: id {byId.Id} and {draft.IpAddress} {draft.Hostname} (host {byKey.Id}) name different hosts");
                continue;
            }
            var existing = byId ?? byKey;
            if (existing is null)
            {
                Do(record.Id is null ? NewAdd(draft) : new AddHostCommand(draft, record.Id));
                created++;
                continue;
            }
            switch (mode)
            {
                case ConflictMode.Skip:
                    skipped++;
                    break;
                case ConflictMode.Strict:
                    conflicts.Add($"line {record.Line}: {draft.IpAddress} {draft.Hostname} conflicts with host {existing.Id}");
                    break;
                case ConflictMode.Replace:
                    Do(new UpdateHostCommand(existing.Id,
                        new HostPatch(draft.IpAddress, draft.Hostname, draft.Comment ?? "", draft.Tags, draft.Aliases), null));
                    updated++;
                    break;
            }
        }
        if (conflicts.Count > 0)
            throw new CoreException(CoreErrorKind.AlreadyExists,
                $"import refused: {conflicts.Count} entr{(conflicts.Count == 1 ? "y conflicts" : "ies conflict")} with existing hosts; nothing was imported",
                conflicts);
        return (commands, new ImportPlan(created, updated, skipped));
    }

    private static List<ImportRecord> WithoutInvalidIds(IReadOnlyList<ImportRecord> records, List<string> errors)
    {
        var valid = new List<ImportRecord>(records.Count);
        foreach (var record in records)
        {
            if (record.Id is null || Ulid.IsValid(record.Id)) valid.Add(record);
            else errors.Add($"line {record.Line}: invalid id {CoreException.Quote(record.Id)}: not a ULID");
        }
        return valid;
    }

    /// <summary>A line that repeats an earlier line's IP and hostname, or its id, is an error; the first one stays.</summary>
    private static List<ImportRecord> WithoutDuplicatesWithinFile(IReadOnlyList<ImportRecord> records, List<string> errors)
    {
        var seen = new Dictionary<HostKey, int>();
        var seenIds = new Dictionary<string, int>();
        var unique = new List<ImportRecord>(records.Count);
        foreach (var record in records)
        {
            var key = new HostKey(HostValidator.CanonicalIp(record.Draft.IpAddress), record.Draft.Hostname);
            if (seen.TryGetValue(key, out var keyLine))
                errors.Add($"line {record.Line}: {key} repeats line {keyLine}");
            else if (record.Id is not null && seenIds.TryGetValue(record.Id, out var idLine))
                errors.Add($"line {record.Line}: id {record.Id} repeats line {idLine}");
            else
            {
                seen.Add(key, record.Line);
                if (record.Id is not null) seenIds.Add(record.Id, record.Line);
                unique.Add(record);
            }
        }
        return unique;
    }

    /// <summary>Streams every live entry in <paramref name="format"/>, in chunks of about 64 KiB, from a cursor.</summary>
    public async Task ExportAsync(string? format, Func<ReadOnlyMemory<byte>, Task> onChunk, CancellationToken ct)
    {
        var writerFormat = HostFormats.Get(format);
        var buffer = new MemoryStream(ExportChunkBytes * 2);
        await using var text = new StreamWriter(buffer, new UTF8Encoding(false), 4096, leaveOpen: true);
        writerFormat.WriteStart(text);
        var first = true;
        foreach (var entry in store.StreamAll())
        {
            ct.ThrowIfCancellationRequested();
            writerFormat.WriteEntry(text, entry, first);
            first = false;
            await text.FlushAsync(ct);
            if (buffer.Length >= ExportChunkBytes)
            {
                await onChunk(buffer.ToArray());
                buffer.SetLength(0);
            }
        }
        writerFormat.WriteEnd(text);
        await text.FlushAsync(ct);
        if (buffer.Length > 0) await onChunk(buffer.ToArray());
    }

    // ---- snapshots ----

    public Task<SnapshotInfo> CreateSnapshotAsync(string name, string trigger, CancellationToken ct) =>
        writer.CreateSnapshotAsync(name, string.IsNullOrEmpty(trigger) ? "manual" : trigger, ct);

    public IReadOnlyList<SnapshotInfo> ListSnapshots(int offset, int? limit) => store.ListSnapshots(offset, limit);

    public (SnapshotInfo Info, IReadOnlyList<HostEntry> Entries) GetSnapshot(string snapshotId)
    {
        var info = store.GetSnapshot(Ulid.Require("snapshot_id", snapshotId)) ?? throw SnapshotNotFound(snapshotId);
        return (info, store.GetSnapshotEntries(snapshotId));
    }

    public void DeleteSnapshot(string snapshotId)
    {
        if (!store.DeleteSnapshot(Ulid.Require("snapshot_id", snapshotId))) throw SnapshotNotFound(snapshotId);
    }

    /// <summary>
    /// Makes the live set the snapshot's set, keeping the ids it recorded: a backup
    /// snapshot first (trigger pre-rollback), then one transaction of events.
    /// </summary>
    public async Task<RollbackResult> RollbackAsync(string actor, string snapshotId, CancellationToken ct)
    {
        var (_, recorded) = GetSnapshot(snapshotId);
        var (_, outcome) = await writer.WriteAsync(actor, set =>
        {
            var keep = recorded.Select(e => e.Id).ToHashSet();
            foreach (var live in store.StreamAll().ToList())
                if (!keep.Contains(live.Id)) set.Delete(live.Id, null);
            foreach (var entry in recorded) set.Restore(entry);
            return 0;
        }, ct, ($"before rollback to {snapshotId}", "pre-rollback"));
        return new RollbackResult(outcome.SnapshotId ?? "", recorded.Count, outcome);
    }

    private static CoreException SnapshotNotFound(string id) =>
        new(CoreErrorKind.NotFound, $"snapshot {CoreException.Quote(id)} not found");

    // ---- edit sessions ----

    /// <summary>
    /// Applies every staged change in one transaction after a pre-edit snapshot. Any
    /// conflict with what changed meanwhile aborts the whole commit, lists every
    /// conflict, and leaves the session open.
    /// </summary>
    public async Task<EditCommitResult> FinishEditAsync(string actor, EditAccess edit, CancellationToken ct)
    {
        var commands = sessions.BeginCommit(edit);
        int added = 0, changed = 0, removed = 0;
        WriteOutcome outcome;
        try
        {
            (_, outcome) = await writer.WriteAsync(actor, set =>
            {
                var conflicts = new List<string>();
                for (var i = 0; i < commands.Count; i++)
                {
                    try { commands[i].ApplyTo(set); }
                    catch (CoreException e) { conflicts.Add($"change {i + 1} ({Describe(commands[i], set)}): {e.Message}"); }
                }
                if (conflicts.Count > 0)
                    throw new CoreException(CoreErrorKind.Conflict,
                        $"the edit session conflicts with changes made since it started ({conflicts.Count}); nothing was applied, the session is still open",
                        conflicts);
                (added, changed, removed) = set.NetCounts();
                return 0;
            }, ct, ("before edit session commit", "pre-edit"));
        }
        catch
        {
            sessions.AbortCommit(edit);
            throw;
        }
        sessions.EndCommit(edit);
        return new EditCommitResult(added, changed, removed, outcome.SnapshotId ?? "", outcome);
    }

    /// <summary>A staged command as a user knows the host: "update web01 (01J...)", not the id alone.</summary>
    private static string Describe(HostCommand command, ChangeSet set)
    {
        var (verb, id) = command switch
        {
            UpdateHostCommand u => ("update", u.Id),
            DeleteHostCommand d => ("delete", d.Id),
            _ => (null, null),
        };
        if (verb is null || id is null) return command.Describe();
        return set.Get(id, includeDeleted: true) is { } host ? $"{verb} {host.Hostname} ({id})" : command.Describe();
    }

    /// <summary>The trigger of the snapshot that records an edit session ended by an admin.</summary>
    public const string EditEndedTrigger = "edit-ended";

    /// <summary>
    /// Ends the live edit session without its token: <paramref name="owner"/>'s own, or, when
    /// <paramref name="mayEndAnothers"/> (an admin), anyone's. Ending another's is recorded as a
    /// snapshot (trigger <see cref="EditEndedTrigger"/>, its name saying who ended whose), so it can be seen later.
    /// </summary>
    public async Task<EndedEditSession> EndEditWithoutTokenAsync(string actor, string owner, bool mayEndAnothers)
    {
        var ended = sessions.EndWithoutToken(owner, actor, mayEndAnothers);
        if (ended.HeldByAnother)
            await writer.CreateSnapshotAsync(
                $"edit session of {ended.Info.Holder} ended by {actor}; {ended.DiscardedChanges} staged change(s) discarded",
                EditEndedTrigger, CancellationToken.None);
        return ended;
    }
}

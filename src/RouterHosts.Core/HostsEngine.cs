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

public sealed record ImportResult(int Processed, int Created, int Updated, int Skipped, WriteOutcome? Outcome, bool Staged);

public sealed record EditCommitResult(int Added, int Changed, int Removed, string SnapshotId, WriteOutcome Outcome);

public sealed record RollbackResult(string BackupSnapshotId, int RestoredEntryCount, WriteOutcome Outcome);

public enum ConflictMode { Skip, Replace, Strict }

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

    public Task<(HostEntry Entry, WriteOutcome? Outcome)> AddAsync(string actor, HostDraft draft, string? editToken, CancellationToken ct) =>
        RunAsync(actor, NewAdd(draft), editToken, ct);

    public Task<(HostEntry Entry, WriteOutcome? Outcome)> UpdateAsync(
        string actor, string id, HostPatch patch, string? expectedVersion, string? editToken, CancellationToken ct) =>
        RunAsync(actor, new UpdateHostCommand(id, patch, expectedVersion), editToken, ct);

    public Task<(HostEntry Entry, WriteOutcome? Outcome)> DeleteAsync(
        string actor, string id, string? expectedVersion, string? editToken, CancellationToken ct) =>
        RunAsync(actor, new DeleteHostCommand(id, expectedVersion), editToken, ct);

    /// <summary>Commits a command now, or stages it when an edit token is given (outcome null).</summary>
    private async Task<(HostEntry, WriteOutcome?)> RunAsync(string actor, HostCommand command, string? editToken, CancellationToken ct)
    {
        if (!string.IsNullOrEmpty(editToken)) return (sessions.StageOne(editToken, command), null);
        var (entry, outcome) = await writer.WriteAsync(actor, command.ApplyTo, ct);
        return (entry, outcome);
    }

    // ---- reads ----

    public HostEntry Get(string id, string? editToken = null, DateTimeOffset? asOf = null)
    {
        if (string.IsNullOrEmpty(id)) throw CoreException.Invalid("id", id, "an id is required");
        var entry = asOf is { } time ? store.GetAsOf(id, time)
            : !string.IsNullOrEmpty(editToken) ? sessions.View(editToken).Get(id)
            : store.Get(id);
        return entry ?? throw CoreException.NotFound(id);
    }

    public IReadOnlyList<HostEntry> List(HostQuery query, string? editToken = null, DateTimeOffset? asOf = null) =>
        Stream(query, editToken, asOf).ToList();

    /// <summary>
    /// The list, produced as it is read: the live set in pages from the store's one
    /// consistent view. A staged view and an as-of read are built in memory first.
    /// The query is checked here, before anything is read.
    /// </summary>
    public IEnumerable<HostEntry> Stream(HostQuery query, string? editToken = null, DateTimeOffset? asOf = null)
    {
        if (query.Offset < 0) throw CoreException.Invalid("offset", query.Offset.ToString(), "must not be negative");
        if (query.Limit < 0) throw CoreException.Invalid("limit", query.Limit.ToString(), "must not be negative");
        if (query.IpAddress is { Length: > 0 } ip) query = query with { IpAddress = HostValidator.CanonicalIp(ip) };
        if (asOf is { } time) return query.Apply(store.ListAsOf(time));
        if (!string.IsNullOrEmpty(editToken)) return query.Apply(sessions.StagedEntries(editToken));
        return store.Stream(query);
    }

    public IReadOnlyList<HostEvent> History(string id)
    {
        var events = store.History(id);
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
    public async Task BulkAddAsync(string actor, ChannelReader<HostDraft> items, string? editToken,
        Func<BulkItemResult, Task> onResult, CancellationToken ct)
    {
        var index = 0;
        var batch = new List<HostDraft>(BulkBatchSize);
        long lastChangeId = 0;
        var lastRender = DateTime.UtcNow;
        while (await FillBatchAsync(items, batch, ct))
        {
            var results = new List<BulkItemResult>(batch.Count);
            WriteOutcome? outcome = null;
            var first = index;
            if (!string.IsNullOrEmpty(editToken))
            {
                foreach (var draft in batch)
                {
                    try { results.Add(new(index, sessions.StageOne(editToken, NewAdd(draft)), null, null)); }
                    catch (CoreException e) { results.Add(new(index, null, e, null)); }
                    index++;
                }
            }
            else
            {
                (_, outcome) = await writer.WriteAsync(actor, set =>
                {
                    var i = first;
                    foreach (var draft in batch)
                    {
                        try { results.Add(new(i, set.Add(draft), null, null)); }
                        catch (CoreException e) { results.Add(new(i, null, e, null)); }
                        i++;
                    }
                    return 0;
                }, ct, render: FileRender.Defer);
                index = first + batch.Count;
                lastChangeId = Math.Max(lastChangeId, outcome.ChangeId);
                // A long bulk call brings the file along now and then, not after every batch.
                if (lastChangeId > 0 && DateTime.UtcNow - lastRender > BulkRenderInterval)
                {
                    _ = hostsFile.EnsureCurrentAsync(lastChangeId, CancellationToken.None);
                    lastRender = DateTime.UtcNow;
                }
            }
            for (var r = 0; r < results.Count; r++)
            {
                var result = results[r];
                await onResult(result with { Outcome = result.Entry is null ? null : outcome, EndOfBatch = r == results.Count - 1 });
            }
        }
        if (lastChangeId > 0) await hostsFile.EnsureCurrentAsync(lastChangeId, CancellationToken.None);
    }

    /// <summary>How often a long bulk call regenerates the file while it runs (it always does at its end).</summary>
    public static readonly TimeSpan BulkRenderInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a bulk batch waits for more items before it commits what it has.</summary>
    public static readonly TimeSpan BulkLinger = TimeSpan.FromMilliseconds(5);

    /// <summary>Takes what has arrived, up to a batch, lingering briefly for more; false once the items are done.</summary>
    private static async Task<bool> FillBatchAsync(ChannelReader<HostDraft> items, List<HostDraft> batch, CancellationToken ct)
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
    /// </summary>
    public async Task<ImportResult> ImportAsync(string actor, byte[] payload, string? format, ConflictMode mode,
        string? editToken, Func<ImportProgress, Task>? onProgress, CancellationToken ct)
    {
        if (payload.Length > MaxImportBytes)
            throw new CoreException(CoreErrorKind.ResourceExhausted, $"import payload over {MaxImportBytes / (1024 * 1024)} MiB");
        var errors = new List<string>();
        IReadOnlyList<ImportRecord> records;
        try { records = HostFormats.Get(format).Parse(payload, errors); }
        catch (DecoderFallbackException) { throw CoreException.Invalid("chunk", "(import payload)", "the file is not valid UTF-8"); }
        DuplicatesWithinFile(records, errors);
        if (errors.Count > 0)
            throw new CoreException(CoreErrorKind.InvalidArgument,
                $"import rejected: {errors.Count} invalid line(s); nothing was imported. First: {errors[0]}", errors);

        if (onProgress is not null)
        {
            for (var done = ImportProgressEvery; done < records.Count; done += ImportProgressEvery)
                await onProgress(new ImportProgress(done, 0, 0, 0, 0));
        }
        if (!string.IsNullOrEmpty(editToken))
        {
            var (staged, stagedPlan) = PlanImport(records, mode, sessions.View(editToken));
            sessions.Stage(editToken, staged);
            return new ImportResult(records.Count, stagedPlan.Created, stagedPlan.Updated, stagedPlan.Skipped, null, true);
        }
        // Planned and applied inside the writer, so nothing can change between the two.
        var (plan, outcome) = await writer.WriteAsync(actor, set =>
        {
            var (_, planned) = PlanImport(records, mode, set, applyTo: set);
            return planned;
        }, ct);
        return new ImportResult(records.Count, plan.Created, plan.Updated, plan.Skipped, outcome, false);
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
                $"import refused: {conflicts.Count} entr{(conflicts.Count == 1 ? "y conflicts" : "ies conflict")} with existing hosts; nothing was imported. First: {conflicts[0]}",
                conflicts);
        return (commands, new ImportPlan(created, updated, skipped));
    }

    private static void DuplicatesWithinFile(IReadOnlyList<ImportRecord> records, List<string> errors)
    {
        var seen = new Dictionary<HostKey, int>();
        var seenIds = new Dictionary<string, int>();
        foreach (var record in records)
        {
            var key = new HostKey(HostValidator.CanonicalIp(record.Draft.IpAddress), record.Draft.Hostname);
            if (!seen.TryAdd(key, record.Line))
                errors.Add($"line {record.Line}: {key} repeats line {seen[key]}");
            if (record.Id is not null && !seenIds.TryAdd(record.Id, record.Line))
                errors.Add($"line {record.Line}: id {record.Id} repeats line {seenIds[record.Id]}");
        }
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
        var info = store.GetSnapshot(snapshotId) ?? throw SnapshotNotFound(snapshotId);
        return (info, store.GetSnapshotEntries(snapshotId));
    }

    public void DeleteSnapshot(string snapshotId)
    {
        if (!store.DeleteSnapshot(snapshotId)) throw SnapshotNotFound(snapshotId);
    }

    /// <summary>
    /// Makes the live set the snapshot's set, keeping the ids it recorded: a backup
    /// snapshot first (trigger pre-rollback), then one transaction of events.
    /// </summary>
    public async Task<RollbackResult> RollbackAsync(string actor, string snapshotId, CancellationToken ct)
    {
        var (_, recorded) = GetSnapshot(snapshotId);
        var backup = new SnapshotHolder();
        var (_, outcome) = await writer.WriteAsync(actor, set =>
        {
            var keep = recorded.Select(e => e.Id).ToHashSet();
            foreach (var live in store.StreamAll().ToList())
                if (!keep.Contains(live.Id)) set.Delete(live.Id, null);
            foreach (var entry in recorded) set.Restore(entry);
            return backup;
        }, ct, ($"before rollback to {snapshotId}", "pre-rollback"));
        return new RollbackResult(backup.Id ?? "", recorded.Count, outcome);
    }

    private sealed class SnapshotHolder : ISnapshotAware
    {
        public string? Id { get; private set; }
        public void SnapshotTaken(SnapshotInfo snapshot) => Id = snapshot.Id;
    }

    private static CoreException SnapshotNotFound(string id) =>
        new(CoreErrorKind.NotFound, $"snapshot {CoreException.Quote(id)} not found");

    // ---- edit sessions ----

    /// <summary>
    /// Applies every staged change in one transaction after a pre-edit snapshot. Any
    /// conflict with what changed meanwhile aborts the whole commit, lists every
    /// conflict, and leaves the session open.
    /// </summary>
    public async Task<EditCommitResult> FinishEditAsync(string actor, string token, CancellationToken ct)
    {
        var commands = sessions.BeginCommit(token);
        var snapshot = new SnapshotHolder();
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
                    catch (CoreException e) { conflicts.Add($"change {i + 1} ({commands[i].Describe()}): {e.Message}"); }
                }
                if (conflicts.Count > 0)
                    throw new CoreException(CoreErrorKind.Conflict,
                        $"the edit session conflicts with changes made since it started ({conflicts.Count}); nothing was applied, the session is still open",
                        conflicts);
                (added, changed, removed) = set.NetCounts();
                return snapshot;
            }, ct, ("before edit session commit", "pre-edit"));
        }
        catch
        {
            sessions.AbortCommit(token);
            throw;
        }
        sessions.EndCommit(token);
        return new EditCommitResult(added, changed, removed, snapshot.Id ?? "", outcome);
    }
}

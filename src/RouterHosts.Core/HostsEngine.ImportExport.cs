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

public sealed record ImportProgress(int Processed, int Created, int Updated, int Skipped, int Failed);

/// <summary><paramref name="FailedLines"/>: for an import that skips invalid lines, each line left out and why ("line N: ...").</summary>
public sealed record ImportResult(int Processed, int Created, int Updated, int Skipped, WriteOutcome? Outcome, bool Staged,
    IReadOnlyList<string>? FailedLines = null)
{
    public int Failed => FailedLines?.Count ?? 0;
}

public enum ConflictMode { Skip, Replace, Strict }

/// <summary>Import (whole files, all or nothing, or staged) and export (streamed in chunks).</summary>
public sealed partial class HostsEngine
{
    public const int ImportProgressEvery = 1000;
    public const int ExportChunkBytes = 64 * 1024;
    public const int MaxImportBytes = 64 * 1024 * 1024;

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
        applyTo?.Prefetch(records.Select(r => r.Draft));
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
}

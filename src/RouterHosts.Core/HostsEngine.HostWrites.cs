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

/// <summary>Host writes: one host at a time, and in bulk (batches, one result per item).</summary>
public sealed partial class HostsEngine
{
    public const int BulkBatchSize = 1000;

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
        BulkAsync(actor, items, edit, NewAdd, (set, draft) => set.Add(draft), onResult, ct, prefetch: (set, batch) => set.Prefetch(batch));

    /// <summary>
    /// Changes or removes hosts (update and delete commands) in batches, each item on its
    /// own merits, exactly as <see cref="BulkAddAsync"/> adds them.
    /// </summary>
    public Task BulkChangeAsync(string actor, ChannelReader<HostCommand> items, EditAccess? edit,
        Func<BulkItemResult, Task> onResult, CancellationToken ct) =>
        BulkAsync(actor, items, edit, command => command, (set, command) => command.ApplyTo(set), onResult, ct);

    private async Task BulkAsync<T>(string actor, ChannelReader<T> items, EditAccess? edit, Func<T, HostCommand> toCommand,
        Func<ChangeSet, T, HostEntry> apply, Func<BulkItemResult, Task> onResult, CancellationToken ct,
        Action<ChangeSet, List<T>>? prefetch = null)
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
                    prefetch?.Invoke(set, batch);
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
}

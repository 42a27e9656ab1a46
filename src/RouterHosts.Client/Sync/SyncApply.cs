using System.Runtime.CompilerServices;

namespace RouterHosts.Client;

/// <summary>How far an apply is, for progress (read from another thread).</summary>
public sealed class RouterHostsSyncProgress
{
    private int _staged;
    private volatile bool _committing;

    public int Total { get; internal set; }
    public int Staged => Volatile.Read(ref _staged);
    /// <summary>True once every change is staged and the commit is under way.</summary>
    public bool Committing => _committing;

    internal void OneStaged() => Interlocked.Increment(ref _staged);
    internal void Commit() => _committing = true;
}

/// <summary>
/// Applies a <see cref="RouterHostsSyncPlan"/> as ONE atomic commit: an edit session opened for
/// it, every change staged over two streams (removals and updates pinned to the versions the
/// plan read, then adds), and one commit with its pre-edit snapshot. A change someone else
/// made to a host of the plan meanwhile, found while staging or at the commit, aborts it all
/// with each conflict listed; a row the agent refuses refuses the list whole. Either way the
/// session is discarded and nothing is applied.
/// </summary>
public static class SyncApply
{
    /// <summary>The <see cref="RouterHostsException.Reason"/> of a sync aborted by a concurrent change.</summary>
    public const string ConflictReason = "sync-conflict";

    public static async Task<RouterHostsSyncResult> ApplyAsync(RouterHostsClient client, RouterHostsSyncPlan plan, RouterHostsSyncProgress? progress,
        string rowWord = "row", CancellationToken ct = default)
    {
        if (plan.IsEmpty) return new RouterHostsSyncResult { Unchanged = plan.Unchanged };
        if (client.EditToken is not null)
            throw new RouterHostsException(RouterHostsErrorCode.FailedPrecondition,
                "this connection holds an edit session, and a sync commits in an edit session of its own; complete or undo yours first")
            { Reason = "edit-session-held" };
        progress ??= new RouterHostsSyncProgress();
        progress.Total = plan.Changes.Count;

        await client.StartEditAsync(resume: false, ct).ConfigureAwait(false);
        var committed = false;
        try
        {
            var changes = plan.Changes.Where(c => c.Action != RouterHostsSyncAction.Add).ToList();
            var adds = plan.Changes.Where(c => c.Action == RouterHostsSyncAction.Add).ToList();
            var failures = new List<(RouterHostsSyncChange Change, RouterHostsException Error)>();
            if (changes.Count > 0)
            await foreach (var result in client.BulkChangeAsync(Items(changes, ToChange, ct), ct).ConfigureAwait(false))
            {
                progress.OneStaged();
                if (result.Error is { } error) failures.Add((changes[result.Index], error));
            }
            if (adds.Count > 0)
            await foreach (var result in client.BulkAddAsync(Items(adds, ToInput, ct), ct).ConfigureAwait(false))
            {
                progress.OneStaged();
                if (result.Error is { } error) failures.Add((adds[result.Index], error));
            }
            if (failures.Count > 0) throw Refused(failures, rowWord);

            progress.Commit();
            RouterHostsEditResult done;
            try { done = await client.CompleteEditAsync(ct).ConfigureAwait(false); }
            catch (RouterHostsException e) when (e.Code == RouterHostsErrorCode.Aborted)
            {
                throw new RouterHostsException(RouterHostsErrorCode.Aborted,
                    "the sync conflicts with changes made while it was being applied; nothing was applied", e.Details, e) { Reason = ConflictReason };
            }
            committed = true;
            return new RouterHostsSyncResult
            {
                Added = done.Added, Changed = done.Changed, Removed = done.Removed, Unchanged = plan.Unchanged, SnapshotId = done.SnapshotId,
                HostsFileStale = done.HostsFileStale,
            };
        }
        finally
        {
            if (!committed) await Discard(client).ConfigureAwait(false);
        }
    }

    /// <summary>Ends the sync's own session (also after Ctrl+C); a failure here leaves it to expire, which is also safe.</summary>
    private static async Task Discard(RouterHostsClient client)
    {
        if (client.EditToken is null) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await client.UndoEditAsync(force: false, timeout.Token).ConfigureAwait(false);
        }
        catch (RouterHostsException) { client.DetachEdit(); }
        catch (OperationCanceledException) { client.DetachEdit(); }
    }

    /// <summary>
    /// Staging failures: a row the agent finds invalid refuses the list (bad input); anything else
    /// (a host changed, removed or added by someone since the plan was read) is a conflict.
    /// </summary>
    private static RouterHostsException Refused(List<(RouterHostsSyncChange Change, RouterHostsException Error)> failures, string rowWord)
    {
        var invalid = failures.Where(f => f.Error.Code is RouterHostsErrorCode.InvalidArgument or RouterHostsErrorCode.OutOfRange).ToList();
        if (invalid.Count > 0)
            return new RouterHostsException(RouterHostsErrorCode.InvalidArgument,
                $"the desired list was refused: {invalid.Count} bad {rowWord}(s); nothing was changed",
                invalid.Select(f => $"{rowWord} {f.Change.Row}: {f.Error.Message}").ToList());
        return new RouterHostsException(RouterHostsErrorCode.Aborted,
            $"the sync conflicts with {failures.Count} change(s) made since its plan was read; nothing was applied",
            failures.Select(f => $"{f.Change.Symbol} {f.Change.Hostname} ({f.Change.IPAddress}): {f.Error.Message}").ToList())
        { Reason = ConflictReason };
    }

    private static RouterHostChange ToChange(RouterHostsSyncChange change) => change.Action == RouterHostsSyncAction.Remove
        ? new RouterHostChange { Id = change.Id, ExpectedVersion = change.Current!.Version }
        : new RouterHostChange
        {
            Id = change.Id,
            ExpectedVersion = change.Current!.Version,
            Update = new RouterHostUpdate
            {
                IPAddress = change.Desired!.IPAddress, Hostname = change.Desired.Hostname, Comment = change.Desired.Comment ?? "",
                Tags = change.Desired.Tags.ToArray(), Aliases = change.Desired.Aliases.ToArray(),
            },
        };

    private static RouterHostInput ToInput(RouterHostsSyncChange change) => new()
    {
        IPAddress = change.Desired!.IPAddress, Hostname = change.Desired.Hostname, Comment = change.Desired.Comment,
        Tags = change.Desired.Tags.ToArray(), Aliases = change.Desired.Aliases.ToArray(),
    };

    private static async IAsyncEnumerable<T> Items<T>(List<RouterHostsSyncChange> changes, Func<RouterHostsSyncChange, T> map,
        [EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var change in changes)
        {
            ct.ThrowIfCancellationRequested();
            yield return map(change);
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }
}

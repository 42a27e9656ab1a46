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

public sealed record EditCommitResult(int Added, int Changed, int Removed, string SnapshotId, WriteOutcome Outcome);

public sealed record RollbackResult(string BackupSnapshotId, int RestoredEntryCount, WriteOutcome Outcome);

/// <summary>Snapshots, rollback, and the edit-session commit (each change taken after a snapshot of the state before it).</summary>
public sealed partial class HostsEngine
{
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
    // ---- edit session commit and forced end ----

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

using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>New-RouterHostsSnapshot: records the current hosts under a name.</summary>
[Cmdlet(VerbsCommon.New, "RouterHostsSnapshot", SupportsShouldProcess = true)]
[OutputType(typeof(RouterHostsSnapshot))]
public sealed class NewRouterHostsSnapshotCommand : RouterHostsAgentCmdlet
{
    [Parameter(Position = 0)]
    [AllowEmptyString]
    public string Name { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var what = Name.Length == 0 ? "snapshot" : $"snapshot '{Name}'";
        if (!ShouldProcess(ActiveConnection.Target, $"Create {what}")) return;
        try
        {
            var snapshot = Wait(Client.CreateSnapshotAsync(Name, "manual", StopToken));
            Session.Cache.Observe(snapshot);
            WriteVerbose($"Created snapshot {snapshot.Id} ({snapshot.EntryCount} hosts).");
            if (PassThru) WriteObject(snapshot);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, Name, ErrorSubject.Snapshot);
        }
    }
}

/// <summary>Get-RouterHostsSnapshot: snapshots, newest first, by -Id or -Name (wildcards) or all, paged with -First/-Skip.</summary>
[Cmdlet(VerbsCommon.Get, "RouterHostsSnapshot", DefaultParameterSetName = ListSet)]
[OutputType(typeof(RouterHostsSnapshot))]
public sealed class GetRouterHostsSnapshotCommand : RouterHostsAgentCmdlet
{
    private const string ListSet = "List";
    private const string IdSet = "Id";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("SnapshotId")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(ParameterSetName = ListSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SnapshotNameCompleter))]
    public string? Name { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateRange(0, int.MaxValue)]
    public int Skip { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            if (ParameterSetName == ListSet)
            {
                var all = Name is null || Name == "*";
                ForEach(Client.ListSnapshotsAsync(all ? Skip : 0, all && First > 0 ? First : null, StopToken), snapshot =>
                {
                    Session.Cache.Observe(snapshot);
                    if (!all && !Wildcards.IsMatch(Name!, snapshot.Name)) return;
                    WriteObject(snapshot);
                });
                return;
            }

            var snapshots = new List<RouterHostsSnapshot>();
            ForEach(Client.ListSnapshotsAsync(0, null, StopToken), snapshots.Add);
            foreach (var id in Id)
            {
                var matches = snapshots.Where(s => Wildcards.IsMatch(id, s.Id)).ToList();
                foreach (var snapshot in matches)
                {
                    Session.Cache.Observe(snapshot);
                    WriteObject(snapshot);
                }
                if (matches.Count == 0 && !Wildcards.HasWildcard(id))
                    WriteError(NewError(ErrorIds.SnapshotNotFound, ErrorCategory.ObjectNotFound, $"Snapshot '{id}' not found.", id));
            }
        }
        catch (RouterHostsException e)
        {
            Report(e, null, ErrorSubject.Snapshot);
        }
    }
}

/// <summary>
/// Restore-RouterHostsSnapshot: makes the hosts what the snapshot recorded (after taking
/// a backup snapshot of the current state). -WhatIf and the confirmation prompt list what
/// would be added, removed and changed, computed here from the snapshot and the current hosts.
/// </summary>
[Cmdlet(VerbsData.Restore, "RouterHostsSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
    DefaultParameterSetName = IdSet)]
[OutputType(typeof(RouterHostsRestoreResult))]
public sealed class RestoreRouterHostsSnapshotCommand : RouterHostsAgentCmdlet
{
    private const string IdSet = "Id";
    private const string InputObjectSet = "InputObject";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Alias("SnapshotId")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public string Id { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public RouterHostsSnapshot? InputObject { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var id = InputObject?.Id ?? Id;
        try
        {
            var (snapshot, recorded) = Wait(Client.GetSnapshotAsync(id, StopToken));
            var current = new List<RouterHost>();
            ForEach(Client.ListHostsAsync(null, StopToken), current.Add);
            var diff = SnapshotDiff.Compute(current, recorded);
            var label = $"snapshot {snapshot.Id}{(snapshot.Name.Length > 0 ? $" '{snapshot.Name}'" : "")} ({snapshot.CreatedAt:u}, {snapshot.EntryCount} entries)";
            var description = $"Restoring {label} on {ActiveConnection.Target} {diff.Describe()}";
            var warning = $"Restore {label}? This {diff.Describe()} (a backup snapshot of the current state is taken first).";
            if (!ShouldProcess(description, warning, "Restore-RouterHostsSnapshot")) return;

            var result = Wait(Client.RestoreSnapshotAsync(id, StopToken));
            Session.Cache.Invalidate();
            WriteVerbose($"Restored {result.RestoredEntryCount} entries; the state before the restore is in snapshot {result.BackupSnapshotId}.");
            if (result.HostsFileStale)
                WriteWarning("The restore is committed, but the agent could not write the hosts file yet; Get-RouterHostsAgent shows why.");
            if (PassThru) WriteObject(result);
        }
        catch (RouterHostsException e)
        {
            Report(e, (object?)InputObject ?? id, ErrorSubject.Snapshot);
        }
    }
}

/// <summary>Remove-RouterHostsSnapshot: deletes snapshots.</summary>
[Cmdlet(VerbsCommon.Remove, "RouterHostsSnapshot", SupportsShouldProcess = true)]
public sealed class RemoveRouterHostsSnapshotCommand : RouterHostsAgentCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("SnapshotId")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SnapshotIdCompleter))]
    public string[] Id { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (!ShouldProcess($"snapshot {id}", "Remove")) continue;
            try
            {
                Wait(Client.RemoveSnapshotAsync(id, StopToken));
                Session.Cache.ForgetSnapshot(id);
            }
            catch (RouterHostsException e)
            {
                Report(e, id, ErrorSubject.Snapshot);
            }
        }
    }
}

/// <summary>
/// Watch-RouterHost: writes the full set of hosts now, then again after every change,
/// until Ctrl+C (or -Count sets have been written); with -IncludeDrift also each drift of the hosts file.
/// </summary>
[Cmdlet(VerbsCommon.Watch, "RouterHost")]
[OutputType(typeof(RouterHostsChange), typeof(RouterHostsDrift))]
public sealed class WatchRouterHostCommand : RouterHostsAgentCmdlet
{
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Count { get; set; }

    /// <summary>Also write a RouterHostsDrift each time the agent notices drift of its hosts file.</summary>
    [Parameter]
    public SwitchParameter IncludeDrift { get; set; }

    protected override void EndProcessing()
    {
        var written = 0;
        bool Write(object item)
        {
            WriteObject(item);
            return item is not RouterHostsChange || Count == 0 || ++written < Count;
        }
        try
        {
            if (IncludeDrift) ForEach(Client.WatchWithDriftAsync(follow: Count != 1, StopToken), Write);
            else ForEach(Client.WatchAsync(follow: Count != 1, StopToken), change => Write(change));
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection.Target, ErrorSubject.Agent);
        }
    }
}

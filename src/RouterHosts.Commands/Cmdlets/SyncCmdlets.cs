using System.Diagnostics;
using System.Management.Automation;
using System.Reflection;
using RouterHosts.Client;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// The base of Compare-RouterHost and Sync-RouterHost: a desired list of hosts from the
/// pipeline (every field binds by property name, as for Add-RouterHost, so
/// <c>Import-Csv hosts.csv | Sync-RouterHost</c> works) or from a CSV file (-Path), and a scope
/// (-Tag). The list is collected whole, then planned against the current hosts in EndProcessing.
/// </summary>
public abstract class RouterHostsSyncCmdlet : RouterHostsAgentCmdlet
{
    private protected const string PipelineSet = "Pipeline";
    private protected const string PathSet = "Path";
    private protected static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);

    private readonly List<RouterHostsDesiredHost> _desired = new();
    private int _rows;

    [Parameter(ParameterSetName = PipelineSet, ValueFromPipelineByPropertyName = true)]
    [Alias("IP", "ip_address", "Address", "IPv4Address", "IPv6Address", "RecordData")]
    [AllowNull, AllowEmptyString]
    public string? IPAddress { get; set; }

    [Parameter(ParameterSetName = PipelineSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Name", "Host", "DNSHostName")]
    [AllowNull, AllowEmptyString]
    public string? Hostname { get; set; }

    [Parameter(ParameterSetName = PipelineSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Aliases")]
    [AllowNull, AllowEmptyCollection, AllowEmptyString]
    public string[]? Alias { get; set; }

    /// <summary>The row's own tags (the "tags" column); -Tag is the scope.</summary>
    [Parameter(ParameterSetName = PipelineSet, ValueFromPipelineByPropertyName = true)]
    [Alias("Tags")]
    [AllowNull, AllowEmptyCollection, AllowEmptyString]
    public string[]? HostTag { get; set; }

    [Parameter(ParameterSetName = PipelineSet, ValueFromPipelineByPropertyName = true)]
    [AllowNull, AllowEmptyString]
    public string? Comment { get; set; }

    /// <summary>When it names a current host, the row describes that host (so its IP or hostname can change).</summary>
    [Parameter(ParameterSetName = PipelineSet, ValueFromPipelineByPropertyName = true)]
    [Alias("HostId")]
    [AllowNull, AllowEmptyString]
    public string? Id { get; set; }

    /// <summary>The pipeline row itself (an Import-Csv row, say), kept to tell a row from no input.</summary>
    [Parameter(ParameterSetName = PipelineSet, ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    /// <summary>A CSV file of desired hosts (the headers Import-Csv would bind); errors name its lines.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The scope: only hosts with this tag are compared and removed; every desired host gets it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TagCompleter))]
    public string? Tag { get; set; }

    /// <summary>Remove the hosts in scope that are not in the desired list.</summary>
    [Parameter]
    public SwitchParameter Prune { get; set; }

    private protected string RowWord => ParameterSetName == PathSet ? "line" : "row";

    private protected string Scope => Tag is null ? "all hosts" : $"the hosts tagged '{Tag}'";

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PathSet) return;
        // Without pipeline input ProcessRecord runs once with nothing bound: that is no row.
        if (InputObject is null && string.IsNullOrEmpty(IPAddress) && string.IsNullOrEmpty(Hostname)) return;
        _desired.Add(new RouterHostsDesiredHost
        {
            Row = ++_rows,
            Id = string.IsNullOrWhiteSpace(Id) ? null : Id.Trim(),
            IPAddress = IPAddress?.Trim() ?? "",
            Hostname = Hostname?.Trim() ?? "",
            Comment = string.IsNullOrEmpty(Comment) ? null : Comment,
            Tags = ListSplitter.Split(HostTag),
            Aliases = ListSplitter.Split(Alias),
        });
    }

    /// <summary>The desired list (read from -Path here), the current hosts, and the plan; a bad list ends the command.</summary>
    private protected (IReadOnlyList<RouterHostsDesiredHost> Desired, RouterHostsSyncPlan Plan) MakePlan()
    {
        if (ParameterSetName == PathSet) ReadFile();
        var watch = Stopwatch.StartNew();
        var current = new List<RouterHost>();
        var progress = Stopwatch.StartNew();
        try
        {
            ForEach(Client.ListHostsAsync(null, StopToken), host =>
            {
                current.Add(host);
                if (progress.Elapsed < ProgressEvery) return;
                progress.Restart();
                WriteProgress(new ProgressRecord(2, $"Reading the hosts of {ActiveConnection.Target}", $"{current.Count} read"));
            });
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection.Target, ErrorSubject.Host);
        }
        RouterHostsSyncPlan plan = null!;
        try { plan = SyncPlanner.Plan(_desired, current, Tag, Prune, RowWord); }
        catch (RouterHostsException e) { TerminateSync(e); }
        WriteVerbose($"Planned {_desired.Count} desired host(s) against {current.Count} current ({Scope}) in {watch.Elapsed.TotalSeconds:0.00} s: {plan.Summary}.");
        return (_desired, plan);
    }

    /// <summary>A refused list or an aborted sync, with every row or conflict listed; anything else as the agent said it.</summary>
    private protected void TerminateSync(RouterHostsException e)
    {
        var message = ErrorMapping.Describe(char.ToUpperInvariant(e.Message[0]) + e.Message[1..] + ".", e.Details);
        if (e.Code == RouterHostsErrorCode.InvalidArgument)
            Terminate(ErrorIds.SyncInvalid, ErrorCategory.InvalidArgument, message, Path.Length > 0 ? Path : null, e,
                $"Fix the {RowWord}s listed and run the command again; nothing was changed.");
        if (e.Reason == SyncApply.ConflictReason)
            Terminate(ErrorIds.SyncConflict, ErrorCategory.ResourceBusy, message, ActiveConnection.Target, e,
                "Someone changed these hosts meanwhile. Nothing was applied: run the command again to plan against the new state.");
        Terminate(e, ActiveConnection.Target, ErrorSubject.Edit);
    }

    private void ReadFile()
    {
        string file;
        try
        {
            var resolved = GetResolvedProviderPathFromPSPath(Path, out var provider);
            if (provider.Name != "FileSystem" || resolved.Count != 1)
                throw new ItemNotFoundException($"'{Path}' is not one file.");
            file = resolved[0];
        }
        catch (Exception e) when (e is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException)
        {
            Terminate(ErrorIds.FileNotFound, ErrorCategory.ObjectNotFound, $"Cannot read the desired hosts: {e.Message}", Path, e);
            return;
        }
        List<CsvRow> rows;
        try
        {
            using var reader = new StreamReader(file, detectEncodingFromByteOrderMarks: true);
            rows = CsvRows.Read(reader);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Terminate(ErrorIds.FileError, ErrorCategory.ReadError, $"Cannot read {file}: {e.Message}", file, e);
            return;
        }
        foreach (var row in rows)
        {
            string? Field(string parameter) =>
                HeaderNames[parameter].Select(n => row.Fields.TryGetValue(n, out var v) ? v : null).FirstOrDefault(v => v is not null);
            var id = Field(nameof(Id));
            var comment = Field(nameof(Comment));
            _desired.Add(new RouterHostsDesiredHost
            {
                Row = row.Line,
                Id = string.IsNullOrWhiteSpace(id) ? null : id.Trim(),
                IPAddress = Field(nameof(IPAddress))?.Trim() ?? "",
                Hostname = Field(nameof(Hostname))?.Trim() ?? "",
                Comment = string.IsNullOrEmpty(comment) ? null : comment,
                Tags = ListSplitter.Split([Field(nameof(HostTag))]),
                Aliases = ListSplitter.Split([Field(nameof(Alias))]),
            });
        }
    }

    /// <summary>The CSV headers each field takes: the parameter's name and aliases, as pipeline binding uses them.</summary>
    private static readonly Dictionary<string, string[]> HeaderNames = typeof(RouterHostsSyncCmdlet).GetProperties()
        .Where(p => p.GetCustomAttributes<ParameterAttribute>().Any(a => a.ValueFromPipelineByPropertyName))
        .ToDictionary(p => p.Name, p => p.GetCustomAttributes<AliasAttribute>().SelectMany(a => a.AliasNames).Prepend(p.Name).ToArray());
}

/// <summary>
/// Compare-RouterHost: the plan a sync of the desired list would carry out, as objects (one
/// per host to add, change or remove); nothing is changed.
/// </summary>
[Cmdlet(VerbsData.Compare, "RouterHost", DefaultParameterSetName = PipelineSet)]
[OutputType(typeof(RouterHostsSyncChange))]
public sealed class CompareRouterHostCommand : RouterHostsSyncCmdlet
{
    protected override void EndProcessing()
    {
        var (_, plan) = MakePlan();
        var shown = plan.Changes.OrderBy(c => c.Action switch { RouterHostsSyncAction.Add => 0, RouterHostsSyncAction.Remove => 1, _ => 2 });
        foreach (var change in shown) WriteObject(change);
    }
}

/// <summary>
/// Sync-RouterHost: makes the hosts in scope the desired list, as ONE atomic commit (an edit
/// session with its pre-edit snapshot). -WhatIf prints the plan ("+ / - / ~" lines) and changes
/// nothing. Input that already matches changes nothing and says so. A bad list is refused
/// whole; a concurrent change to a planned host aborts the commit with the conflicts listed.
/// </summary>
[Cmdlet(VerbsData.Sync, "RouterHost", SupportsShouldProcess = true, DefaultParameterSetName = PipelineSet)]
[OutputType(typeof(RouterHostsSyncResult))]
public sealed class SyncRouterHostCommand : RouterHostsSyncCmdlet
{
    /// <summary>With -Prune, allow an empty desired list (it removes every host in scope).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        var (desired, plan) = MakePlan();
        if (desired.Count == 0 && Prune && !Force && plan.Count(RouterHostsSyncAction.Remove) > 0)
            Terminate(ErrorIds.SyncInvalid, ErrorCategory.InvalidArgument,
                $"The desired list is empty, and -Prune would remove all {plan.Count(RouterHostsSyncAction.Remove)} of {Scope}.",
                Path.Length > 0 ? Path : null, advice: "Check the input (an empty file, a failed pull?); add -Force if removing them all is meant.");

        var target = $"{ActiveConnection.Target} ({Scope}{(Prune ? ", pruning" : "")})";
        if (!ShouldProcess($"Syncing {target}: {plan.Describe()}", $"Sync {target}? This {plan.Describe(maxLines: 25)}", "Sync-RouterHost"))
            return;
        if (plan.IsEmpty)
        {
            WriteVerbose("Already in sync; nothing was sent.");
            WriteObject(new RouterHostsSyncResult { Unchanged = plan.Unchanged });
            return;
        }

        var watch = Stopwatch.StartNew();
        var progress = new RouterHostsSyncProgress();
        var apply = SyncApply.ApplyAsync(Client, plan, progress, RowWord, StopToken);
        var shown = false;
        while (!((IAsyncResult)apply).AsyncWaitHandle.WaitOne(ProgressEvery))
        {
            WriteProgress(new ProgressRecord(3, $"Syncing {ActiveConnection.Target}",
                progress.Committing ? $"Committing {progress.Total} change(s)" : $"Staging: {progress.Staged} of {progress.Total} change(s)")
            {
                PercentComplete = progress.Total == 0 ? 0 : Math.Min(100, progress.Staged * 100 / progress.Total),
            });
            shown = true;
        }
        if (shown) WriteProgress(new ProgressRecord(3, $"Syncing {ActiveConnection.Target}", "Done") { RecordType = ProgressRecordType.Completed });
        RouterHostsSyncResult result = null!;
        try { result = Wait(apply); }
        catch (RouterHostsException e) { TerminateSync(e); }
        finally { Session.Cache.Invalidate(); }
        WriteVerbose($"Applied {plan.Changes.Count} change(s) in one commit in {watch.Elapsed.TotalSeconds:0.00} s; snapshot {result.SnapshotId} holds the state before.");
        if (result.HostsFileStale)
            WriteWarning("The sync is committed, but the agent could not write the hosts file yet; Get-RouterHostsAgent shows why.");
        WriteObject(result);
    }
}

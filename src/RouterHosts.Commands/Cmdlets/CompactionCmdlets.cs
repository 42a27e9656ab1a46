using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Invoke-RouterHostsCompaction: folds each host's events at or before -Before into one
/// baseline event (admin only), for every host, the hosts given by -Id, or the hosts with more
/// than -OverEventCount events. History shows the baseline; Get-RouterHost -AsOf before the
/// horizon is refused afterwards. It first asks the agent what it would fold (a dry run),
/// shows that for -WhatIf/-Confirm, then folds exactly that horizon. Snapshots are not affected.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "RouterHostsCompaction", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High,
    DefaultParameterSetName = AllSet)]
[OutputType(typeof(RouterHostsCompaction))]
public sealed class InvokeRouterHostsCompactionCommand : RouterHostsAgentCmdlet
{
    private const string AllSet = "All";
    private const string IdSet = "Id";
    private const string ThresholdSet = "OverEventCount";

    /// <summary>The horizon: events at or before it are folded. Required for every host; else it defaults to now.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = AllSet)]
    [Parameter(ParameterSetName = IdSet)]
    [Parameter(ParameterSetName = ThresholdSet)]
    public DateTime Before { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = ThresholdSet)]
    [ValidateRange(0, long.MaxValue)]
    public long OverEventCount { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == IdSet)
        {
            foreach (var id in Id) Compact(id, null);
        }
        else
        {
            Compact(null, ParameterSetName == ThresholdSet ? OverEventCount : null);
        }
    }

    private void Compact(string? id, long? overEventCount)
    {
        DateTimeOffset? before = MyInvocation.BoundParameters.ContainsKey(nameof(Before))
            ? new DateTimeOffset(Before.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(Before, DateTimeKind.Local) : Before)
            : null;
        var scope = id is not null ? $"host {id}" : overEventCount is { } n ? $"hosts with more than {n} events" : "every host";
        try
        {
            var planned = Wait(Client.CompactAsync(before, id, overEventCount, dryRun: true, StopToken));
            var folding = planned.Where(h => h.EventsReclaimed > 0).ToList();
            var horizon = planned.Count > 0 ? planned[0].Horizon : before ?? DateTimeOffset.UtcNow;
            var description = $"Compacting {scope} on {ActiveConnection.Target} up to {horizon.UtcDateTime:u}: " +
                              (folding.Count == 0
                                  ? "nothing to fold"
                                  : $"{folding.Sum(h => h.EventsReclaimed)} event(s) of {folding.Count} host(s) folded into baselines (" +
                                    string.Join(", ", folding.Select(h => $"{h.HostId} {h.EventsBefore}->{h.EventsAfter}")) + ")");
            var warning = $"{description}. History before the horizon is gone for good, and -AsOf reads before it are refused. Continue?";
            if (!ShouldProcess(description, warning, "Invoke-RouterHostsCompaction")) return;
            if (folding.Count == 0) return;
            // The horizon the dry run reported, so the compaction folds exactly what was shown.
            foreach (var host in Wait(Client.CompactAsync(horizon, id, overEventCount, dryRun: false, StopToken)))
                WriteObject(host);
        }
        catch (RouterHostsException e)
        {
            Report(e, (object?)id ?? scope, ErrorSubject.Host);
        }
    }
}

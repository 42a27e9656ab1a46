using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Get-RouterHostsDrift: whether the agent's hosts file holds what the agent wrote (State clean or
/// drifted), and the last drift it noticed: what changed, the line diff, and what was done (admin only).
/// </summary>
[Cmdlet(VerbsCommon.Get, "RouterHostsDrift")]
[OutputType(typeof(RouterHostsDrift))]
public sealed class GetRouterHostsDriftCommand : RouterHostsAgentCmdlet
{
    protected override void EndProcessing()
    {
        try
        {
            WriteObject(Wait(Client.GetDriftAsync(StopToken)));
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection, ErrorSubject.Agent);
        }
    }
}

/// <summary>
/// Repair-RouterHostsFile: rewrites the hosts file from the database (then the agent runs its hooks), or
/// with -Adopt turns the hand edits of its block into ordinary events (invalid lines are reported, never
/// applied). It first asks the agent what it would do (a dry run) and shows that for -WhatIf/-Confirm.
/// Admin only.
/// </summary>
[Cmdlet(VerbsDiagnostic.Repair, "RouterHostsFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RouterHostsFileRepair))]
public sealed class RepairRouterHostsFileCommand : RouterHostsAgentCmdlet
{
    /// <summary>Adopt the hand edits as events instead of putting the file back.</summary>
    [Parameter]
    public SwitchParameter Adopt { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var how = Adopt ? "Adopting the hand edits of" : "Restoring";
        try
        {
            var plan = Wait(Client.RepairHostsFileAsync(Adopt, dryRun: true, StopToken));
            var lines = plan.Actions.Concat(plan.InvalidLines.Select(l => $"! not adopted: {l}")).ToList();
            var description = $"{how} the hosts file on {ActiveConnection.Target}: " +
                              (lines.Count == 0 ? "nothing to do, it holds what the agent wrote" : $"{lines.Count} line(s)\n" + string.Join('\n', lines));
            if (!ShouldProcess(description, $"{description}\nContinue?", "Repair-RouterHostsFile")) return;
            var result = Wait(Client.RepairHostsFileAsync(Adopt, dryRun: false, StopToken));
            if (Adopt) Session.Cache.Invalidate();
            WriteVerbose(result.Changed
                ? $"{(Adopt ? "Adopted" : "Restored")}: {result.Actions.Length} line(s); the drift state is now {result.Drift.State}."
                : "Nothing to repair: the hosts file holds what the agent wrote.");
            foreach (var line in result.InvalidLines) WriteWarning($"Not adopted (invalid): {line}");
            if (result.HostsFileStale)
                WriteWarning("The agent could not write the hosts file yet; Get-RouterHostsAgent shows why.");
            if (PassThru) WriteObject(result);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection, ErrorSubject.Agent);
        }
    }
}

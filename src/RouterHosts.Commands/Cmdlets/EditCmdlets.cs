using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Start-RouterHostsEdit: opens the agent's edit session and attaches it to the
/// connection; until Complete or Undo, every change made through that connection is
/// staged, and reads through it show the staged state. -Resume attaches the session
/// this identity already holds (say, one a closed pwsh started) instead.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "RouterHostsEdit", SupportsShouldProcess = true)]
[OutputType(typeof(RouterHostsEdit))]
public sealed class StartRouterHostsEditCommand : RouterHostsAgentCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Resume { get; set; }

    protected override void EndProcessing()
    {
        if (!ShouldProcess(ActiveConnection.Target, Resume ? "Resume your edit session" : "Start an edit session")) return;
        try
        {
            var edit = Wait(Client.StartEditAsync(Resume, StopToken));
            WriteVerbose($"{(Resume ? "Resumed" : "Started")} an edit session on {ActiveConnection.Target}; it expires after {edit.IdleTimeout} idle.");
            if (PassThru) WriteObject(edit);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection.Target, ErrorSubject.Edit);
        }
    }
}

/// <summary>
/// Complete-RouterHostsEdit: commits the connection's staged changes atomically and
/// reports how many were added, changed and removed. On conflict nothing is applied, the
/// session stays open, and a terminating error lists every conflict.
/// </summary>
[Cmdlet(VerbsLifecycle.Complete, "RouterHostsEdit", SupportsShouldProcess = true)]
[OutputType(typeof(RouterHostsEditResult))]
public sealed class CompleteRouterHostsEditCommand : RouterHostsAgentCmdlet
{
    protected override void EndProcessing()
    {
        RequireEdit();
        var staged = StagedChanges();
        if (!ShouldProcess(ActiveConnection.Target, $"Commit {staged} staged change(s)")) return;
        try
        {
            var result = Wait(Client.CompleteEditAsync(StopToken));
            Session.Cache.Invalidate();
            if (result.HostsFileStale)
                WriteWarning("The changes are committed, but the agent could not write the hosts file yet; Get-RouterHostsAgent shows why.");
            WriteObject(result);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection.Target, ErrorSubject.Edit);
        }
    }
}

/// <summary>
/// Undo-RouterHostsEdit: discards the connection's staged changes and ends the session.
/// -Force ends the agent's live session without this connection holding it: your own
/// (started elsewhere), or, for an admin, anyone's (the agent logs and records that).
/// </summary>
[Cmdlet(VerbsCommon.Undo, "RouterHostsEdit", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(int))]
public sealed class UndoRouterHostsEditCommand : RouterHostsAgentCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        string action;
        if (Force)
        {
            RouterHostsEdit? live;
            try { live = EditInfo(); }
            catch (RouterHostsException) { live = null; } // the undo that follows reports the failure properly
            action = live is null
                ? "End the open edit session"
                : $"End the edit session held by {live.Holder}, discarding its {live.StagedChanges} staged change(s)";
        }
        else
        {
            RequireEdit();
            action = $"Discard {StagedChanges()} staged change(s) and end the edit session";
        }
        if (!ShouldProcess(ActiveConnection.Target, action)) return;
        try
        {
            var discarded = Wait(Client.UndoEditAsync(Force, StopToken));
            WriteVerbose($"Discarded {discarded} staged change(s).");
            if (PassThru) WriteObject(discarded);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection.Target, ErrorSubject.Edit);
        }
    }
}

/// <summary>Get-RouterHostsEdit: the agent's live edit session (whoever holds it), or nothing.</summary>
[Cmdlet(VerbsCommon.Get, "RouterHostsEdit")]
[OutputType(typeof(RouterHostsEdit))]
public sealed class GetRouterHostsEditCommand : RouterHostsAgentCmdlet
{
    protected override void EndProcessing()
    {
        try
        {
            if (EditInfo() is { } edit) WriteObject(edit);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection.Target, ErrorSubject.Edit);
        }
    }
}

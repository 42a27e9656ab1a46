namespace RouterHosts;

/// <summary>
/// Drift of the agent's hosts file: whether it differs from what the agent wrote right now
/// (<see cref="State"/> "drifted"), and the last drift the agent noticed: what changed, the
/// line diff, and what the agent did about it (by its hosts_file.drift policy).
/// </summary>
public sealed class RouterHostsDrift
{
    public string Endpoint { get; init; } = "";
    /// <summary>"clean", or "drifted" while the file differs (report mode, until the next write or a repair).</summary>
    public string State { get; init; } = "";
    public bool Drifted => State == "drifted";
    /// <summary>hosts_file.drift: restore, adopt or report.</summary>
    public string Policy { get; init; } = "";
    /// <summary>When the last drift was noticed; null when none since the agent started.</summary>
    public DateTimeOffset? DetectedAt { get; init; }
    /// <summary>block-changed, block-removed, file-deleted, file-replaced, mode-changed, owner-changed.</summary>
    public string[] Kinds { get; init; } = [];
    /// <summary>"- line" the agent wrote that is gone, "+ line" found instead; "mode 0644 -> 0600"; "owner 0:0 -> 1000:1000".</summary>
    public string[] Diff { get; init; } = [];
    /// <summary>restored, adopted, reported, "overwritten by a write", or "restored: why it was not adopted".</summary>
    public string Action { get; init; } = "";
    /// <summary>Adopting: the events made ("+ line" added, "~ line" changed, "- line" removed).</summary>
    public string[] Applied { get; init; } = [];
    /// <summary>Adopting: the lines refused ("line N: why"), never applied.</summary>
    public string[] InvalidLines { get; init; } = [];
    /// <summary>The file's owner as the kernel reported it when the drift was noticed.</summary>
    public uint? OwnerUid { get; init; }
    /// <summary>Adopting: the actor of the events ("hosts-file:uid=N").</summary>
    public string Actor { get; init; } = "";
    public long Sequence { get; init; }
}

/// <summary>What Repair-RouterHostsFile did (with -WhatIf: would do).</summary>
public sealed class RouterHostsFileRepair
{
    /// <summary>False when there was nothing to repair.</summary>
    public bool Changed { get; init; }
    /// <summary>restore or adopt.</summary>
    public string Mode { get; init; } = "";
    /// <summary>The diff put back (restore), or the events made (adopt: "+ / ~ / - line").</summary>
    public string[] Actions { get; init; } = [];
    public string[] InvalidLines { get; init; } = [];
    public string ChangeId { get; init; } = "";
    public bool HostsFileStale { get; init; }
    /// <summary>The drift state after the repair.</summary>
    public RouterHostsDrift Drift { get; init; } = new();
}

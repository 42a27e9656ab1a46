namespace RouterHosts;

/// <summary>What a sync does to one host.</summary>
public enum RouterHostsSyncAction
{
    /// <summary>In the desired list, not on the router: added.</summary>
    Add,
    /// <summary>On the router with other fields: changed to the desired ones.</summary>
    Update,
    /// <summary>On the router, in scope, not in the desired list (-Prune): removed.</summary>
    Remove,
}

/// <summary>
/// One line of a sync plan (Compare-RouterHost, Sync-RouterHost -WhatIf): the host as it is
/// (<see cref="Current"/>, none for an add) and as it would be (<see cref="Desired"/>, none
/// for a removal), the fields that differ, and the input row it comes from.
/// </summary>
public sealed class RouterHostsSyncChange
{
    public RouterHostsSyncAction Action { get; init; }
    public string Hostname { get; init; } = "";
    public string IPAddress { get; init; } = "";
    /// <summary>The host's id on the router; empty for an add.</summary>
    public string Id { get; init; } = "";
    public RouterHost? Current { get; init; }
    public RouterHost? Desired { get; init; }
    /// <summary>For an update: the fields that change (IPAddress, Hostname, Aliases, Tags, Comment).</summary>
    public string[] Fields { get; init; } = [];
    /// <summary>What changes, field by field ("Tags [a] -> [a, b]"); empty for an add or a removal.</summary>
    public string Detail { get; init; } = "";
    /// <summary>The input row (pipeline position, or line of the -Path file) it comes from; 0 for a removal.</summary>
    public int Row { get; init; }

    /// <summary>"+", "-" or "~", as Restore-RouterHostsSnapshot -WhatIf writes them.</summary>
    public string Symbol => Action switch { RouterHostsSyncAction.Add => "+", RouterHostsSyncAction.Remove => "-", _ => "~" };

    public override string ToString() => Detail.Length == 0
        ? $"{Symbol} {Hostname} ({IPAddress})"
        : $"{Symbol} {Hostname} ({IPAddress}): {Detail}";
}

/// <summary>What Sync-RouterHost did: counts, the pre-edit snapshot of the commit, or that nothing had to change.</summary>
public sealed class RouterHostsSyncResult
{
    public int Added { get; init; }
    public int Changed { get; init; }
    public int Removed { get; init; }
    /// <summary>Desired hosts that already matched.</summary>
    public int Unchanged { get; init; }
    /// <summary>The snapshot taken before the commit (trigger "pre-edit"); empty when nothing changed.</summary>
    public string SnapshotId { get; init; } = "";
    public bool HostsFileStale { get; init; }
    /// <summary>True when the router already matched the input and nothing was written.</summary>
    public bool InSync => Added == 0 && Changed == 0 && Removed == 0;

    public override string ToString() => InSync
        ? $"already in sync: {Unchanged} host(s) match; nothing changed"
        : $"added {Added}, changed {Changed}, removed {Removed}, {Unchanged} unchanged (snapshot {SnapshotId} holds the state before)";
}

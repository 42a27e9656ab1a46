namespace RouterHosts;

/// <summary>One entry of the router's hosts table.</summary>
public sealed class RouterHost
{
    public string Id { get; init; } = "";
    public string IPAddress { get; init; } = "";
    public string Hostname { get; init; } = "";
    /// <summary>Other names of the host; written as "a;b" by Export-Csv.</summary>
    public RouterHostsStringList Aliases { get; init; } = RouterHostsStringList.Empty;
    /// <summary>The host's tags; written as "a;b" by Export-Csv.</summary>
    public RouterHostsStringList Tags { get; init; } = RouterHostsStringList.Empty;
    public string? Comment { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>Opaque; pass it back as an expected version for optimistic concurrency.</summary>
    public string Version { get; init; } = "";
    /// <summary>True when this entry, read inside an edit session, was added or changed there and not yet committed.</summary>
    public bool Staged { get; init; }

    public override string ToString() => $"{Hostname} ({IPAddress})";
}

/// <summary>What is needed to add a host (one pipeline row).</summary>
public sealed class RouterHostInput
{
    public string IPAddress { get; init; } = "";
    public string Hostname { get; init; } = "";
    public string? Comment { get; init; }
    public string[] Tags { get; init; } = [];
    public string[] Aliases { get; init; } = [];

    public override string ToString() => $"{Hostname} ({IPAddress})";
}

/// <summary>An update: null properties keep the current value; an empty array clears a list.</summary>
public sealed class RouterHostUpdate
{
    public string? IPAddress { get; init; }
    public string? Hostname { get; init; }
    /// <summary>An empty string clears the comment.</summary>
    public string? Comment { get; init; }
    public string[]? Tags { get; init; }
    public string[]? Aliases { get; init; }
}

/// <summary>One item of a bulk change: an update of <see cref="Id"/>, or (with a null <see cref="Update"/>) its removal.</summary>
public sealed class RouterHostChange
{
    public string Id { get; init; } = "";
    /// <summary>Null removes the host.</summary>
    public RouterHostUpdate? Update { get; init; }
    public string? ExpectedVersion { get; init; }
    public bool IsRemoval => Update is null;
}

/// <summary>One result of a bulk add or change, matched to its input by position (Host is null for a removal).</summary>
public sealed class RouterHostsBulkResult
{
    public int Index { get; init; }
    public RouterHost? Host { get; init; }
    public RouterHostsException? Error { get; init; }
    public bool Succeeded => Error is null;
}

/// <summary>One event in a host's history.</summary>
public sealed class RouterHostHistoryEntry
{
    public long EventId { get; init; }
    public string HostId { get; init; } = "";
    public string EventType { get; init; } = "";
    public string Version { get; init; } = "";
    public DateTimeOffset OccurredAt { get; init; }
    public string Actor { get; init; } = "";
    /// <summary>The host as it stood after this event.</summary>
    public RouterHost Host { get; init; } = new();
    /// <summary>For a baseline left by a compaction (EventType "baseline"): how many events it stands for, and its horizon.</summary>
    public long FoldedEvents { get; init; }
    public DateTimeOffset? Horizon { get; init; }
}

/// <summary>A full set of hosts seen by a watcher after a change.</summary>
public sealed class RouterHostsChange
{
    public string ChangeId { get; init; } = "";
    public DateTimeOffset GeneratedAt { get; init; }
    public RouterHost[] Hosts { get; init; } = [];
    public int Count => Hosts.Length;
}

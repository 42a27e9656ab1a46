namespace RouterHosts;

public sealed class RouterHostsSnapshot
{
    public string Id { get; init; } = "";
    public string Name { get; init; } = "";
    public string Trigger { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
    public int EntryCount { get; init; }
    public override string ToString() => $"{Id} {Name}";
}

public sealed class RouterHostsEdit
{
    public string Holder { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset ExpiresAt { get; init; }
    public int StagedChanges { get; init; }
    public TimeSpan IdleTimeout { get; init; }
    /// <summary>True when the connection that asked holds this session's token.</summary>
    public bool IsMine { get; init; }
    /// <summary>With a database shared by several agents: the agent the session was started through, which stages and commits it.</summary>
    public string? Agent { get; init; }
}

public sealed class RouterHostsEditResult
{
    public int Added { get; init; }
    public int Changed { get; init; }
    public int Removed { get; init; }
    /// <summary>The snapshot taken just before the changes were applied; restore it to undo them.</summary>
    public string SnapshotId { get; init; } = "";
    public bool HostsFileStale { get; init; }
}

public sealed class RouterHostsImportResult
{
    public int Processed { get; init; }
    public int Created { get; init; }
    public int Updated { get; init; }
    public int Skipped { get; init; }
    /// <summary>Lines left out by an import that skips invalid lines; each is named in <see cref="FailedLines"/>.</summary>
    public int Failed { get; init; }
    /// <summary>"line N: why" for each line left out.</summary>
    public string[] FailedLines { get; init; } = [];
    public bool Staged { get; init; }
    public bool HostsFileStale { get; init; }
}

/// <summary>One host a compaction folded (or, with -WhatIf, would fold).</summary>
public sealed class RouterHostsCompaction
{
    public string HostId { get; init; } = "";
    public long EventsBefore { get; init; }
    public long EventsAfter { get; init; }
    public long EventsReclaimed => EventsBefore - EventsAfter;
    public string Version { get; init; } = "";
    /// <summary>Events at or before this time were folded into one baseline event.</summary>
    public DateTimeOffset Horizon { get; init; }
    public bool DryRun { get; init; }
}

public sealed class RouterHostsRestoreResult
{
    public string SnapshotId { get; init; } = "";
    /// <summary>The snapshot of the state before the restore.</summary>
    public string BackupSnapshotId { get; init; } = "";
    public int RestoredEntryCount { get; init; }
    public bool HostsFileStale { get; init; }
}

public sealed class RouterHostsHookStatus
{
    public string Name { get; init; } = "";
    public string Event { get; init; } = "";
    public int ExitCode { get; init; }
    public bool TimedOut { get; init; }
    public TimeSpan Duration { get; init; }
    public DateTimeOffset FinishedAt { get; init; }
    public string OutputTail { get; init; } = "";
}

/// <summary>A DNS server output besides the hosts file (format hosts, dnsmasq or unbound).</summary>
public sealed class RouterHostsOutputStatus
{
    public string Path { get; init; } = "";
    public string Format { get; init; } = "";
    public bool Current { get; init; }
    public string? Error { get; init; }
    public string RenderedChangeId { get; init; } = "";
    /// <summary>The names the format cannot carry, left out of the file, each with why.</summary>
    public string[] Refused { get; init; } = [];
    public RouterHostsHookStatus[] LastHookRuns { get; init; } = [];
    /// <summary>Hand edits of the output: its state ("clean" or "drifted"), and the last one noticed with its diff and what was done.</summary>
    public RouterHostsDrift? Drift { get; init; }
}

public sealed class RouterHostsAgentStatus
{
    public string Endpoint { get; init; } = "";
    public bool Healthy { get; init; }
    public string Version { get; init; } = "";
    public TimeSpan Uptime { get; init; }
    public string BuildInfo { get; init; } = "";
    public string DatabaseBackend { get; init; } = "";
    public bool DatabaseConnected { get; init; }
    public TimeSpan DatabaseLatency { get; init; }
    /// <summary>Why the database cannot work as it should (no space left on device, corrupt); null when fine.</summary>
    public string? DatabaseError { get; init; }
    public int HostCount { get; init; }
    public string ChangeId { get; init; } = "";
    public string HostsFilePath { get; init; } = "";
    public string HostsFileMode { get; init; } = "";
    public bool HostsFileCurrent { get; init; }
    public string? HostsFileError { get; init; }
    public string[] HookNames { get; init; } = [];
    public RouterHostsHookStatus[] LastHookRuns { get; init; } = [];
    public RouterHostsOutputStatus[] Outputs { get; init; } = [];
    public RouterHostsEdit? EditSession { get; init; }
    /// <summary>The server certificate the agent serves now (after any reload, e.g. by an ACME client's deploy hook); null on the Unix socket alone.</summary>
    public string? ServerCertificateSubject { get; init; }
    public string? ServerCertificateIssuer { get; init; }
    public DateTimeOffset? ServerCertificateExpiresAt { get; init; }
    /// <summary>Drift of the hosts file: "clean" or "drifted" (see Get-RouterHostsDrift for the diff).</summary>
    public string HostsFileDrift { get; init; } = "";
    /// <summary>Every agent sharing the database (PostgreSQL), this one included; with SQLite only this one.</summary>
    public RouterHostsAgentRecord[] Agents { get; init; } = [];
}

/// <summary>An agent as recorded in the database it shares with others (Get-RouterHostsAgent -All).</summary>
public sealed class RouterHostsAgentRecord
{
    public string Name { get; init; } = "";
    public string HostsFilePath { get; init; } = "";
    public string Version { get; init; } = "";
    /// <summary>The change its hosts file reflects.</summary>
    public string AppliedChangeId { get; init; } = "";
    /// <summary>Its hosts file holds the database's latest change.</summary>
    public bool HostsFileCurrent { get; init; }
    /// <summary>Its last write of the hosts file succeeded.</summary>
    public bool HostsFileWritten { get; init; }
    public string? HostsFileError { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>When it last reported (on each change of its file, and every 30 s): an old time means it is down or cut off.</summary>
    public DateTimeOffset SeenAt { get; init; }
    /// <summary>The agent that answered.</summary>
    public bool IsThisAgent { get; init; }
}

/// <summary>The gRPC status codes, as our own type so callers need no gRPC package.</summary>
public enum RouterHostsErrorCode
{
    OK = 0, Cancelled = 1, Unknown = 2, InvalidArgument = 3, DeadlineExceeded = 4, NotFound = 5, AlreadyExists = 6,
    PermissionDenied = 7, ResourceExhausted = 8, FailedPrecondition = 9, Aborted = 10, OutOfRange = 11,
    Unimplemented = 12, Internal = 13, Unavailable = 14, DataLoss = 15, Unauthenticated = 16,
}

/// <summary>A failed call: the status code, the agent's (or the transport's) message, and any itemised details.</summary>
public class RouterHostsException(RouterHostsErrorCode code, string message, IReadOnlyList<string>? details = null, Exception? inner = null)
    : Exception(message, inner)
{
    public RouterHostsErrorCode Code { get; } = code;
    public IReadOnlyList<string> Details { get; } = details ?? [];

    /// <summary>
    /// A stable reason where one code covers several cases: "edit-session-expired",
    /// "unknown-edit-token", "edit-session-ended", "edit-session-held", "edit-session-committing", "no-edit-session",
    /// and (from the client) "server-certificate-refused"; null otherwise.
    /// </summary>
    public string? Reason { get; init; }

    /// <summary>True for failures to reach or authenticate with the agent (nothing could proceed).</summary>
    public bool IsConnectionProblem => Code is RouterHostsErrorCode.Unavailable or RouterHostsErrorCode.Unauthenticated;
}

using System.Management.Automation;

namespace RouterHosts.Commands.Internal;

/// <summary>What a failed call was about; picks between ids that share a status code.</summary>
internal enum ErrorSubject
{
    Host,
    Snapshot,
    Edit,
    Import,
    Export,
    Agent,
    Connection,
}

/// <summary>The stable FullyQualifiedErrorId prefixes (PowerShell appends ",&lt;cmdlet class&gt;").</summary>
internal static class ErrorIds
{
    public const string HostNotFound = "RouterHostNotFound";
    public const string HostAlreadyExists = "RouterHostAlreadyExists";
    public const string InvalidArgument = "RouterHostsInvalidArgument";
    public const string VersionConflict = "RouterHostsVersionConflict";
    public const string EditExpired = "RouterHostsEditExpired";
    public const string EditConflict = "RouterHostsEditConflict";
    public const string NoEditSession = "RouterHostsNoEditSession";
    public const string EditInProgress = "RouterHostsEditInProgress";
    public const string SnapshotNotFound = "RouterHostsSnapshotNotFound";
    public const string ImportInvalid = "RouterHostsImportInvalid";
    public const string ImportConflict = "RouterHostsImportConflict";
    public const string AgentUnreachable = "RouterHostsAgentUnreachable";
    public const string AuthenticationFailed = "RouterHostsAuthenticationFailed";
    public const string PermissionDenied = "RouterHostsPermissionDenied";
    public const string Timeout = "RouterHostsTimeout";
    public const string Cancelled = "RouterHostsOperationCancelled";
    public const string NotImplemented = "RouterHostsNotImplemented";
    public const string LimitExceeded = "RouterHostsLimitExceeded";
    public const string NoSpace = "RouterHostsNoSpace";
    public const string DatabaseCorrupt = "RouterHostsDatabaseCorrupt";
    public const string InvalidOperation = "RouterHostsInvalidOperation";
    public const string BeforeCompactionHorizon = "RouterHostsBeforeCompactionHorizon";
    public const string AgentError = "RouterHostsAgentError";
    public const string NotConnected = "RouterHostsNotConnected";
    public const string InvalidConnectionOptions = "RouterHostsInvalidConnectionOptions";
    public const string UnknownFormat = "RouterHostsUnknownFormat";
    public const string FileNotFound = "RouterHostsFileNotFound";
    public const string FileExists = "RouterHostsFileExists";
    public const string FileError = "RouterHostsFileError";
    public const string NothingToSet = "RouterHostsNothingToSet";
    public const string SyncInvalid = "RouterHostsSyncInvalid";
    public const string SyncConflict = "RouterHostsSyncConflict";
    public const string DevAgentNotFound = "RouterHostsDevAgentNotFound";
    public const string DevAgentFailed = "RouterHostsDevAgentFailed";
}

/// <summary>An error's id, category, and whether nothing else can proceed after it.</summary>
internal readonly record struct ErrorClass(string ErrorId, ErrorCategory Category, bool Terminating);

/// <summary>
/// Status code (plus, where codes are shared, the subject and the agent's message) →
/// ErrorCategory and a stable error id. Pure: unit-tested without PowerShell.
/// </summary>
internal static class ErrorMapping
{
    public static ErrorCategory CategoryOf(RouterHostsErrorCode code) => code switch
    {
        RouterHostsErrorCode.NotFound => ErrorCategory.ObjectNotFound,
        RouterHostsErrorCode.AlreadyExists => ErrorCategory.ResourceExists,
        RouterHostsErrorCode.InvalidArgument => ErrorCategory.InvalidArgument,
        RouterHostsErrorCode.OutOfRange => ErrorCategory.InvalidArgument,
        RouterHostsErrorCode.FailedPrecondition => ErrorCategory.InvalidOperation,
        RouterHostsErrorCode.Aborted => ErrorCategory.ResourceBusy,
        RouterHostsErrorCode.PermissionDenied => ErrorCategory.PermissionDenied,
        RouterHostsErrorCode.Unauthenticated => ErrorCategory.AuthenticationError,
        RouterHostsErrorCode.Unavailable => ErrorCategory.ConnectionError,
        RouterHostsErrorCode.DeadlineExceeded => ErrorCategory.OperationTimeout,
        RouterHostsErrorCode.Cancelled => ErrorCategory.OperationStopped,
        RouterHostsErrorCode.Unimplemented => ErrorCategory.NotImplemented,
        RouterHostsErrorCode.ResourceExhausted => ErrorCategory.LimitsExceeded,
        RouterHostsErrorCode.DataLoss => ErrorCategory.InvalidData,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>Failures after which no further item can succeed: the cmdlet stops with one terminating error.</summary>
    public static bool IsTerminating(RouterHostsErrorCode code) => code is RouterHostsErrorCode.Unavailable
        or RouterHostsErrorCode.Unauthenticated or RouterHostsErrorCode.PermissionDenied or RouterHostsErrorCode.DeadlineExceeded
        or RouterHostsErrorCode.DataLoss;

    /// <summary>
    /// True when the agent says the edit session this connection holds is gone (expired, or the agent restarted).
    /// The agent's reason decides; the message is the fallback for an agent that sends none.
    /// </summary>
    public static bool IsEditSessionGone(RouterHostsErrorCode code, string message, string? reason = null) =>
        code == RouterHostsErrorCode.FailedPrecondition
        && (reason is "edit-session-expired" or "unknown-edit-token" or "edit-session-ended"
            || (reason is null && (message.Contains("edit session expired", StringComparison.OrdinalIgnoreCase)
                                   || message.Contains("unknown edit token", StringComparison.OrdinalIgnoreCase))));

    public static ErrorClass Classify(RouterHostsErrorCode code, string message, ErrorSubject subject, string? reason = null)
    {
        var category = CategoryOf(code);
        var id = code switch
        {
            RouterHostsErrorCode.NotFound => subject == ErrorSubject.Snapshot ? ErrorIds.SnapshotNotFound : ErrorIds.HostNotFound,
            RouterHostsErrorCode.AlreadyExists => subject == ErrorSubject.Import ? ErrorIds.ImportConflict : ErrorIds.HostAlreadyExists,
            RouterHostsErrorCode.InvalidArgument or RouterHostsErrorCode.OutOfRange => subject switch
            {
                ErrorSubject.Import => ErrorIds.ImportInvalid,
                ErrorSubject.Connection => ErrorIds.InvalidConnectionOptions,
                _ => ErrorIds.InvalidArgument,
            },
            RouterHostsErrorCode.Aborted => subject switch
            {
                ErrorSubject.Edit => ErrorIds.EditConflict,
                ErrorSubject.Import => ErrorIds.ImportConflict,
                _ => ErrorIds.VersionConflict,
            },
            RouterHostsErrorCode.FailedPrecondition => FailedPreconditionId(message, reason),
            RouterHostsErrorCode.Unavailable => ErrorIds.AgentUnreachable,
            RouterHostsErrorCode.Unauthenticated => ErrorIds.AuthenticationFailed,
            RouterHostsErrorCode.PermissionDenied => ErrorIds.PermissionDenied,
            RouterHostsErrorCode.DeadlineExceeded => ErrorIds.Timeout,
            RouterHostsErrorCode.Cancelled => ErrorIds.Cancelled,
            RouterHostsErrorCode.Unimplemented => ErrorIds.NotImplemented,
            RouterHostsErrorCode.ResourceExhausted => reason == "no-space" ? ErrorIds.NoSpace : ErrorIds.LimitExceeded,
            RouterHostsErrorCode.DataLoss => ErrorIds.DatabaseCorrupt,
            _ => ErrorIds.AgentError,
        };
        return new ErrorClass(id, category, IsTerminating(code));
    }

    private static string FailedPreconditionId(string message, string? reason)
    {
        switch (reason)
        {
            case "edit-session-expired" or "unknown-edit-token" or "edit-session-ended": return ErrorIds.EditExpired;
            case "no-edit-session": return ErrorIds.NoEditSession;
            case "edit-session-held" or "edit-session-committing": return ErrorIds.EditInProgress;
            case "before-compaction-horizon": return ErrorIds.BeforeCompactionHorizon;
        }
        if (IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, message)) return ErrorIds.EditExpired;
        if (message.Contains("holds no edit session", StringComparison.OrdinalIgnoreCase)) return ErrorIds.NoEditSession;
        if (message.Contains("edit session is already open", StringComparison.OrdinalIgnoreCase)
            || message.Contains("already holds an edit session", StringComparison.OrdinalIgnoreCase))
            return ErrorIds.EditInProgress;
        return ErrorIds.InvalidOperation;
    }

    /// <summary>What the user can do about an error, or null when the message says it all.</summary>
    public static string? Advice(string errorId, string agentTarget, string? reason = null) => (errorId, reason) switch
    {
        (ErrorIds.AuthenticationFailed, "server-certificate-refused") =>
            $"The agent's certificate was refused: check that -ServerName (or the host in -Endpoint) is a name the agent's certificate carries " +
            $"(the message says which it has), and that -CaPath is the CA that issued the agent's certificate.",
        (ErrorIds.AgentUnreachable, _) =>
            $"Check that the RouterHosts agent is running and listening on {agentTarget} (on the router: 'systemctl status router-hosts-agent'; " +
            "for a local test agent: 'routerhosts-agent --dev'), that -Endpoint or -UnixSocket of Connect-RouterHostsAgent names it, " +
            "then run the command again. Test-RouterHostsAgent returns $true once it answers.",
        (ErrorIds.AuthenticationFailed, _) =>
            "Check the client certificate, key and CA given to Connect-RouterHostsAgent (-CertificatePath, -KeyPath, -CaPath, or the files client.json names): " +
            "the certificate must be issued by the agent's CA, be current, and allow client authentication ('routerhosts-agent pki issue-client' makes one).",
        (ErrorIds.PermissionDenied, _) =>
            "The agent accepted the certificate but its role may not do this; use a certificate with a role that may write, or ask the agent's administrator.",
        (ErrorIds.Timeout, _) =>
            $"The agent at {agentTarget} did not answer in time; check that it is healthy (Get-RouterHostsAgent) and retry, or connect with a longer -TimeoutSec.",
        (ErrorIds.EditExpired, _) =>
            "The edit session ended on the agent (idle too long, or the agent restarted) and its staged changes were discarded; " +
            "this connection no longer stages into it. Run Start-RouterHostsEdit to begin a new one.",
        (ErrorIds.NoEditSession, _) => "Run Start-RouterHostsEdit first.",
        (ErrorIds.BeforeCompactionHorizon, _) =>
            "The history before that time was compacted (Invoke-RouterHostsCompaction, or the agent's compaction.automatic); use an -AsOf at or after the horizon, or a snapshot.",
        (ErrorIds.NoSpace, _) =>
            "Nothing was changed. Free space on the agent's filesystem (the message names the file); the agent carries on by itself, then run the command again.",
        (ErrorIds.DatabaseCorrupt, _) =>
            "The agent's database is damaged: stop the agent and restore the database from a backup, or start on a new one and re-import an export " +
            "(see the README, 'When the disk is full or the database is damaged').",
        (ErrorIds.EditInProgress, _) =>
            "Complete-RouterHostsEdit or Undo-RouterHostsEdit the open session first (Get-RouterHostsEdit shows who holds it). " +
            "If you hold it from another session, Start-RouterHostsEdit -Resume takes it up and Undo-RouterHostsEdit -Force discards it; " +
            "an admin can end anyone's with Undo-RouterHostsEdit -Force.",
        (ErrorIds.EditConflict, _) =>
            "Nothing was applied and the session is still open: change the staged entries so they no longer conflict and run Complete-RouterHostsEdit again, " +
            "or discard them with Undo-RouterHostsEdit.",
        (ErrorIds.VersionConflict, _) =>
            "The host changed since it was read: read it again (Get-RouterHost) and retry, or leave out -ExpectedVersion to overwrite.",
        (ErrorIds.NotConnected, _) =>
            "Run Connect-RouterHostsAgent -Endpoint <host:port> -CertificatePath <client.crt> -KeyPath <client.key> -CaPath <ca.crt> " +
            "(or -ConfigPath <client.json>, or -UnixSocket <path>), or put a client.json at the default location.",
        _ => null,
    };

    /// <summary>The agent's message followed by its itemised details (validation errors, conflicts), one per line.</summary>
    public static string Describe(string message, IReadOnlyList<string> details, int maxDetails = 50)
    {
        if (details.Count == 0) return message;
        var lines = details.Take(maxDetails).Select(d => "  " + d);
        var more = details.Count > maxDetails ? [$"  ... and {details.Count - maxDetails} more"] : Array.Empty<string>();
        return string.Join(Environment.NewLine, new[] { message }.Concat(lines).Concat(more));
    }
}

namespace RouterHosts;

/// <summary>
/// The one list of error reasons: the machine-readable values of the <c>routerhosts-reason</c>
/// trailer (and of a bulk item's <c>error_reason</c>) where one status code covers several cases.
/// The agent sets them (through the core), the client and the cmdlets decide by them
/// (<see cref="RouterHostsException.Reason"/>); no decision reads an error's message text.
/// </summary>
public static class RouterHostsReasons
{
    public const string EditSessionExpired = "edit-session-expired";
    public const string UnknownEditToken = "unknown-edit-token";
    public const string EditSessionHeld = "edit-session-held";
    public const string EditSessionCommitting = "edit-session-committing";
    /// <summary>The session was ended without its token (by its holder elsewhere, or by an admin).</summary>
    public const string EditSessionEnded = "edit-session-ended";
    public const string NoEditSession = "no-edit-session";
    /// <summary>An as-of read before the compaction horizon: the events it needs were folded.</summary>
    public const string BeforeCompactionHorizon = "before-compaction-horizon";
    public const string ImportIncomplete = "import-incomplete";
    public const string NoSpace = "no-space";
    public const string DatabaseCorrupt = "database-corrupt";
    /// <summary>Set by the client, not the agent: we refused the agent's certificate (wrong server name, or not from our CA).</summary>
    public const string ServerCertificateRefused = "server-certificate-refused";

    /// <summary>The edit session a token named is over (expired, unknown after a restart, or ended without it).</summary>
    public static bool IsEditSessionGone(string? reason) => reason is EditSessionExpired or UnknownEditToken or EditSessionEnded;
}

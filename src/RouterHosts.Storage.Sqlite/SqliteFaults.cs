using Microsoft.Data.Sqlite;
using RouterHosts.Core.Hosts;

namespace RouterHosts.Storage.Sqlite;

/// <summary>
/// The SQLite failures a user can act on, as core errors that name the file and what to do:
/// a full disk (RESOURCE_EXHAUSTED; the agent carries on once space is back) and a damaged
/// database (DATA_LOSS; it must be restored). Everything else stays an unexpected fault.
/// </summary>
internal static class SqliteFaults
{
    private const int SQLITE_CORRUPT = 11;
    private const int SQLITE_FULL = 13;
    private const int SQLITE_NOTADB = 26;
    private const int SQLITE_IOERR = 10;
    private const int SQLITE_IOERR_SHMSIZE = SQLITE_IOERR | (19 << 8);

    public const string RecoveryAdvice =
        "stop the agent and restore the database from a backup, or move it aside and re-import an export " +
        "(README: \"When the disk is full or the database is damaged\"); the hosts file was left as it is";

    public static bool IsNoSpace(SqliteException e) =>
        e.SqliteErrorCode == SQLITE_FULL || e.SqliteExtendedErrorCode == SQLITE_IOERR_SHMSIZE;

    public static bool IsCorrupt(SqliteException e) => e.SqliteErrorCode is SQLITE_CORRUPT or SQLITE_NOTADB;

    /// <summary>The core error for <paramref name="e"/>, or null when it is not one of these.</summary>
    public static CoreException? Translate(SqliteException e, string databasePath)
    {
        if (IsNoSpace(e)) return NoSpace(databasePath, e.Message);
        if (IsCorrupt(e)) return Corrupt(databasePath, e.Message);
        return null;
    }

    public static CoreException NoSpace(string databasePath, string detail) =>
        new(CoreErrorKind.ResourceExhausted,
            $"no space left on device: the database {databasePath} cannot be written ({detail}); nothing was changed. " +
            "Free space on its filesystem; the agent carries on by itself once there is room")
        { Reason = RouterHostsReasons.NoSpace };

    public static CoreException Corrupt(string databasePath, string detail) =>
        new(CoreErrorKind.DataLoss, $"the database {databasePath} is corrupt ({detail}): {RecoveryAdvice}")
        { Reason = RouterHostsReasons.DatabaseCorrupt };
}

using Microsoft.Data.Sqlite;

namespace RouterHosts.Storage.Sqlite;

/// <summary>
/// The versioned schema. Migrations only go forward: each runs once, in its own
/// transaction, and records the version it brings the database to.
/// </summary>
internal static class SqliteSchema
{
    private static readonly string[] Migrations =
    [
        // 1: event log, projection, snapshots.
        """
        CREATE TABLE events (
            event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
            host_id     TEXT    NOT NULL,
            version     INTEGER NOT NULL,
            type        TEXT    NOT NULL CHECK (type IN ('created', 'updated', 'deleted', 'restored')),
            payload     TEXT    NOT NULL,
            occurred_at INTEGER NOT NULL,
            actor       TEXT    NOT NULL,
            UNIQUE (host_id, version)
        );
        CREATE INDEX events_by_time ON events (occurred_at);

        CREATE TABLE hosts (
            id            TEXT    PRIMARY KEY,
            ip_address    TEXT    NOT NULL,
            ip_sort       BLOB    NOT NULL,
            hostname      TEXT    NOT NULL,
            hostname_lc   TEXT    NOT NULL,
            comment       TEXT,
            tags          TEXT    NOT NULL,
            aliases       TEXT    NOT NULL,
            search_text   TEXT    NOT NULL,
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            version       INTEGER NOT NULL,
            deleted       INTEGER NOT NULL DEFAULT 0,
            last_event_id INTEGER NOT NULL REFERENCES events (event_id)
        );
        CREATE UNIQUE INDEX hosts_live_key ON hosts (ip_address, hostname_lc) WHERE deleted = 0;
        CREATE INDEX hosts_live_order ON hosts (ip_sort, hostname_lc, id) WHERE deleted = 0;

        CREATE TABLE snapshots (
            id          TEXT    PRIMARY KEY,
            name        TEXT    NOT NULL,
            trigger     TEXT    NOT NULL,
            created_at  INTEGER NOT NULL,
            entry_count INTEGER NOT NULL,
            entries     BLOB    NOT NULL,
            hosts_text  TEXT    NOT NULL
        );
        CREATE INDEX snapshots_by_time ON snapshots (created_at);
        """,
        // 2: compaction. A baseline event has the horizon it was folded at and the number of events it stands for.
        """
        ALTER TABLE events ADD COLUMN horizon INTEGER;
        ALTER TABLE events ADD COLUMN folded INTEGER NOT NULL DEFAULT 1;
        """,
        // 3: indexed search. Every 3-character sequence of search_text (already folded, hence
        // case_sensitive) in an FTS5 trigram index kept by triggers: a filter narrows to the rows
        // holding its text, then checks them exactly (SqliteHostStore.Filters).
        """
        CREATE VIRTUAL TABLE hosts_search USING fts5(search_text, content = 'hosts', content_rowid = 'rowid',
            tokenize = 'trigram case_sensitive 1');
        CREATE TRIGGER hosts_search_insert AFTER INSERT ON hosts BEGIN
            INSERT INTO hosts_search (rowid, search_text) VALUES (new.rowid, new.search_text);
        END;
        CREATE TRIGGER hosts_search_delete AFTER DELETE ON hosts BEGIN
            INSERT INTO hosts_search (hosts_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
        END;
        CREATE TRIGGER hosts_search_update AFTER UPDATE OF search_text ON hosts WHEN old.search_text IS NOT new.search_text BEGIN
            INSERT INTO hosts_search (hosts_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
            INSERT INTO hosts_search (rowid, search_text) VALUES (new.rowid, new.search_text);
        END;
        INSERT INTO hosts_search (hosts_search) VALUES ('rebuild');
        """,
    ];

    public static int LatestVersion => Migrations.Length;

    /// <summary>Whether the database is at the latest schema version already (<see cref="Migrate"/> would change nothing), read without writing.</summary>
    public static bool IsLatest(SqliteConnection connection) =>
        Convert.ToInt32(Scalar(connection, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")) == 1 &&
        Convert.ToInt32(Scalar(connection, "SELECT COALESCE(MAX(version), 0) FROM schema_version")) == LatestVersion;

    public static void Migrate(SqliteConnection connection)
    {
        Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        var current = Convert.ToInt32(Scalar(connection, "SELECT COALESCE(MAX(version), 0) FROM schema_version"));
        if (current > LatestVersion)
            throw new InvalidOperationException(
                $"the database has schema version {current}, newer than this agent knows ({LatestVersion}); use a newer agent");
        for (var version = current + 1; version <= LatestVersion; version++)
        {
            using var tx = connection.BeginTransaction();
            Execute(connection, Migrations[version - 1], tx);
            Execute(connection, $"INSERT INTO schema_version (version) VALUES ({version})", tx);
            tx.Commit();
        }
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}

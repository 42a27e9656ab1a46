using Npgsql;

namespace RouterHosts.Storage.Postgres;

/// <summary>
/// The versioned schema. Migrations only go forward: each runs once, in its own
/// transaction, and records the version it brings the database to. Agents sharing
/// a database migrate under an advisory lock, so two starting at once do not race.
/// Text compared or ordered byte-wise uses COLLATE "C", as SQLite's BINARY does.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>The advisory lock key for migrations (any fixed number; "rh" "mi").</summary>
    private const long MigrationLock = 0x7268_6d69;

    private static readonly string[] Migrations =
    [
        // 1: event log, projection, snapshots.
        """
        CREATE TABLE events (
            event_id    bigint      PRIMARY KEY,
            host_id     text        COLLATE "C" NOT NULL,
            version     bigint      NOT NULL,
            type        text        NOT NULL CHECK (type IN ('created', 'updated', 'deleted', 'restored')),
            ip_address  text        NOT NULL,
            hostname    text        NOT NULL,
            comment     text,
            tags        text[]      NOT NULL,
            aliases     text[]      NOT NULL,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            occurred_at timestamptz NOT NULL,
            actor       text        NOT NULL,
            UNIQUE (host_id, version)
        );
        CREATE INDEX events_by_time ON events (occurred_at);

        CREATE TABLE hosts (
            id            text        COLLATE "C" PRIMARY KEY,
            ip_address    text        NOT NULL,
            ip_sort       bytea       NOT NULL,
            hostname      text        NOT NULL,
            hostname_lc   text        COLLATE "C" NOT NULL,
            comment       text,
            tags          text[]      NOT NULL,
            tags_lc       text[]      NOT NULL,
            aliases       text[]      NOT NULL,
            aliases_lc    text[]      NOT NULL,
            search_text   text        NOT NULL,
            created_at    timestamptz NOT NULL,
            updated_at    timestamptz NOT NULL,
            version       bigint      NOT NULL,
            deleted       boolean     NOT NULL DEFAULT false,
            last_event_id bigint      NOT NULL REFERENCES events (event_id)
        );
        CREATE UNIQUE INDEX hosts_live_key ON hosts (ip_address, hostname_lc) WHERE NOT deleted;
        CREATE INDEX hosts_live_order ON hosts (ip_sort, hostname_lc, id) WHERE NOT deleted;

        CREATE TABLE snapshots (
            id          text        COLLATE "C" PRIMARY KEY,
            name        text        NOT NULL,
            trigger     text        NOT NULL,
            created_at  timestamptz NOT NULL,
            entry_count integer     NOT NULL,
            hosts_text  text        NOT NULL
        );
        CREATE INDEX snapshots_by_time ON snapshots (created_at);

        CREATE TABLE snapshot_entries (
            snapshot_id text        COLLATE "C" NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
            position    integer     NOT NULL,
            id          text        NOT NULL,
            ip_address  text        NOT NULL,
            hostname    text        NOT NULL,
            comment     text,
            tags        text[]      NOT NULL,
            aliases     text[]      NOT NULL,
            created_at  timestamptz NOT NULL,
            updated_at  timestamptz NOT NULL,
            version     bigint      NOT NULL,
            PRIMARY KEY (snapshot_id, position)
        );
        """,
        // 2: compaction. A baseline event has the horizon it was folded at and the number of events it stands for.
        """
        ALTER TABLE events ADD COLUMN horizon timestamptz;
        ALTER TABLE events ADD COLUMN folded bigint NOT NULL DEFAULT 1;
        """,
        // 3: several agents on one database: who they are and what their files hold, and the one edit-session slot.
        """
        CREATE TABLE agents (
            name              text        COLLATE "C" NOT NULL,
            hosts_file        text        COLLATE "C" NOT NULL,
            version           text        NOT NULL,
            applied_change_id bigint      NOT NULL,
            file_current      boolean     NOT NULL,
            file_error        text,
            started_at        timestamptz NOT NULL,
            seen_at           timestamptz NOT NULL,
            PRIMARY KEY (name, hosts_file)
        );
        CREATE TABLE edit_session (
            slot                 integer     PRIMARY KEY CHECK (slot = 1),
            session_id           text        NOT NULL,
            owner                text        NOT NULL,
            holder               text        NOT NULL,
            agent                text        NOT NULL,
            started_at           timestamptz NOT NULL,
            last_used            timestamptz NOT NULL,
            idle_timeout_seconds integer     NOT NULL,
            staged_changes       integer     NOT NULL,
            ended_by             text
        );
        """,
        // 4: indexed search, as SQLite's trigram index: substring texts (LIKE '%...%') through pg_trgm, tags through a GIN
        // index. pg_trgm ships with Debian's postgresql-15 and is a trusted extension (a database owner may create it).
        """
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX hosts_search_trgm ON hosts USING gin (search_text gin_trgm_ops) WHERE NOT deleted;
        CREATE INDEX hosts_tags ON hosts USING gin (tags_lc) WHERE NOT deleted;
        """,
    ];

    public static int LatestVersion => Migrations.Length;

    public static void Migrate(NpgsqlDataSource source)
    {
        using var connection = source.OpenConnection();
        Execute(connection, $"SELECT pg_advisory_lock({MigrationLock})");
        try
        {
            Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)");
            var current = Convert.ToInt32(Scalar(connection, "SELECT COALESCE(MAX(version), 0) FROM schema_version"));
            if (current > LatestVersion)
                throw new InvalidOperationException(
                    $"the database has schema version {current}, newer than this agent knows ({LatestVersion}); use a newer agent");
            for (var version = current + 1; version <= LatestVersion; version++)
            {
                using var tx = connection.BeginTransaction();
                Execute(connection, Migrations[version - 1]);
                Execute(connection, $"INSERT INTO schema_version (version) VALUES ({version})");
                tx.Commit();
            }
        }
        finally
        {
            Execute(connection, $"SELECT pg_advisory_unlock({MigrationLock})");
        }
    }

    private static void Execute(NpgsqlConnection connection, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(NpgsqlConnection connection, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection);
        return command.ExecuteScalar();
    }
}
